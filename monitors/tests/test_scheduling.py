"""Per-monitor schedules: claiming due monitors, keeping phase, re-spreading after downtime,
and two dispatchers at once never checking a monitor twice."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Team
from monitors import scheduling
from monitors.models import Monitor
from monitors.scheduling import Claim, batch_messages, claim_due_monitors, next_deadline

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("late_s", "interval", "check_now", "next_offset_s"),
    [
        (0, 30, True, 30),  # on time: next = scheduled + interval
        (3, 30, True, 30),  # a little late: phase kept, not drifted by the lag
        (30, 30, True, 60),  # exactly one interval late: next is one interval from now
        (31, 30, False, None),  # more than an interval late: skipped and re-spread
        (3600, 60, False, None),  # beat was down an hour
    ],
)
def test_next_deadline(late_s, interval, check_now, next_offset_s):
    now = T0 + timedelta(seconds=late_s)

    checked, following = next_deadline(
        scheduled_for=T0, interval=interval, now=now, respread_max=300, rng=random.Random(1)
    )

    assert checked is check_now
    if next_offset_s is not None:
        assert following == T0 + timedelta(seconds=next_offset_s)
    else:
        assert now <= following <= now + timedelta(seconds=min(interval, 300))


def test_respread_window_is_capped_for_long_intervals():
    now = T0 + timedelta(days=3)
    spread = [
        next_deadline(
            scheduled_for=T0, interval=86400, now=now, respread_max=300, rng=random.Random(seed)
        )[1]
        for seed in range(50)
    ]

    assert all(now <= moment <= now + timedelta(seconds=300) for moment in spread)


def test_batches_group_by_interval_and_expire_one_interval_after_schedule():
    claims = [Claim(i, T0 + timedelta(seconds=i), 30) for i in range(1, 6)]
    claims.append(Claim(99, T0, 300))

    messages = batch_messages(claims, batch_size=2)

    assert [items for items, _ in messages] == [
        [
            [1, (T0 + timedelta(seconds=1)).isoformat()],
            [2, (T0 + timedelta(seconds=2)).isoformat()],
        ],
        [
            [3, (T0 + timedelta(seconds=3)).isoformat()],
            [4, (T0 + timedelta(seconds=4)).isoformat()],
        ],
        [[5, (T0 + timedelta(seconds=5)).isoformat()]],
        [[99, T0.isoformat()]],
    ]
    assert [expires for _, expires in messages] == [
        T0 + timedelta(seconds=31),
        T0 + timedelta(seconds=33),
        T0 + timedelta(seconds=35),
        T0 + timedelta(seconds=300),
    ]


def make_monitors(team: Team, count: int, *, due_at: datetime, **fields) -> list[Monitor]:
    return Monitor.objects.bulk_create(
        Monitor(
            team=team,
            name=f"m{i}",
            url=f"http://127.0.0.1:9/{i}",
            interval=fields.get("interval", 30),
            timeout=5,
            next_check_at=due_at,
            is_active=fields.get("is_active", True),
        )
        for i in range(count)
    )


@pytest.mark.django_db
def test_claim_takes_only_due_active_monitors_and_advances_them(alice):
    now = timezone.now()
    team = alice.personal_team
    due = make_monitors(team, 3, due_at=now - timedelta(seconds=2))
    make_monitors(team, 2, due_at=now + timedelta(seconds=10))
    make_monitors(team, 2, due_at=now - timedelta(seconds=2), is_active=False)

    claims, _ = claim_due_monitors(now=now)

    assert sorted(c.monitor_id for c in claims) == sorted(m.id for m in due)
    for monitor in Monitor.objects.filter(id__in=[m.id for m in due]):
        assert monitor.next_check_at == now - timedelta(seconds=2) + timedelta(seconds=30)
    assert claim_due_monitors(now=now)[0] == []  # nothing is due twice


@pytest.mark.django_db
def test_overdue_monitors_are_respread_not_burst(alice):
    now = timezone.now()
    make_monitors(alice.personal_team, 50, due_at=now - timedelta(minutes=10), interval=60)

    claims, found = claim_due_monitors(now=now)

    assert (claims, found) == ([], 50)  # found, so the dispatcher looks for more
    deadlines = list(Monitor.objects.values_list("next_check_at", flat=True))
    assert all(now <= d <= now + timedelta(seconds=60) for d in deadlines)
    assert len({d.replace(microsecond=0) for d in deadlines}) > 10  # spread, not one instant


@pytest.mark.django_db
def test_claim_looks_ahead_to_what_falls_due_before_the_next_tick(alice):
    now = timezone.now()
    soon = make_monitors(alice.personal_team, 2, due_at=now + timedelta(seconds=1))

    claims, found = claim_due_monitors(now=now, lookahead=2.0)

    assert sorted(c.monitor_id for c in claims) == sorted(m.id for m in soon)
    assert found == 2


@pytest.mark.django_db
def test_claim_respects_the_limit_oldest_first(alice):
    now = timezone.now()
    team = alice.personal_team
    old = make_monitors(team, 2, due_at=now - timedelta(seconds=20))
    make_monitors(team, 3, due_at=now - timedelta(seconds=1))

    claims, _ = claim_due_monitors(now=now, limit=2)

    assert sorted(c.monitor_id for c in claims) == sorted(m.id for m in old)


@pytest.mark.django_db
def test_dispatch_sends_batches_of_the_configured_size(alice, settings):
    settings.CHECK_BATCH_SIZE = 10
    now = timezone.now()
    make_monitors(alice.personal_team, 25, due_at=now - timedelta(seconds=1))
    sent = []

    count = scheduling.dispatch_due_checks(now=now, send=lambda items, exp: sent.append(items))

    assert count == 25
    assert [len(items) for items in sent] == [10, 10, 5]


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_never_claim_a_monitor_twice(alice):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")
    now = timezone.now()
    monitors = make_monitors(alice.personal_team, 400, due_at=now - timedelta(seconds=1))
    start = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]

    def dispatcher(slot: int) -> None:
        try:
            start.wait()
            for _ in range(20):  # small rounds so the two really interleave
                claims, _ = claim_due_monitors(now=now, limit=25)
                claimed[slot].extend(c.monitor_id for c in claims)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)) == len(monitors)


@pytest.mark.django_db
def test_dispatch_claims_what_falls_due_before_the_next_tick_but_no_later(alice):
    now = timezone.now()
    soon = make_monitors(alice.personal_team, 3, due_at=now + timedelta(seconds=0.5))
    make_monitors(alice.personal_team, 2, due_at=now + timedelta(seconds=5))
    sent = []

    count = scheduling.dispatch_due_checks(now=now, send=lambda items, exp: sent.extend(items))

    assert count == 3
    assert sorted(monitor_id for monitor_id, _ in sent) == sorted(m.id for m in soon)
    # The batch carries the scheduled time; the worker starts the check then, not earlier.
    assert {scheduled for _, scheduled in sent} == {(now + timedelta(seconds=0.5)).isoformat()}
