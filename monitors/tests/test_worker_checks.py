"""A real gevent Celery worker, real Redis and PostgreSQL, real HTTP targets on 127.0.0.1:
the dispatcher claims due monitors, batches are checked concurrently, results are stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import wait_for
from monitors.models import CheckResult, Monitor
from monitors.tasks import dispatch_due_checks, run_check_batch
from monitors.tests.http_target import HttpTarget, refused_port

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def target():
    with HttpTarget() as server:
        yield server


def make_monitor(team, url: str, **fields) -> Monitor:
    values = {
        "team": team,
        "name": url,
        "url": url,
        "interval": 30,
        "timeout": 2.0,
        "next_check_at": timezone.now() - timedelta(seconds=1),
    }
    values.update(fields)
    return Monitor.objects.create(**values)


def test_dispatched_checks_are_stored_with_status_reason_and_schedule(
    celery_worker_process, alice, target
):
    team = alice.personal_team
    port = refused_port()
    monitors = {
        "ok": make_monitor(team, target.url("/ok")),
        "fail": make_monitor(team, target.url("/fail")),
        "slow": make_monitor(team, target.url("/slow?s=4"), timeout=1.0),
        "badjson": make_monitor(
            team,
            target.url("/badjson"),
            assertions=[{"type": "json_path_exists", "path": "$.status"}],
        ),
        "redirect": make_monitor(team, target.url("/redirect?to=/ok")),
        "redirect_off": make_monitor(team, target.url("/redirect?to=/ok"), follow_redirects=False),
        "refused": make_monitor(team, f"http://127.0.0.1:{port}/"),
    }
    scheduled = {key: m.next_check_at for key, m in monitors.items()}

    dispatch_due_checks.delay()

    wait_for(
        lambda: CheckResult.objects.filter(monitor__in=monitors.values()).count() == len(monitors),
        timeout=30,
        message="the worker did not store a result for every monitor",
    )
    found = {key: CheckResult.objects.get(monitor=m) for key, m in monitors.items()}
    expected = {
        "ok": ("up", "", 200),
        "fail": ("down", "status", 500),
        "slow": ("timeout", "timeout", None),
        "badjson": ("down", "assertion", 200),
        "redirect": ("up", "", 200),
        "redirect_off": ("down", "status", 302),
        "refused": ("error", "connect", None),
    }
    assert {k: (r.status, r.phase, r.status_code) for k, r in found.items()} == expected
    assert "not valid JSON" in found["badjson"].reason
    assert found["refused"].reason == f"Connection refused by 127.0.0.1:{port}"
    for key, result in found.items():
        assert result.scheduled_for == scheduled[key]
        assert result.checked_at >= result.scheduled_for
    ok = Monitor.objects.get(id=monitors["ok"].id)
    assert (ok.last_check_status, ok.last_status_code) == ("up", 200)
    assert ok.last_response_time_ms == found["ok"].response_time_ms
    assert ok.next_check_at == scheduled["ok"] + timedelta(seconds=30)


def test_two_dispatchers_at_once_check_each_monitor_once(celery_worker_process, alice, target):
    due = [make_monitor(alice.personal_team, target.url(f"/ok?n={i}")) for i in range(60)]

    dispatch_due_checks.delay()
    dispatch_due_checks.delay()
    dispatch_due_checks.delay()

    results = CheckResult.objects.filter(monitor__in=due)
    wait_for(lambda: results.count() >= len(due), timeout=30)
    # Give a duplicate, if any, the time to land.
    run_check_batch.delay([])
    wait_for(lambda: len(target.hits) >= len(due), timeout=10)
    assert results.count() == len(due)
    assert sorted(results.values_list("monitor_id", flat=True)) == sorted(m.id for m in due)
    assert len(target.hits) == len(due)


def test_an_expired_batch_is_dropped_not_checked(celery_worker_process, alice, target):
    stale = make_monitor(alice.personal_team, target.url("/ok?stale"))
    fresh = make_monitor(alice.personal_team, target.url("/ok?fresh"))
    long_ago = timezone.now() - timedelta(minutes=5)

    run_check_batch.apply_async(
        args=[[[stale.id, long_ago.isoformat()]]], expires=long_ago + timedelta(seconds=30)
    )
    run_check_batch.apply_async(args=[[[fresh.id, timezone.now().isoformat()]]])

    wait_for(lambda: CheckResult.objects.filter(monitor=fresh).exists(), timeout=20)
    assert not CheckResult.objects.filter(monitor=stale).exists()
    assert ("GET", "/ok?stale") not in target.hits


def test_paused_or_deleted_monitors_in_a_batch_are_skipped(celery_worker_process, alice, target):
    paused = make_monitor(alice.personal_team, target.url("/ok?paused"), is_active=False)
    gone = make_monitor(alice.personal_team, target.url("/ok?gone"))
    gone_id = gone.id
    gone.delete()
    live = make_monitor(alice.personal_team, target.url("/ok?live"))
    now = timezone.now().isoformat()

    run_check_batch.delay([[paused.id, now], [gone_id, now], [live.id, now]])

    wait_for(lambda: CheckResult.objects.filter(monitor=live).exists(), timeout=20)
    assert CheckResult.objects.count() == 1
    assert [path for _, path in target.hits] == ["/ok?live"]


def test_a_slow_target_does_not_hold_back_the_results_of_its_batch(
    celery_worker_process, alice, target
):
    fast = make_monitor(alice.personal_team, target.url("/ok?fast"))
    slow = make_monitor(alice.personal_team, target.url("/slow?s=6"), timeout=8.0)
    now = timezone.now().isoformat()

    run_check_batch.delay([[fast.id, now], [slow.id, now]])

    # The fast result is stored after the first wave (FIRST_WAVE_SECONDS), long before the
    # slow check answers; the slow one follows in a second store of the same batch.
    wait_for(lambda: CheckResult.objects.filter(monitor=fast).exists(), timeout=5)
    assert not CheckResult.objects.filter(monitor=slow).exists()
    result = wait_for(lambda: CheckResult.objects.filter(monitor=slow).first(), timeout=20)
    assert result.status == "up"


def test_a_check_sent_ahead_of_its_time_starts_on_time(celery_worker_process, alice, target):
    monitor = make_monitor(alice.personal_team, target.url("/ok?ahead"))
    due = timezone.now() + timedelta(seconds=1.5)

    run_check_batch.delay([[monitor.id, due.isoformat()]])

    result = wait_for(lambda: CheckResult.objects.filter(monitor=monitor).first(), timeout=20)
    assert result.scheduled_for == due
    assert due <= result.checked_at < due + timedelta(seconds=1)
