"""Pausing, resuming and deleting monitors, as the incident state machine sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, MonitorState, Resolution
from incidents.services import evaluate_check_results
from incidents.tests.conftest import minute, store_results
from monitors.models import CheckResult, Monitor, MonitorStatus
from monitors.services import monitor_pause, monitor_resume, monitor_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    def evaluate(ids):
        with django_capture_on_commit_callbacks(execute=True):
            return evaluate_check_results(ids)

    return evaluate


def test_a_paused_monitor_ignores_results_and_keeps_its_state(monitor, sent, evaluate):
    evaluate(store_results(monitor, "FF"))
    monitor_pause(monitor=monitor)
    state_before = MonitorState.objects.values().get(monitor=monitor)
    sent.clear()

    evaluation = evaluate(store_results(monitor, "SSS", first=2))

    assert evaluation.paused == 3
    assert MonitorState.objects.values().get(monitor=monitor) == state_before
    assert Incident.objects.get().is_open  # frozen, not resolved
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.DOWN
    assert sent == []


def test_resume_keeps_the_state_and_open_incident_but_restarts_counting(monitor, sent, evaluate):
    monitor.success_threshold = 2
    monitor.save()
    evaluate(store_results(monitor, "FFS"))  # down, one success towards recovery
    monitor_pause(monitor=monitor)

    monitor_resume(monitor=monitor)

    state = MonitorState.objects.get(monitor=monitor)
    assert state.state == "down"
    assert (state.consecutive_failures, state.consecutive_successes) == (0, 0)
    assert state.recovering_since is None
    assert state.last_result_at >= timezone.now() - timedelta(seconds=5)
    assert Incident.objects.get().is_open


def test_after_resume_results_checked_before_it_are_ignored(monitor, sent, evaluate):
    monitor_pause(monitor=monitor)
    in_flight = store_results(monitor, "FF")  # checked before the resume, evaluated after
    monitor_resume(monitor=monitor)

    evaluation = evaluate(in_flight)

    assert evaluation.stale == 2
    assert not Incident.objects.exists()


def test_a_partial_failure_run_does_not_survive_a_pause(monitor, sent, evaluate):
    evaluate(store_results(monitor, "SF"))  # one failure of two needed
    monitor_pause(monitor=monitor)
    monitor_resume(monitor=monitor)
    now = timezone.now()
    later = store_results(monitor, "F")
    CheckResult.objects.filter(id__in=later).update(checked_at=now + timedelta(seconds=1))

    evaluate(later)

    assert not Incident.objects.exists()
    assert MonitorState.objects.get(monitor=monitor).consecutive_failures == 1


def test_resuming_through_an_api_style_update_restarts_counting_too(monitor, sent, evaluate):
    evaluate(store_results(monitor, "SF"))
    monitor_update(monitor=monitor, is_active=False)

    monitor_update(monitor=Monitor.objects.get(pk=monitor.pk), is_active=True)

    assert MonitorState.objects.get(monitor=monitor).consecutive_failures == 0


def test_editing_an_active_monitor_keeps_the_counting(monitor, sent, evaluate):
    evaluate(store_results(monitor, "SF"))

    monitor_update(monitor=monitor, name="renamed", is_active=True)
    monitor.save(update_fields=["last_checked_at"])

    assert MonitorState.objects.get(monitor=monitor).consecutive_failures == 1


def test_deleting_a_monitor_resolves_its_open_incident_and_keeps_the_history(
    monitor, sent, hooked, evaluate, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "FF"))
    incident = Incident.objects.get()
    sent.clear()
    hooked.clear()

    with django_capture_on_commit_callbacks(execute=True):
        monitor.delete()

    incident.refresh_from_db()
    assert incident.monitor is None
    assert incident.monitor_name == "orders API"
    assert incident.resolution == Resolution.MONITOR_DELETED == "monitor deleted"
    assert incident.resolved_at is not None
    assert not MonitorState.objects.exists()
    assert sent.events() == [(incident.id, "resolved")]
    assert hooked == [(incident.id, "resolved")]


def test_deleting_a_monitor_leaves_its_resolved_incidents_alone(
    monitor, sent, evaluate, django_capture_on_commit_callbacks
):
    evaluate(store_results(monitor, "FFS"))
    resolved_at = Incident.objects.get().resolved_at
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        Monitor.objects.filter(pk=monitor.pk).delete()  # bulk deletes send the signal too

    incident = Incident.objects.get()
    assert (incident.resolved_at, incident.resolution) == (resolved_at, "recovered")
    assert sent == []


def test_results_of_a_deleted_monitor_are_ignored(monitor, sent, evaluate):
    ids = store_results(monitor, "FF")
    monitor.delete()

    evaluation = evaluate(ids)

    assert evaluation.results == 0
    assert not Incident.objects.exists()


def test_first_evaluation_of_a_monitor_starts_from_unknown(monitor, evaluate, sent):
    assert not MonitorState.objects.filter(monitor=monitor).exists()
    assert minute(0) < timezone.now()

    evaluate(store_results(monitor, "F"))

    state = MonitorState.objects.get(monitor=monitor)
    assert (state.state, state.consecutive_failures) == ("unknown", 1)
    monitor.refresh_from_db()
    assert monitor.status == MonitorStatus.UNKNOWN
