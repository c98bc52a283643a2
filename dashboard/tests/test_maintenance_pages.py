"""Dashboard: the Maintenance page (list, create one-off and recurring, end now), the monitor
page's "Maintenance 30 min" button, and incident updates on the incidents page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from dashboard.tests.conftest import make_monitor, web_for
from incidents import maintenance
from incidents.models import Incident, IncidentUpdate, MaintenanceWindow

pytestmark = pytest.mark.django_db


def test_the_monitor_page_starts_thirty_minutes_of_maintenance_in_one_click(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    page = alice_web.get(f"/monitors/{monitor.id}/").content.decode()
    assert "Maintenance 30 min" in page

    response = alice_web.post(f"/monitors/{monitor.id}/maintenance/")

    assert response.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert list(window.monitors.all()) == [monitor]
    assert window.ends_at - window.starts_at == timedelta(minutes=30)
    assert maintenance.monitors_in_maintenance([monitor]) == {monitor.id}
    listing = alice_web.get("/maintenance/").content.decode()
    assert "Active" in listing and "End now" in listing

    alice_web.post(f"/maintenance/{window.id}/end-now/")
    assert maintenance.monitors_in_maintenance([monitor]) == set()


def test_one_off_and_recurring_windows_are_created_from_the_form(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    team = alice.personal_team.id
    response = alice_web.post(
        "/maintenance/new/",
        {
            "team": team,
            "name": "Kernel upgrade",
            "kind": "one-off",
            "starts_at": "2030-01-01 10:00",
            "ends_at": "2030-01-01 11:00",
            "timezone": "UTC",
            "monitors": [monitor.id],
        },
    )
    assert response.status_code == 302, response.content.decode()
    response = alice_web.post(
        "/maintenance/new/",
        {
            "team": team,
            "name": "Weekly backup",
            "kind": "recurring",
            "recurrence": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=3",
            "duration_minutes": 45,
            "timezone": "Europe/Paris",
            "whole_team": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert sorted(MaintenanceWindow.objects.values_list("name", flat=True)) == [
        "Kernel upgrade",
        "Weekly backup",
    ]
    listing = alice_web.get("/maintenance/").content.decode()
    assert "FREQ=WEEKLY;BYDAY=SU;BYHOUR=3" in listing and "2030-01-01 10:00" in listing


def test_an_invalid_window_shows_its_field_errors(alice, alice_web):
    response = alice_web.post(
        "/maintenance/new/",
        {
            "team": alice.personal_team.id,
            "name": "Backwards",
            "kind": "one-off",
            "starts_at": "2030-01-01 10:00",
            "ends_at": "2030-01-01 09:00",
            "timezone": "UTC",
            "whole_team": "on",
        },
    )
    assert response.status_code == 200
    assert "ends_at must be after starts_at" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_viewers_cannot_start_maintenance(make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    monitor = make_monitor(team)
    response = web_for(viewer).post(f"/monitors/{monitor.id}/maintenance/")
    assert response.status_code == 403
    assert not MaintenanceWindow.objects.exists()


def test_incident_updates_are_posted_and_shown_on_the_incidents_page(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    now = timezone.now()
    incident = Incident.objects.create(
        team=monitor.team, monitor=monitor, monitor_name=monitor.name, started_at=now,
        opened_at=now, cause="HTTP 503",
    )  # fmt: skip
    response = alice_web.post(
        f"/incidents/{incident.id}/updates/",
        {"status": "investigating", "message": "Looking at the load balancer."},
    )
    assert response.status_code == 302
    update = IncidentUpdate.objects.get()
    assert (update.status, update.author) == ("investigating", alice)
    page = alice_web.get("/incidents/").content.decode()
    assert "Looking at the load balancer." in page and "Post an update" in page
    refused = alice_web.post(f"/incidents/{incident.id}/updates/", {"status": "x", "message": ""})
    assert refused.status_code == 302 and IncidentUpdate.objects.count() == 1
