"""Evaluating stored check results: incidents, monitor status, notifications, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from healthmon.celery import app
from incidents.models import Incident, MonitorState, Resolution
from incidents.services import evaluate_check_results
from incidents.tests.conftest import make_monitor, minute, store_results
from lib import task_names
from monitors.models import Monitor, MonitorStatus

pytestmark = pytest.mark.django_db


def evaluate(ids, capture):
    """Evaluate and run the after-commit callbacks, as a committed transaction would."""
    with capture(execute=True):
        return evaluate_check_results(ids)


def test_failures_reaching_the_threshold_open_one_incident(
    monitor, sent, hooked, django_capture_on_commit_callbacks
):
    ids = store_results(monitor, "SFF")

    evaluate(ids, django_capture_on_commit_callbacks)

    incident = Incident.objects.get()
    assert incident.monitor == monitor
    assert incident.team_id == monitor.team_id
    assert incident.monitor_name == "orders API"
    assert incident.started_at == minute(1)  # the first failing check, not the second
    assert incident.opened_at == minute(2)
    assert incident.cause == "HTTP 500 (check 1)"
    assert incident.last_reason == "HTTP 500 (check 2)"
    assert incident.failure_count == 2
    assert incident.is_open
    assert incident.opening_check_id == ids[2]
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.DOWN
    assert sent == [(task_names.NOTIFY_INCIDENT, [incident.id, "opened"])]
    assert hooked == [(incident.id, "opened")]


def test_notifications_wait_for_the_commit(monitor, sent, django_capture_on_commit_callbacks):
    ids = store_results(monitor, "SFF")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        evaluate_check_results(ids)

    assert sent == []  # nothing is sent before the incident is committed
    assert len(callbacks) == 1


def test_a_new_monitor_is_up_after_its_first_success_and_nobody_is_told(
    monitor, sent, django_capture_on_commit_callbacks
):
    monitor.success_threshold = 3
    monitor.save()

    evaluate(store_results(monitor, "S"), django_capture_on_commit_callbacks)

    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP
    assert MonitorState.objects.get(monitor=monitor).state == "up"
    assert not Incident.objects.exists()
    assert sent == []


def test_a_single_failure_below_the_threshold_changes_nothing_visible(
    monitor, sent, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "SFS"), django_capture_on_commit_callbacks)

    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP
    assert not Incident.objects.exists()
    assert sent == []
    state = MonitorState.objects.get(monitor=monitor)
    assert (state.consecutive_failures, state.failing_since) == (0, None)


def test_a_failure_in_progress_is_remembered_between_batches(
    monitor, sent, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "SF"), django_capture_on_commit_callbacks)
    state = MonitorState.objects.get(monitor=monitor)
    assert (state.consecutive_failures, state.failing_since) == (1, minute(1))
    assert state.failing_cause == "HTTP 500 (check 1)"

    evaluate(store_results(monitor, "F", first=2), django_capture_on_commit_callbacks)

    assert Incident.objects.get().started_at == minute(1)


def test_recovery_resolves_the_incident_with_the_downtime_observed(
    monitor, sent, hooked, django_capture_on_commit_callbacks
):
    monitor.success_threshold = 2
    monitor.save()
    evaluate(store_results(monitor, "SFFF"), django_capture_on_commit_callbacks)

    ids = store_results(monitor, "SS", first=4)
    evaluate(ids, django_capture_on_commit_callbacks)

    incident = Incident.objects.get()
    assert incident.resolved_at == minute(4)  # the first passing check of the recovery
    assert incident.duration == timedelta(minutes=3)
    assert incident.resolution == Resolution.RECOVERED
    assert incident.resolving_check_id == ids[1]  # the check that reached the threshold
    assert incident.failure_count == 3
    assert incident.last_reason == "HTTP 500 (check 3)"
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP
    assert sent.events() == [(incident.id, "opened"), (incident.id, "resolved")]
    assert hooked == sent.events()


def test_failures_while_down_are_counted_by_the_open_incident(
    monitor, sent, django_capture_on_commit_callbacks
):
    monitor.success_threshold = 2
    monitor.save()
    evaluate(store_results(monitor, "FF"), django_capture_on_commit_callbacks)

    # A passing check alone does not resolve (threshold 2); the failures after it count.
    evaluate(store_results(monitor, "FSF", first=2), django_capture_on_commit_callbacks)

    incident = Incident.objects.get()
    assert incident.is_open
    assert incident.failure_count == 4
    assert incident.last_reason == "HTTP 500 (check 4)"
    assert [event for _, event in sent.events()] == ["opened"]


def test_an_outage_and_its_recovery_in_one_batch_are_both_recorded(
    monitor, sent, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "SFFSFFS"), django_capture_on_commit_callbacks)

    first, second = Incident.objects.order_by("started_at")
    assert (first.started_at, first.resolved_at) == (minute(1), minute(3))
    assert (second.started_at, second.resolved_at) == (minute(4), minute(6))
    assert sent.events() == [
        (first.id, "opened"),
        (first.id, "resolved"),
        (second.id, "opened"),
        (second.id, "resolved"),
    ]


def test_one_batch_evaluates_each_of_its_monitors(alice, sent, django_capture_on_commit_callbacks):
    failing = make_monitor(alice, "failing", failure_threshold=1)
    healthy = make_monitor(alice, "healthy")
    ids = store_results(failing, "F") + store_results(healthy, "S")

    evaluation = evaluate(ids, django_capture_on_commit_callbacks)

    assert evaluation.evaluated == 2
    assert Incident.objects.get().monitor == failing
    statuses = dict(Monitor.objects.values_list("name", "status"))
    assert statuses == {"failing": "down", "healthy": "up"}


def test_results_are_applied_in_the_order_the_checks_happened(
    monitor, sent, django_capture_on_commit_callbacks
):
    ids = store_results(monitor, "SFFS")

    evaluate(list(reversed(ids)), django_capture_on_commit_callbacks)

    incident = Incident.objects.get()
    assert (incident.started_at, incident.resolved_at) == (minute(1), minute(3))


# --- Exactly once -----------------------------------------------------------------------------


def test_a_redelivered_evaluation_changes_nothing(
    monitor, sent, hooked, django_capture_on_commit_callbacks
):
    ids = store_results(monitor, "SFFF")
    evaluate(ids, django_capture_on_commit_callbacks)
    state_before = MonitorState.objects.values().get(monitor=monitor)
    incident_before = Incident.objects.values().get()

    evaluation = evaluate(ids, django_capture_on_commit_callbacks)

    assert (evaluation.evaluated, evaluation.stale) == (0, 4)
    assert MonitorState.objects.values().get(monitor=monitor) == state_before
    assert Incident.objects.values().get() == incident_before
    # Its notification is sent again (notifications drop duplicates), in case the first
    # delivery of the message died between commit and send; the metrics hook counts once.
    incident_id = incident_before["id"]
    assert sent.events() == [(incident_id, "opened"), (incident_id, "opened")]
    assert hooked == [(incident_id, "opened")]


def test_a_batch_overtaken_by_a_newer_one_is_ignored(
    monitor, sent, django_capture_on_commit_callbacks
):
    monitor.failure_threshold = 1
    monitor.save()
    old = store_results(monitor, "F", first=1)
    new = store_results(monitor, "S", first=2)
    evaluate(new, django_capture_on_commit_callbacks)

    evaluation = evaluate(old, django_capture_on_commit_callbacks)

    assert evaluation.stale == 1
    assert not Incident.objects.exists()
    assert sent == []


# --- Results arriving out of order ----------------------------------------------------------
# Under load the evaluation of a later result can run before an earlier one (two messages,
# two workers, one row lock): the earlier one is then stale. A stale result must not move
# the state, but a failure inside an incident's span is still one of its failures.


def incident_after(monitor, sequence: str, order: list, capture) -> Incident:
    """Store ``sequence`` (threshold 2 and 2) and evaluate its results one message each,
    in ``order`` (indexes into the sequence; a list of indexes is one message)."""
    monitor.success_threshold = 2
    monitor.save()
    ids = store_results(monitor, sequence, first=1)
    for message in order:
        evaluate([ids[i] for i in (message if isinstance(message, list) else [message])], capture)
    return Incident.objects.get()


def test_a_failure_evaluated_after_the_recovery_began_still_counts_in_its_incident(
    monitor, sent, django_capture_on_commit_callbacks
):
    # FFF SS in time; the third failure's evaluation runs after the first success's.
    incident = incident_after(monitor, "FFFSS", [0, 1, 3, 2, 4], django_capture_on_commit_callbacks)

    assert incident.failure_count == 3
    assert (incident.started_at, incident.opened_at) == (minute(1), minute(2))
    assert incident.resolved_at == minute(4)  # the first success: the stale failure moved nothing
    assert incident.last_reason == "HTTP 500 (check 2)"  # the latest failure evaluated in order
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP
    assert sent.events() == [(incident.id, "opened"), (incident.id, "resolved")]


def test_a_failure_evaluated_after_the_resolution_still_counts_in_its_incident(
    monitor, sent, django_capture_on_commit_callbacks
):
    incident = incident_after(monitor, "FFFSS", [0, 1, 3, 4, 2], django_capture_on_commit_callbacks)

    assert incident.failure_count == 3
    assert incident.resolved_at == minute(4)
    assert Incident.objects.count() == 1  # the late failure opened nothing
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP
    assert MonitorState.objects.get(monitor=monitor).consecutive_failures == 0


def test_a_late_failure_redelivered_is_counted_once(
    monitor, sent, django_capture_on_commit_callbacks
):
    incident = incident_after(
        monitor, "FFFSS", [0, 1, 3, 2, 2, 4, 2], django_capture_on_commit_callbacks
    )

    assert incident.failure_count == 3


def test_a_message_with_a_late_failure_and_a_new_one_counts_each_once(
    monitor, sent, django_capture_on_commit_callbacks
):
    # The second failure arrives late, in the same message as the fourth.
    incident = incident_after(
        monitor, "FFFFSS", [0, 2, [1, 3], 4, 5], django_capture_on_commit_callbacks
    )

    assert incident.failure_count == 4
    assert (incident.started_at, incident.resolved_at) == (minute(1), minute(5))


def test_a_late_failure_outside_any_incident_changes_nothing(
    monitor, sent, django_capture_on_commit_callbacks
):
    # F S FF SS: the lone first failure (a blip) is evaluated last, before the incident began.
    incident = incident_after(
        monitor, "FSFFSS", [1, 2, 3, 4, 5, 0], django_capture_on_commit_callbacks
    )

    assert (incident.started_at, incident.failure_count) == (minute(3), 2)


def test_a_notification_lost_to_a_broker_error_is_sent_by_the_retry(
    monitor, sent, monkeypatch, django_capture_on_commit_callbacks
):
    ids = store_results(monitor, "FF")
    recorder = app.send_task

    def broker_down(*args, **kwargs):
        raise BrokerError("Connection refused")

    monkeypatch.setattr(app, "send_task", broker_down)
    with pytest.raises(BrokerError):
        evaluate(ids, django_capture_on_commit_callbacks)
    incident = Incident.objects.get()  # committed before the send failed

    monkeypatch.setattr(app, "send_task", recorder)
    evaluation = evaluate(ids, django_capture_on_commit_callbacks)  # the task's retry

    assert evaluation.replayed == [(incident.id, "opened")]
    assert sent.events() == [(incident.id, "opened")]
    assert Incident.objects.count() == 1


def test_the_database_refuses_a_second_open_incident(monitor):
    now = timezone.now()
    fields = {"team": monitor.team, "monitor": monitor, "started_at": now, "opened_at": now}
    Incident.objects.create(monitor_name="a", cause="x", **fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(monitor_name="b", cause="y", **fields)

    Incident.objects.update(resolved_at=now)
    Incident.objects.create(monitor_name="c", cause="z", **fields)  # resolved ones don't count


def test_an_incident_left_open_is_kept_when_the_state_was_reset(
    monitor, sent, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "FF"), django_capture_on_commit_callbacks)
    MonitorState.objects.filter(monitor=monitor).delete()  # e.g. removed by hand in admin
    sent.clear()

    evaluate(store_results(monitor, "FF", first=2), django_capture_on_commit_callbacks)

    incident = Incident.objects.get()  # no second incident, no error
    assert incident.failure_count == 3
    assert incident.last_reason == "HTTP 500 (check 3)"
    assert sent == []
    assert MonitorState.objects.get(monitor=monitor).state == "down"


def test_a_recovery_of_an_incident_resolved_meanwhile_announces_nothing(
    monitor, sent, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "FF"), django_capture_on_commit_callbacks)
    Incident.objects.update(resolved_at=timezone.now(), resolution="recovered")
    sent.clear()

    evaluate(store_results(monitor, "S", first=2), django_capture_on_commit_callbacks)

    assert sent == []
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UP


def test_unknown_result_ids_are_ignored(sent, django_capture_on_commit_callbacks, db):
    evaluation = evaluate([123456789], django_capture_on_commit_callbacks)

    assert evaluation.results == 0
    assert sent == []


def test_the_task_evaluates_and_reports_what_it_did(
    monitor, sent, django_capture_on_commit_callbacks
):
    from incidents.tasks import evaluate_check_results as task

    ids = store_results(monitor, "FF")

    with django_capture_on_commit_callbacks(execute=True):
        outcome = task.apply(args=[ids]).get()

    incident = Incident.objects.get()
    assert outcome["evaluated"] == 2
    assert outcome["announced"] == [[incident.id, "opened"]]


def test_the_task_runs_on_the_incidents_queue_and_survives_redelivery():
    from incidents.tasks import evaluate_check_results as task

    route = app.amqp.router.route({}, task.name)
    assert route["queue"].name == "incidents"
    assert task.acks_late and task.reject_on_worker_lost
