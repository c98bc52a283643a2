"""The incidents API through the DRF client: lists, filters, detail, acknowledge, access."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Role
from incidents.models import Incident
from incidents.services import evaluate_check_results
from incidents.tests.conftest import make_monitor, minute, store_results
from lib import task_names

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage(django_capture_on_commit_callbacks):
    """Make ``monitor`` live through ``sequence``; returns its incidents, oldest first."""

    def outage(monitor, sequence: str, *, first: int = 0) -> list[Incident]:
        with django_capture_on_commit_callbacks(execute=True):
            evaluate_check_results(store_results(monitor, sequence, first=first))
        return list(Incident.objects.filter(monitor=monitor).order_by("started_at"))

    return outage


def test_list_shows_my_teams_incidents_newest_first(alice, bob, alice_client, outage, sent):
    mine = make_monitor(alice, "mine")
    (old, new) = outage(mine, "FFSFF")
    outage(make_monitor(bob, "theirs"), "FF")

    response = alice_client.get("/api/v1/incidents/")

    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [new.id, old.id]
    row = response.data["results"][1]
    assert row["status"] == "resolved"
    assert row["monitor"] == mine.id
    assert row["monitor_name"] == "mine"
    assert row["cause"] == "HTTP 500 (check 0)"
    assert row["failure_count"] == 2
    assert row["duration_seconds"] == 120.0
    assert row["resolution"] == "recovered"
    assert response.data["results"][0]["duration_seconds"] is None  # still open


def test_filters_by_monitor_status_and_time(alice, alice_client, outage, sent):
    first = make_monitor(alice, "first")
    second = make_monitor(alice, "second")
    (resolved, open_one) = outage(first, "FFSFF")
    (other,) = outage(second, "SSSSSSSFF")

    def ids(query: str) -> list[int]:
        response = alice_client.get(f"/api/v1/incidents/?{query}")
        assert response.status_code == 200, response.data
        return sorted(row["id"] for row in response.data["results"])

    assert ids(f"monitor={first.id}") == sorted([resolved.id, open_one.id])
    assert ids("status=open") == sorted([open_one.id, other.id])
    assert ids("status=resolved") == [resolved.id]
    assert ids("is_open=false") == [resolved.id]
    after = minute(3).isoformat().replace("+00:00", "Z")
    assert ids(f"started_after={after}") == sorted([open_one.id, other.id])
    assert ids(f"started_before={after}") == [resolved.id]
    assert ids(f"monitor={first.id}&status=open") == [open_one.id]


def test_bad_filter_values_answer_400_with_field_messages(alice_client):
    response = alice_client.get("/api/v1/incidents/?status=sideways&started_after=yesterday")

    assert response.status_code == 400
    assert set(response.data) == {"status", "started_after"}


def test_detail_includes_the_checks_that_opened_it(alice, alice_client, outage, sent):
    monitor = make_monitor(alice, failure_threshold=3)
    (incident,) = outage(monitor, "SFFFFS")

    response = alice_client.get(f"/api/v1/incidents/{incident.id}/")

    assert response.status_code == 200
    checks = response.data["checks"]
    assert [c["reason"] for c in checks] == [f"HTTP 500 (check {i})" for i in (1, 2, 3)]
    assert [c["status"] for c in checks] == ["down"] * 3
    assert response.data["last_reason"] == "HTTP 500 (check 4)"
    assert response.data["failure_count"] == 4


def test_another_teams_incident_is_not_found(bob, alice_client, outage, sent):
    (incident,) = outage(make_monitor(bob), "FF")

    assert alice_client.get(f"/api/v1/incidents/{incident.id}/").status_code == 404
    response = alice_client.post(f"/api/v1/incidents/{incident.id}/acknowledge/")
    assert response.status_code == 404
    assert Incident.objects.get().acknowledged_at is None


def test_incidents_need_authentication(anon_client):
    assert anon_client.get("/api/v1/incidents/").status_code == 401


def test_incidents_cannot_be_created_or_edited_through_the_api(alice, alice_client, outage, sent):
    (incident,) = outage(make_monitor(alice), "FF")

    assert alice_client.post("/api/v1/incidents/", {}).status_code == 405
    response = alice_client.patch(f"/api/v1/incidents/{incident.id}/", {"cause": "x"})
    assert response.status_code == 405


# --- Acknowledge ----------------------------------------------------------------------------


def test_an_editor_acknowledges_an_open_incident_once(
    make_member, outage, sent, hooked, django_capture_on_commit_callbacks
):
    team, editor, client = make_member(Role.EDITOR)
    (incident,) = outage(make_monitor(None, team=team), "FF")
    sent.clear()
    hooked.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/incidents/{incident.id}/acknowledge/")

    assert response.status_code == 200
    assert response.data["acknowledged_by"]["email"] == editor.email
    assert response.data["acknowledged_at"] is not None
    assert response.data["status"] == "open"
    assert sent == [(task_names.NOTIFY_INCIDENT, [incident.id, "acknowledged"])]
    assert hooked == [(incident.id, "acknowledged")]

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/v1/incidents/{incident.id}/acknowledge/")

    assert again.status_code == 200
    assert again.data["acknowledged_at"] == response.data["acknowledged_at"]
    assert len(sent) == 1  # no second notification


def test_a_viewer_cannot_acknowledge(make_member, outage, sent):
    team, _viewer, client = make_member(Role.VIEWER)
    (incident,) = outage(make_monitor(None, team=team), "FF")

    assert client.get(f"/api/v1/incidents/{incident.id}/").status_code == 200
    response = client.post(f"/api/v1/incidents/{incident.id}/acknowledge/")

    assert response.status_code == 403
    assert Incident.objects.get().acknowledged_at is None


def test_a_resolved_incident_cannot_be_acknowledged(alice, alice_client, outage, sent):
    (incident,) = outage(make_monitor(alice), "FFS")
    sent.clear()

    response = alice_client.post(f"/api/v1/incidents/{incident.id}/acknowledge/")

    assert response.status_code == 400
    assert "resolved" in response.data["detail"]
    assert sent == []


# --- The monitor's current state -------------------------------------------------------------


def test_monitor_detail_shows_the_verdict_and_the_open_incident(alice, alice_client, outage, sent):
    monitor = make_monitor(alice)
    (incident,) = outage(monitor, "SFF")

    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/")

    assert response.status_code == 200
    assert response.data["status"] == "down"
    assert response.data["open_incident"] == incident.id


def test_monitor_state_shows_the_run_in_progress(alice, bob, alice_client, outage, sent):
    monitor = make_monitor(alice, failure_threshold=3)
    outage(monitor, "SFF")
    outage(make_monitor(bob), "S")

    response = alice_client.get(f"/api/v1/monitor-states/{monitor.id}/")

    assert response.status_code == 200
    assert response.data == {
        "monitor": monitor.id,
        "monitor_name": "orders API",
        "state": "up",
        "is_paused": False,
        "consecutive_failures": 2,
        "failure_threshold": 3,
        "consecutive_successes": 0,
        "success_threshold": 1,
        "failing_since": minute(1).isoformat().replace("+00:00", "Z"),
        "failing_cause": "HTTP 500 (check 1)",
        "recovering_since": None,
        "last_result_at": minute(2).isoformat().replace("+00:00", "Z"),
        "flapping_since": None,
        "open_incident": None,
    }
    listed = alice_client.get("/api/v1/monitor-states/").data["results"]
    assert [row["monitor"] for row in listed] == [monitor.id]  # not bob's


def test_monitor_state_of_another_team_is_not_found(bob, alice_client, outage, sent):
    monitor = make_monitor(bob)
    outage(monitor, "S")

    assert alice_client.get(f"/api/v1/monitor-states/{monitor.id}/").status_code == 404


def test_monitor_state_names_the_open_incident(alice, alice_client, outage, sent):
    monitor = make_monitor(alice)
    (incident,) = outage(monitor, "FF")

    response = alice_client.get("/api/v1/monitor-states/?state=down")

    assert [row["open_incident"] for row in response.data["results"]] == [incident.id]
    assert timezone.now() > incident.opened_at
