"""Incidents timeline with acknowledge, channels with "send test", dead letters with replay."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from dashboard.tests.conftest import make_monitor, web_for
from incidents.models import Incident
from monitors.models import CheckResult, CheckStatus
from notifications import services as notification_services
from notifications.models import DeadLetter
from notifications.tests.receivers import Receiver, start_receiver

pytestmark = pytest.mark.django_db


def make_incident(monitor, **fields) -> Incident:
    now = timezone.now()
    values = {
        "team": monitor.team,
        "monitor": monitor,
        "monitor_name": monitor.name,
        "started_at": now,
        "opened_at": now,
        "cause": "HTTP 503 (expected 200-299)",
        "failure_count": 2,
    }
    values.update(fields)
    return Incident.objects.create(**values)


# --- Incidents ------------------------------------------------------------------------------


def test_incident_timeline_lists_the_teams_incidents(alice, bob, alice_web):
    mine = make_incident(make_monitor(alice.personal_team, "Payments"))
    make_incident(make_monitor(bob.personal_team, "Bob's secret API"))

    html = alice_web.get("/incidents/").content.decode()

    assert "Payments" in html and "HTTP 503 (expected 200-299)" in html
    assert "Bob&#x27;s secret API" not in html and "Bob's secret API" not in html
    assert f'data-incident-id="{mine.id}"' in html


def test_an_incident_says_how_many_failed_checks_opened_it_not_the_running_count(alice, alice_web):
    monitor = make_monitor(alice.personal_team, failure_threshold=1)
    opened = timezone.now() - timedelta(minutes=5)
    for minutes, status in ((0, CheckStatus.DOWN), (1, CheckStatus.TIMEOUT), (2, CheckStatus.DOWN)):
        CheckResult.objects.create(
            monitor=monitor, checked_at=opened + timedelta(minutes=minutes), status=status
        )
    make_incident(monitor, started_at=opened, opened_at=opened, failure_count=3)

    html = alice_web.get("/incidents/").content.decode()

    assert "Incident opened, after 1 failed check</span>" in html
    assert "3 failed checks" in html  # still failing, counted so far


def test_incident_filters(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    make_incident(monitor, resolved_at=timezone.now(), monitor_name="Old one")
    make_incident(monitor, monitor_name="Open one")

    open_only = alice_web.get("/incidents/?show=open").content.decode()

    assert "Open one" in open_only and "Old one" not in open_only


def test_acknowledge_an_incident_from_the_timeline(alice, alice_web):
    incident = make_incident(make_monitor(alice.personal_team))

    response = alice_web.post(
        f"/incidents/{incident.id}/acknowledge/", {"next": "/incidents/?show=open"}
    )

    assert response.status_code == 302 and response["Location"] == "/incidents/?show=open"
    incident.refresh_from_db()
    assert incident.acknowledged_by == alice and incident.acknowledged_at is not None
    html = alice_web.get("/incidents/").content.decode()
    assert "by alice@example.com" in html


def test_acknowledge_redirects_only_within_the_site(alice, alice_web):
    incident = make_incident(make_monitor(alice.personal_team))
    response = alice_web.post(
        f"/incidents/{incident.id}/acknowledge/", {"next": "https://evil.example.com/"}
    )
    assert response["Location"] == "/incidents/"


def test_a_resolved_incident_cannot_be_acknowledged(alice, alice_web):
    incident = make_incident(make_monitor(alice.personal_team), resolved_at=timezone.now())
    response = alice_web.post(f"/incidents/{incident.id}/acknowledge/", follow=True)
    assert "already resolved" in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_viewers_cannot_acknowledge_and_others_get_404(alice, bob, make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    incident = make_incident(make_monitor(team))

    assert web_for(viewer).post(f"/incidents/{incident.id}/acknowledge/").status_code == 403
    assert web_for(bob).post(f"/incidents/{incident.id}/acknowledge/").status_code == 404
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


# --- Channels -------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    stop = start_receiver(target)
    yield target
    stop()


def make_webhook(team, url: str):
    return notification_services.channel_create(
        team=team,
        name="Ops webhook",
        kind="webhook",
        config={"url": url},
        secrets={"signing_secret": "s3cret-s3cret-s3cret"},
        monitors=[],
    )


def test_channels_page_sends_a_test_message(alice, alice_web, receiver):
    channel = make_webhook(alice.personal_team, receiver.url)

    html = alice_web.get("/channels/").content.decode()
    response = alice_web.post(f"/channels/{channel.id}/test/", follow=True)

    assert "Ops webhook" in html and "Send test" in html
    assert "s3cret" not in html
    assert len(receiver.requests) == 1
    assert "Test message sent to “Ops webhook” (HTTP 200)" in response.content.decode()


def test_a_failing_test_message_shows_the_error(alice, alice_web, receiver):
    receiver.default = (500, {})
    channel = make_webhook(alice.personal_team, receiver.url)
    response = alice_web.post(f"/channels/{channel.id}/test/", follow=True)
    assert "failed" in response.content.decode()


def test_only_admins_send_test_messages(make_member, receiver):
    team, editor, _ = make_member(Role.EDITOR)
    channel = make_webhook(team, receiver.url)
    client = web_for(editor)

    assert "Send test" not in client.get("/channels/").content.decode()
    assert client.post(f"/channels/{channel.id}/test/").status_code == 403
    assert receiver.requests == []


def test_test_messages_from_the_dashboard_share_the_api_throttle(
    settings, alice, alice_web, alice_client, receiver
):
    settings.CHANNEL_TEST_THROTTLE_RATE = "2/min"
    channel = make_webhook(alice.personal_team, receiver.url)
    alice_client.post(f"/api/v1/channels/{channel.id}/test/")
    alice_web.post(f"/channels/{channel.id}/test/")

    response = alice_web.post(f"/channels/{channel.id}/test/", follow=True)

    assert "Too many channel tests; at most 2/min per user and per team." in (
        response.content.decode()
    )
    assert len(receiver.requests) == 2


# --- Dead letters ---------------------------------------------------------------------------


def make_dead_letter(team, **fields) -> DeadLetter:
    now = timezone.now()
    values = {
        "task_name": "notifications.tasks.deliver_notification",
        "task_id": f"task-{DeadLetter.objects.count()}",
        "args": [1],
        "exception_type": "TransportError",
        "error": "HTTP 500 from https://hooks.example.com/",
        "first_failed_at": now,
        "last_failed_at": now,
        "team": team,
    }
    values.update(fields)
    return DeadLetter.objects.create(**values)


def test_dead_letters_page_replays_once(alice, alice_web):
    letter = make_dead_letter(alice.personal_team)

    html = alice_web.get("/dead-letters/").content.decode()
    first = alice_web.post(f"/dead-letters/{letter.id}/replay/", follow=True).content.decode()
    second = alice_web.post(f"/dead-letters/{letter.id}/replay/", follow=True).content.decode()

    assert "HTTP 500 from https://hooks.example.com/" in html
    assert f"Dead letter #{letter.id} replayed" in first
    assert "already replayed" in second
    letter.refresh_from_db()
    assert letter.replayed_by == alice
    assert (
        "No dead letters waiting for a replay" in alice_web.get("/dead-letters/").content.decode()
    )
    assert "by alice@example.com" in alice_web.get("/dead-letters/?show=all").content.decode()


def test_dead_letters_are_team_scoped_and_replay_needs_admin(bob, make_member):
    team, editor, _ = make_member(Role.EDITOR)
    letter = make_dead_letter(team)

    assert "/replay/" not in web_for(editor).get("/dead-letters/").content.decode()
    assert web_for(editor).post(f"/dead-letters/{letter.id}/replay/").status_code == 403
    assert web_for(bob).post(f"/dead-letters/{letter.id}/replay/").status_code == 404


def test_dead_letters_page_says_whose_alert_was_lost(alice, alice_web):
    monitor = make_monitor(alice.personal_team, "Payments")
    incident = make_incident(monitor)
    channel = notification_services.channel_create(
        team=alice.personal_team,
        name="Ops webhook",
        kind="webhook",
        config={"url": "https://hooks.example.com/"},
        secrets={"signing_secret": "s3cret-s3cret-s3cret"},
        monitors=[monitor],
    )
    [delivery_id] = notification_services.deliveries_owed(incident_id=incident.id, event="opened")
    make_dead_letter(alice.personal_team, args=[delivery_id], delivery_id=delivery_id)

    html = alice_web.get("/dead-letters/").content.decode()

    assert f'<a href="/monitors/{monitor.id}/">Payments</a> (incident {incident.id})' in html
    assert "opened alert for" in html and "to Ops webhook" in html
    assert channel.kind in html
