"""Flapping: the pure counting (a table), then the evaluation storing and acting on it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from incidents import services
from incidents.flapping import FlapMemory, FlapPolicy, on_change, settle
from incidents.models import Incident, IncidentEvent, MonitorState
from incidents.tests.conftest import make_monitor, minute, store_results
from notifications.services import channel_create, deliveries_owed

T0 = datetime(2026, 1, 1, 12, 0)
POLICY = FlapPolicy(threshold=3, window=timedelta(minutes=10))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fold(moments: list[float], policy: FlapPolicy = POLICY) -> tuple[FlapMemory, list[str]]:
    memory, verdicts = FlapMemory(), []
    for moment in moments:
        memory, ended, verdict = on_change(memory, policy, at(moment))
        verdicts.append(("ended+" if ended else "") + verdict.value)
    return memory, verdicts


@pytest.mark.parametrize(
    ("moments", "expected"),
    [
        ([0, 1, 2], ["notify", "notify", "notify"]),  # three changes: not more than three
        ([0, 1, 2, 3], ["notify", "notify", "notify", "started"]),
        ([0, 1, 2, 3, 4, 5], ["notify", "notify", "notify", "started", "quiet", "quiet"]),
        # Changes older than the window do not count.
        ([0, 5, 9, 11], ["notify", "notify", "notify", "notify"]),
        ([0, 5, 9, 10], ["notify", "notify", "notify", "notify"]),  # exactly W ago: out
        # Flapping, then quiet for the window: stable again before the next change, which
        # is counted afresh.
        ([0, 1, 2, 3, 4, 14, 15], ["notify"] * 3 + ["started", "quiet", "ended+notify", "notify"]),
        # A change less than W after the last one keeps it flapping.
        ([0, 1, 2, 3, 12, 21], ["notify"] * 3 + ["started", "quiet", "quiet"]),
    ],
)
def test_changes_are_counted_within_the_window(moments, expected):
    assert fold(moments)[1] == expected


def test_a_threshold_of_zero_disables_flapping():
    memory, verdicts = fold([0, 0.1, 0.2, 0.3, 0.4], FlapPolicy(0, timedelta(minutes=10)))
    assert verdicts == ["notify"] * 5
    assert memory == FlapMemory()


def test_only_the_last_threshold_plus_one_changes_are_kept():
    memory, _ = fold([0, 1, 2, 3, 4, 5, 6])
    assert memory.changes == tuple(at(m) for m in (3, 4, 5, 6))
    assert memory.flapping_since == at(3)


def test_settle_ends_flapping_once_the_last_change_is_a_window_old():
    memory, _ = fold([0, 1, 2, 3])
    assert settle(memory, POLICY, at(12.9)) == (memory, False)
    assert settle(memory, POLICY, at(13)) == (FlapMemory(), True)
    assert settle(FlapMemory(), POLICY, at(13)) == (FlapMemory(), False)


def test_disabling_flapping_ends_it_at_the_next_evaluation():
    memory, _ = fold([0, 1, 2, 3])
    assert settle(memory, FlapPolicy(0, POLICY.window), at(4)) == (FlapMemory(), True)


# --- Evaluation (PostgreSQL; the notify messages recorded, not sent) --------------------------


@pytest.fixture
def evaluate_check_results(django_capture_on_commit_callbacks):
    def evaluate(ids: list[int]) -> services.Evaluation:
        with django_capture_on_commit_callbacks(execute=True):
            return services.evaluate_check_results(ids)

    return evaluate


@pytest.mark.django_db
def test_a_flapping_monitor_sends_one_flapping_message_then_silence_then_stable(
    alice, sent, evaluate_check_results
):
    monitor = make_monitor(
        alice, failure_threshold=1, success_threshold=1, flap_threshold=3, flap_window_minutes=10
    )
    channel_create(
        team=alice.personal_team,
        name="hook",
        kind="webhook",
        config={"url": "https://hooks.example.com/x"},
        monitors=[monitor],
    )
    # Minutes 0..7: F S F S F S F S (8 changes); then up until minute 30.
    evaluate_check_results(store_results(monitor, "FSFSFSFS"))
    incidents = list(Incident.objects.filter(monitor=monitor).order_by("id"))
    assert len(incidents) == 4  # every incident is recorded
    first, second = incidents[0], incidents[1]
    # opened, resolved, opened: three changes; the fourth (second resolves) starts flapping.
    assert sent.events() == [
        (first.id, IncidentEvent.OPENED),
        (first.id, IncidentEvent.RESOLVED),
        (second.id, IncidentEvent.OPENED),
        (second.id, IncidentEvent.RESOLVED),
        (second.id, IncidentEvent.FLAPPING),
        *[(i.id, e) for i in incidents[2:] for e in (IncidentEvent.OPENED, IncidentEvent.RESOLVED)],
    ]
    # Announced, but held by notifications: the second recovery (replaced by the flapping
    # message) and every event of the incidents opened while flapping.
    second.refresh_from_db()
    assert second.flapping_started_at == second.resolved_at == minute(3)
    assert not second.is_suppressed  # its opening was sent before the flapping began
    assert len(deliveries_owed(incident_id=second.id, event="opened")) == 1
    assert deliveries_owed(incident_id=second.id, event="resolved") == []
    assert len(deliveries_owed(incident_id=second.id, event="flapping")) == 1
    assert all(Incident.objects.get(id=i.id).is_suppressed for i in incidents[2:])
    assert deliveries_owed(incident_id=incidents[2].id, event="opened") == []
    state = MonitorState.objects.get(monitor=monitor)
    assert state.flapping_since == minute(3)

    sent.clear()
    evaluate_check_results(store_results(monitor, "S" * 9, first=8))  # minutes 8..16
    assert sent.events() == []  # the last change (minute 7) is not yet 10 minutes old
    evaluate_check_results(store_results(monitor, "S", first=17))
    last = incidents[-1]
    assert sent.events() == [(last.id, IncidentEvent.STABLE)]
    last.refresh_from_db()
    assert last.flapping_ended_at == minute(17)
    state.refresh_from_db()
    assert state.flapping_since is None and state.recent_changes == []

    # Counted afresh: the next failure alerts as usual.
    sent.clear()
    evaluate_check_results(store_results(monitor, "F", first=18))
    newest = Incident.objects.filter(monitor=monitor).latest("id")
    assert sent.events() == [(newest.id, IncidentEvent.OPENED)]
    assert not newest.is_suppressed


@pytest.mark.django_db
def test_stable_again_while_down_releases_the_open_incident_so_its_recovery_is_sent(
    alice, sent, evaluate_check_results
):
    monitor = make_monitor(
        alice, failure_threshold=1, success_threshold=1, flap_threshold=2, flap_window_minutes=5
    )
    evaluate_check_results(store_results(monitor, "FSFFFFF"))  # minutes 0..6
    held = Incident.objects.filter(monitor=monitor).latest("id")
    # The third change (minute 2) starts the flapping, on the incident it opens.
    assert sent.events()[-2:] == [
        (held.id, IncidentEvent.OPENED),
        (held.id, IncidentEvent.FLAPPING),
    ]
    held.refresh_from_db()
    assert held.is_suppressed
    sent.clear()
    evaluate_check_results(store_results(monitor, "F", first=7))  # 5 minutes after minute 2
    assert sent.events() == [(held.id, IncidentEvent.STABLE)]
    held.refresh_from_db()
    assert held.released_at == minute(7) and not held.is_suppressed
    sent.clear()
    evaluate_check_results(store_results(monitor, "FS", first=8))
    held.refresh_from_db()
    assert held.resolved_at == minute(9)
    assert sent.events() == [(held.id, IncidentEvent.RESOLVED)]
