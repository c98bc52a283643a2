"""Incident updates: the API (validation, roles, teams), the "resolved" rule, and the
"update" deliveries owed to channels that ask for them."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Role
from incidents.models import Incident, IncidentUpdate
from incidents.tests.conftest import make_monitor
from lib import task_names
from notifications.models import Delivery
from notifications.services import channel_create, deliveries_owed

pytestmark = pytest.mark.django_db


def open_incident(monitor) -> Incident:
    now = timezone.now()
    return Incident.objects.create(
        team=monitor.team, monitor=monitor, monitor_name=monitor.name, started_at=now,
        opened_at=now, cause="HTTP 503",
    )  # fmt: skip


def url(incident: Incident) -> str:
    return f"/api/v1/incidents/{incident.id}/updates/"


def test_an_update_is_posted_listed_and_sent_after_commit(
    alice, alice_client, sent, django_capture_on_commit_callbacks
):
    incident = open_incident(make_monitor(alice))
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            url(incident), {"status": "investigating", "message": "On it."}, format="json"
        )
    assert response.status_code == 201, response.data
    assert response.data["author"] == alice.email
    update = IncidentUpdate.objects.get()
    assert sent == [(task_names.NOTIFY_INCIDENT, [incident.id, "update", update.id])]
    listed = alice_client.get(url(incident)).data
    assert [(u["status"], u["message"]) for u in listed] == [("investigating", "On it.")]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"status": "fixed", "message": "x"}, "status"),
        ({"status": "identified", "message": ""}, "message"),
        ({"status": "identified", "message": "x" * 5001}, "message"),
        ({"message": "x"}, "status"),
    ],
)
def test_an_invalid_update_is_a_400_naming_the_field(alice, alice_client, body, field):
    incident = open_incident(make_monitor(alice))
    response = alice_client.post(url(incident), body, format="json")
    assert response.status_code == 400 and field in response.data, response.data
    assert not IncidentUpdate.objects.exists()


def test_viewers_read_updates_and_editors_post_them(make_member, sent):
    team, _, viewer = make_member(Role.VIEWER)
    _, _, editor = make_member(Role.EDITOR)
    incident = open_incident(make_monitor(None, team=team))
    body = {"status": "monitoring", "message": "Fix deployed."}
    assert viewer.post(url(incident), body, format="json").status_code == 403
    assert editor.post(url(incident), body, format="json").status_code == 201
    assert len(viewer.get(url(incident)).data) == 1


def test_another_teams_incident_is_404(bob, alice_client):
    incident = open_incident(make_monitor(bob, "bob's"))
    body = {"status": "identified", "message": "mine now"}
    assert alice_client.get(url(incident)).status_code == 404
    assert alice_client.post(url(incident), body, format="json").status_code == 404


def test_resolved_does_not_resolve_an_incident_whose_monitor_is_down(alice, alice_client, sent):
    monitor = make_monitor(alice)
    monitor.status = "down"
    monitor.save(update_fields=["status"])
    incident = open_incident(monitor)
    body = {"status": "resolved", "message": "Should be fine."}
    assert alice_client.post(url(incident), body, format="json").status_code == 201
    incident.refresh_from_db()
    assert incident.is_open


def test_resolved_resolves_an_incident_whose_monitor_is_up(
    alice, alice_client, sent, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice)
    monitor.status = "up"
    monitor.save(update_fields=["status"])
    incident = open_incident(monitor)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(url(incident), {"status": "resolved", "message": "Done."}, format="json")
    incident.refresh_from_db()
    assert not incident.is_open and incident.resolution == "resolved by update"
    assert [args[1] for _, args in sent] == ["update", "resolved"]


def test_updates_are_owed_once_each_to_the_channels_that_ask(alice, sent):
    from incidents.updates import incident_update_post

    monitor = make_monitor(alice)
    incident = open_incident(monitor)
    asks = channel_create(
        team=alice.personal_team, name="subscribers", kind="webhook",
        config={"url": "https://hooks.example.com/a"}, monitors=[monitor],
        send_incident_updates=True,
    )  # fmt: skip
    channel_create(
        team=alice.personal_team, name="pager", kind="webhook",
        config={"url": "https://hooks.example.com/b"}, monitors=[monitor],
    )  # fmt: skip
    first = incident_update_post(incident=incident, status="identified", message="One.")
    second = incident_update_post(incident=incident, status="monitoring", message="Two.")

    for update in (first, second, first):  # the last: a redelivered fan-out
        deliveries_owed(incident_id=incident.id, event="update", update_id=update.id)

    rows = Delivery.objects.order_by("update_id")
    assert [(d.channel_id, d.event, d.update_id) for d in rows] == [
        (asks.id, "update", first.id),
        (asks.id, "update", second.id),
    ]
    assert rows[0].payload["update"]["message"] == "One."
    assert rows[0].payload["event"] == "incident.update"
    assert rows[0].sequence == 2  # after "opened"
    # Incident events are still owed once per channel.
    deliveries_owed(incident_id=incident.id, event="opened")
    deliveries_owed(incident_id=incident.id, event="opened")
    assert Delivery.objects.filter(event="opened").count() == 2


def test_channels_ask_for_updates_in_the_api(alice_client):
    body = {"name": "status", "kind": "webhook", "config": {"url": "https://hooks.example.com/"}}
    created = alice_client.post("/api/v1/channels/", body, format="json")
    assert created.status_code == 201 and created.data["send_incident_updates"] is False
    changed = alice_client.patch(
        f"/api/v1/channels/{created.data['id']}/", {"send_incident_updates": True}, format="json"
    )
    assert changed.status_code == 200 and changed.data["send_incident_updates"] is True
