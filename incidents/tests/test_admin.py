"""The incidents admin: open incidents first, detail with its checks, acknowledge action."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEntry, User
from incidents.models import Incident, MonitorState, Resolution
from incidents.services import evaluate_check_results
from incidents.tests.conftest import make_monitor, store_results
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.com", "x" * 20))
    return client


@pytest.fixture
def incidents(alice, sent, django_capture_on_commit_callbacks) -> tuple[Incident, Incident]:
    """An old open incident and a newer resolved one."""
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_check_results(store_results(make_monitor(alice, "still down"), "FF"))
        evaluate_check_results(store_results(make_monitor(alice, "recovered"), "SSSFFS"))
    return Incident.objects.get(resolved_at=None), Incident.objects.exclude(resolved_at=None).get()


def test_changelist_lists_open_incidents_first(admin_client, incidents):
    open_one, resolved = incidents
    assert resolved.started_at > open_one.started_at

    response = admin_client.get("/admin/incidents/incident/")

    assert response.status_code == 200
    assert [i.id for i in response.context["cl"].result_list] == [open_one.id, resolved.id]
    assert admin_client.get("/admin/incidents/incident/?status=open").status_code == 200


def test_detail_shows_the_checks_that_opened_it(admin_client, incidents):
    open_one, _ = incidents

    response = admin_client.get(f"/admin/incidents/incident/{open_one.id}/change/")

    assert response.status_code == 200
    assert "HTTP 500 (check 0)" in response.content.decode()
    assert "ongoing" in response.content.decode()


def test_acknowledge_action_acknowledges_open_incidents(admin_client, incidents, sent):
    open_one, resolved = incidents
    sent.clear()

    response = admin_client.post(
        "/admin/incidents/incident/",
        {"action": "acknowledge", "_selected_action": [open_one.id, resolved.id]},
    )

    assert response.status_code == 302
    open_one.refresh_from_db()
    assert open_one.acknowledged_by.email == "root@example.com"
    assert Incident.objects.get(pk=resolved.pk).acknowledged_at is None


def test_monitor_state_admin_is_read_only(admin_client, incidents):
    state = MonitorState.objects.first()

    assert admin_client.get("/admin/incidents/monitorstate/").status_code == 200
    page = admin_client.get(f"/admin/incidents/monitorstate/{state.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_bulk_delete_of_monitors_in_the_admin_resolves_their_incidents_as_monitor_deleted(
    admin_client, incidents, django_capture_on_commit_callbacks
):
    open_one, _ = incidents
    monitor_ids = list(Monitor.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/monitors/monitor/",
            {"action": "delete_selected", "post": "yes", "_selected_action": monitor_ids},
        )

    open_one.refresh_from_db()
    assert (open_one.resolution, open_one.monitor_name) == (
        Resolution.MONITOR_DELETED,
        "still down",
    )
    deleted = AuditEntry.objects.filter(action="delete", object_type="monitor")
    assert sorted(deleted.values_list("actor__email", flat=True)) == ["root@example.com"] * 2
