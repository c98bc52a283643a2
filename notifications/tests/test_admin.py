"""Admin pages for channels, deliveries and dead letters: useful, and secrets stay hidden."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from accounts.models import User
from incidents.models import Incident
from notifications import services
from notifications.models import Channel, DeadLetter
from notifications.tasks import deliver_notification
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

APPRISE_URL = "slack://TokenAAAA/TokenBBBB/TokenCCCC/#ops"


@pytest.fixture
def staff(db) -> Client:
    user = User.objects.create_superuser(email="root@example.com", password="pw-Long-enough-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def dead_letter(alice, receiver) -> DeadLetter:
    receiver.default = (410, {})
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    deliver_notification.apply(args=[delivery_id])
    return DeadLetter.objects.get()


def test_channel_pages_never_show_secrets(staff, alice):
    channel = services.channel_create(
        team=alice.personal_team, name="Slack", kind="apprise", secrets={"url": APPRISE_URL}
    )
    webhook = make_webhook(alice.personal_team, "https://hooks.example.com/x")

    pages = [
        staff.get("/admin/notifications/channel/"),
        staff.get(f"/admin/notifications/channel/{channel.id}/change/"),
        staff.get(f"/admin/notifications/channel/{webhook.id}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        for secret in ("TokenAAAA", "TokenBBBB", "TokenCCCC", webhook.secrets["signing_secret"]):
            assert secret not in html


def test_admin_creates_a_webhook_channel_with_a_generated_secret(staff, alice):
    response = staff.post(
        "/admin/notifications/channel/add/",
        {
            "team": alice.personal_team.id,
            "name": "From admin",
            "kind": "webhook",
            "config": '{"url": "https://hooks.example.com/admin"}',
            "events": '["opened"]',
            "enabled": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    channel = Channel.objects.get(name="From admin")
    assert len(channel.secrets["signing_secret"]) >= 32
    assert "shown once" in response.content.decode()


def test_admin_rejects_invalid_channel_settings(staff, alice):
    response = staff.post(
        "/admin/notifications/channel/add/",
        {
            "team": alice.personal_team.id,
            "name": "Bad",
            "kind": "email",
            "config": '{"to": ["nope"]}',
            "events": '["opened"]',
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "not a valid email address" in response.content.decode()
    assert not Channel.objects.exists()


def test_delivery_and_dead_letter_pages_render(staff, dead_letter):
    for url in [
        "/admin/notifications/delivery/",
        f"/admin/notifications/delivery/{dead_letter.delivery_id}/change/",
        "/admin/notifications/deadletter/",
        f"/admin/notifications/deadletter/{dead_letter.id}/change/",
        "/admin/notifications/deadletter/?replayed_at__isempty=1",
    ]:
        assert staff.get(url).status_code == 200, url


def test_admin_dead_letter_says_whose_alert_was_lost(staff, dead_letter):
    incident_id = dead_letter.delivery.incident_id
    expected = f"opened alert for Payments API (incident {incident_id}) to Ops webhook (webhook)"

    assert expected in staff.get("/admin/notifications/deadletter/").content.decode()
    change = staff.get(f"/admin/notifications/deadletter/{dead_letter.id}/change/")
    assert expected in change.content.decode()


def test_admin_replay_action_replays_once(staff, dead_letter, django_capture_on_commit_callbacks):
    data = {"action": "replay", "_selected_action": [dead_letter.id]}

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        staff.post("/admin/notifications/deadletter/", data, follow=True)
        staff.post("/admin/notifications/deadletter/", data, follow=True)

    dead_letter.refresh_from_db()
    assert dead_letter.replayed_at is not None
    assert dead_letter.replayed_by.email == "root@example.com"
    assert len(callbacks) == 1  # one enqueue, for the first replay only


def test_admin_replay_action_replays_an_incidents_opened_before_its_resolved(
    staff, alice, receiver, django_capture_on_commit_callbacks
):
    # Replayed newest first, "resolved" could go out before "opened" was pending again, and
    # "opened" would then be skipped as superseded instead of reaching the receiver.
    receiver.default = (410, {})
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    Incident.objects.filter(id=incident.id).update(
        resolved_at=incident.opened_at + timedelta(minutes=1)
    )
    for event in ("opened", "resolved"):
        [delivery_id] = services.deliveries_owed(incident_id=incident.id, event=event)
        deliver_notification.apply(args=[delivery_id])
    selected = list(DeadLetter.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=False):
        staff.post(
            "/admin/notifications/deadletter/",
            {"action": "replay", "_selected_action": selected},
            follow=True,
        )

    replayed = DeadLetter.objects.order_by("replayed_at").values_list("delivery__event", flat=True)
    assert list(replayed) == ["opened", "resolved"]
