"""Maintenance windows: schedules (cron, RRULE, DST), the evaluator's hold, the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from incidents import maintenance
from incidents.models import Incident, MaintenanceWindow, MonitorState
from incidents.services import evaluate_check_results
from incidents.tests.conftest import make_monitor, minute, store_results
from monitors.models import Tag

pytestmark = pytest.mark.django_db

URL = "/api/v1/maintenance-windows/"


def window(team, **fields) -> MaintenanceWindow:
    fields.setdefault("name", "db upgrade")
    fields.setdefault("whole_team", True)
    return maintenance.maintenance_window_create(team=team, **fields)


# --- Schedules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recurrence",
    ["30 1 * * *", "FREQ=DAILY;BYHOUR=1;BYMINUTE=30", "RRULE:FREQ=DAILY;BYHOUR=1;BYMINUTE=30"],
)
def test_a_daily_window_stays_at_its_local_time_across_a_dst_change(alice, recurrence):
    with time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False):
        daily = window(
            alice.personal_team,
            recurrence=recurrence,
            duration_minutes=60,
            timezone_name="America/New_York",
        )
    # 01:30 New York is 06:30 UTC before the change (EST) and 05:30 UTC after it (EDT).
    before, after = datetime(2026, 3, 7, 6, 45, tzinfo=UTC), datetime(2026, 3, 9, 5, 45, tzinfo=UTC)
    assert maintenance.active_interval(daily, before) == (
        datetime(2026, 3, 7, 6, 30, tzinfo=UTC),
        datetime(2026, 3, 7, 7, 30, tzinfo=UTC),
    )
    assert maintenance.active_interval(daily, after) == (
        datetime(2026, 3, 9, 5, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
    )
    assert maintenance.active_interval(daily, datetime(2026, 3, 9, 6, 45, tzinfo=UTC)) is None
    assert maintenance.next_start(daily, after=datetime(2026, 3, 8, 0, 0, tzinfo=UTC)) == (
        datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST: the change happens at 02:00
    )


def test_active_now_follows_the_clock_across_a_dst_change(alice):
    alice_client = APIClient()
    alice_client.force_authenticate(alice)  # a JWT would expire as the clock travels
    with time_machine.travel(datetime(2026, 10, 20, 12, tzinfo=UTC), tick=False):
        response = alice_client.post(
            URL,
            {
                "name": "weekly reboot",
                "recurrence": "0 2 * * 0",
                "duration_minutes": 30,
                "timezone": "Europe/Paris",
                "whole_team": True,
            },
            format="json",
        )
        assert response.status_code == 201, response.data
        # Sunday 25 October, the night CEST ends: the first 02:00 in Paris is 00:00 UTC.
        assert response.data["next_start"] == "2026-10-25T00:00:00Z"
    with time_machine.travel(datetime(2026, 10, 25, 0, 10, tzinfo=UTC), tick=False):
        assert alice_client.get(URL).data["results"][0]["active_now"] is True
    # A week later Paris is on CET: 02:00 local is 01:00 UTC.
    with time_machine.travel(datetime(2026, 11, 1, 0, 10, tzinfo=UTC), tick=False):
        assert alice_client.get(URL).data["results"][0]["active_now"] is False
    with time_machine.travel(datetime(2026, 11, 1, 1, 10, tzinfo=UTC), tick=False):
        assert alice_client.get(URL).data["results"][0]["active_now"] is True


# --- The evaluator --------------------------------------------------------------------------


def test_failures_inside_a_window_open_no_incident_and_send_nothing(
    alice, sent, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice)
    window(alice.personal_team, starts_at=minute(0), ends_at=minute(10), whole_team=False,
           monitors=[monitor])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_check_results(store_results(monitor, "FFFFF"))
    assert not Incident.objects.filter(monitor=monitor).exists()
    assert sent == []
    state = MonitorState.objects.get(monitor=monitor)
    assert state.consecutive_failures == 5  # counted, and held


def test_a_monitor_still_down_after_the_window_opens_its_incident_at_the_next_failure(
    alice, sent, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice)
    window(alice.personal_team, starts_at=minute(0), ends_at=minute(3), whole_team=False,
           monitors=[monitor])  # fmt: skip
    evaluate_check_results(store_results(monitor, "FFF"))  # minutes 0-2: inside
    assert not Incident.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_check_results(store_results(monitor, "F", first=3))  # minute 3: it ended
    incident = Incident.objects.get(monitor=monitor)
    assert incident.opened_at == minute(3)
    assert incident.started_at == minute(0)  # the downtime began with the first failure
    assert sent.events() == [(incident.id, "opened")]


def test_a_window_covers_the_monitors_of_its_tags_only(alice, sent):
    tagged = make_monitor(alice, "tagged", tags=["db"])
    other = make_monitor(alice, "other")
    tag = Tag.objects.get(team=alice.personal_team, name="db")
    window(alice.personal_team, starts_at=minute(0), ends_at=minute(10), whole_team=False,
           tags=[tag])  # fmt: skip
    evaluate_check_results(store_results(tagged, "FFF") + store_results(other, "FFF"))
    assert list(Incident.objects.values_list("monitor_id", flat=True)) == [other.id]


def test_an_incident_open_when_a_window_starts_stays_open_and_its_resolution_is_sent(
    alice, sent, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice)
    window(alice.personal_team, starts_at=minute(2), ends_at=minute(10))
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_check_results(store_results(monitor, "FF"))  # opened before the window
        evaluate_check_results(store_results(monitor, "FFS", first=2))
    incident = Incident.objects.get(monitor=monitor)
    assert incident.failure_count == 4
    assert incident.resolved_at == minute(4)
    assert [event for _, event in sent.events()] == ["opened", "resolved"]


def test_the_window_lookup_is_one_query_per_batch_whatever_its_size(alice, sent):
    monitors = [make_monitor(alice, f"api {n}") for n in range(20)]
    ids = [i for m in monitors for i in store_results(m, "FS")]
    with CaptureQueriesContext(connection) as queries:
        evaluate_check_results(ids)
    lookups = [q for q in queries.captured_queries if "maintenancewindow" in q["sql"]]
    assert len(lookups) == 1


# --- The API --------------------------------------------------------------------------------


def test_a_one_off_window_is_created_with_its_scope(alice_client, alice):
    monitor = make_monitor(alice, tags=["db"])
    response = alice_client.post(
        URL,
        {
            "name": "Postgres 17 upgrade",
            "starts_at": "2030-01-01T10:00:00Z",
            "ends_at": "2030-01-01T11:00:00Z",
            "monitors": [monitor.id],
            "tags": ["db"],
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["key"] == "postgres-17-upgrade"
    assert response.data["monitors"] == [monitor.id]
    assert response.data["tags"] == ["db"]
    assert response.data["active_now"] is False
    assert response.data["next_start"] == "2030-01-01T10:00:00Z"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"}, "ends_at"),
        ({"starts_at": "2030-01-01T10:00:00Z"}, "ends_at"),
        ({}, "starts_at"),
        ({"recurrence": "every sunday", "duration_minutes": 30}, "recurrence"),
        ({"recurrence": "FREQ=SOMETIMES", "duration_minutes": 30}, "recurrence"),
        ({"recurrence": "0 2 * * 0"}, "duration_minutes"),
        (
            {"recurrence": "0 2 * * 0", "duration_minutes": 30, "timezone": "Mars/Olympus"},
            "timezone",
        ),
        (
            {
                "recurrence": "0 2 * * 0",
                "duration_minutes": 30,
                "starts_at": "2030-01-01T10:00:00Z",
                "ends_at": "2030-01-01T11:00:00Z",
            },
            "recurrence",
        ),
    ],
)
def test_an_invalid_window_is_a_400_naming_the_field(alice_client, body, field):
    response = alice_client.post(URL, {"name": "w", "whole_team": True, **body}, format="json")
    assert response.status_code == 400
    assert field in response.data, response.data


def test_a_window_needs_a_scope(alice_client):
    body = {"name": "w", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T11:00:00Z"}
    response = alice_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert "scope" in str(response.data["monitors"])


def test_another_teams_monitors_and_tags_cannot_be_named(alice_client, bob):
    theirs = make_monitor(bob, "bob's", tags=["secret"])
    base = {"name": "w", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T11:00:00Z"}
    response = alice_client.post(URL, {**base, "monitors": [theirs.id]}, format="json")
    assert response.status_code == 400 and "monitors" in response.data
    response = alice_client.post(URL, {**base, "tags": ["secret"]}, format="json")
    assert response.status_code == 400 and "tags" in response.data


def test_another_teams_windows_are_invisible(alice_client, bob):
    theirs = window(bob.personal_team, starts_at=minute(0), ends_at=minute(10))
    assert alice_client.get(URL).data["count"] == 0
    assert alice_client.get(f"{URL}{theirs.id}/").status_code == 404
    assert alice_client.delete(f"{URL}{theirs.id}/").status_code == 404


def test_viewers_read_and_editors_write(make_member):
    team, _, viewer = make_member(Role.VIEWER)
    _, _, editor = make_member(Role.EDITOR)
    body = {"team": team.id, "name": "w", "whole_team": True, "minutes": 15}
    assert viewer.post(f"{URL}start-now/", body, format="json").status_code == 403
    response = editor.post(f"{URL}start-now/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["active_now"] is True
    window_id = response.data["id"]
    assert viewer.get(f"{URL}{window_id}/").status_code == 200
    assert viewer.post(f"{URL}{window_id}/end-now/").status_code == 403
    ended = editor.post(f"{URL}{window_id}/end-now/")
    assert ended.status_code == 200 and ended.data["active_now"] is False


def test_maintenance_of_one_monitor_starts_now_for_the_minutes_asked(alice_client, alice):
    monitor = make_monitor(alice)
    before = timezone.now()
    response = alice_client.post(
        f"/api/v1/monitors/{monitor.id}/maintenance/", {"minutes": 30}, format="json"
    )
    assert response.status_code == 201, response.data
    created = MaintenanceWindow.objects.get(id=response.data["id"])
    assert list(created.monitors.all()) == [monitor]
    assert before <= created.starts_at <= timezone.now()
    assert created.ends_at - created.starts_at == timedelta(minutes=30)
    assert maintenance.monitors_in_maintenance([monitor]) == {monitor.id}
    bad = alice_client.post(
        f"/api/v1/monitors/{monitor.id}/maintenance/", {"minutes": 0}, format="json"
    )
    assert bad.status_code == 400 and "minutes" in bad.data


def test_a_recurring_window_cannot_be_ended_now(alice_client, alice):
    weekly = window(alice.personal_team, recurrence="0 2 * * 0", duration_minutes=30)
    response = alice_client.post(f"{URL}{weekly.id}/end-now/")
    assert response.status_code == 400
