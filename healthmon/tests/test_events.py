"""Domain events counted and logged where they happen: check batches after commit, dead
letters from the notifications app's hook."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from healthmon import events
from lib import metrics
from monitors.checker import CheckOutcome
from monitors.models import CheckResult, Monitor
from monitors.results import store_outcomes
from notifications.deadletters import dead_letter_record

pytestmark = pytest.mark.django_db


def sample(counter, **labels) -> float:
    return counter.labels(**labels)._value.get() if labels else counter._value.get()


def test_a_stored_batch_is_counted_and_its_failures_logged_once_committed(
    alice, caplog, django_capture_on_commit_callbacks
):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="orders",
        url="https://o.example/",
        next_check_at=timezone.now() + timedelta(hours=1),
    )
    now = timezone.now()
    results = CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=now, scheduled_for=now, status="up",
                        status_code=200, response_time_ms=120),
            CheckResult(monitor=monitor, checked_at=now, scheduled_for=now, status="down",
                        status_code=500, response_time_ms=80, phase="status", reason="HTTP 500"),
        ]
    )  # fmt: skip
    up_before, down_before = (
        sample(metrics.CHECKS, kind="http", status="up"),
        sample(metrics.CHECKS, kind="http", status="down"),
    )
    caplog.set_level(logging.INFO, logger="healthmon.events")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.checks_stored(results=results)
    # Nothing before the commit.
    assert sample(metrics.CHECKS, kind="http", status="up") == up_before
    for callback in callbacks:
        callback()

    assert sample(metrics.CHECKS, kind="http", status="up") == up_before + 1
    assert sample(metrics.CHECKS, kind="http", status="down") == down_before + 1
    [failure] = [r for r in caplog.records if r.name == "healthmon.events.checks"]
    assert failure.getMessage() == f"check of monitor {monitor.id}: down (HTTP 500)"
    assert (failure.monitor_id, failure.check_id, failure.phase) == (
        monitor.id,
        results[1].id,
        "status",
    )


def test_a_dead_letter_is_counted_by_task_name():
    task = "notifications.tasks.deliver_notification"
    before = sample(metrics.DEAD_LETTERED, task=task)

    dead_letter_record(
        task_name=task,
        task_id="task-dead-1",
        args=[424242],
        kwargs={},
        exception=RuntimeError("gave up"),
        traceback="",
        attempts=11,
    )
    # The same task failing again updates its dead letter; it is not a new one.
    dead_letter_record(
        task_name=task,
        task_id="task-dead-1",
        args=[424242],
        kwargs={},
        exception=RuntimeError("gave up again"),
        traceback="",
        attempts=12,
    )

    assert sample(metrics.DEAD_LETTERED, task=task) == before + 1


def test_a_failing_receiver_never_breaks_the_delivery(caplog):
    broken = object()  # no channel_kind, no id: the receiver cannot count it

    events.delivery_attempted(delivery=broken, outcome="delivered", duration_ms=5)

    assert "metrics receiver delivery_attempted failed" in caplog.text


def test_stored_checks_are_counted_by_their_monitors_kind(
    alice, django_capture_on_commit_callbacks
):
    tcp = Monitor.objects.create(
        team=alice.personal_team,
        name="Postgres",
        kind="tcp",
        host="127.0.0.1",
        port=5432,
        next_check_at=timezone.now() + timedelta(hours=1),
    )
    outcome = CheckOutcome(timezone.now(), "up", response_time_ms=3)
    before = sample(metrics.CHECKS, kind="tcp", status="up")

    with django_capture_on_commit_callbacks(execute=True):
        store_outcomes([(tcp, None, outcome)])

    assert sample(metrics.CHECKS, kind="tcp", status="up") == before + 1
