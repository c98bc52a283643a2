"""Fan-out and delivery in this process, against real receivers on 127.0.0.1."""

from __future__ import annotations

import pytest

from notifications import services
from notifications.models import AttemptOutcome, DeadLetter, Delivery, DeliveryStatus
from notifications.tasks import deliver_notification, notify_incident
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

SECRET = "s3cret-s3cret-s3cret"


def notify(incident, event, capture) -> None:
    with capture(execute=True):
        notify_incident.apply(args=[incident.id, event])


def test_opened_incident_reaches_webhook_signed_with_idempotency_key(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)

    notify(incident, "opened", django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.response_code == 200
    [request] = receiver.requests
    assert request.signature_valid(SECRET)
    assert request.headers["Idempotency-Key"] == str(delivery.key)
    assert request.headers["Healthmon-Event"] == "incident.opened"
    body = request.json()
    assert body["event"] == "incident.opened"
    assert body["monitor"]["name"] == "Payments API"
    assert body["incident"]["id"] == incident.id
    assert body["reason"] == "HTTP 503 (expected 200-299)"
    assert body["links"]["incident"].endswith(f"/api/v1/incidents/{incident.id}/")


def test_signature_does_not_verify_with_another_secret(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    notify(make_incident(monitor), "opened", django_capture_on_commit_callbacks)

    assert not receiver.requests[0].signature_valid("another-secret-entirely")


def test_duplicate_fan_out_creates_one_delivery_per_channel_and_sends_once(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)

    notify(incident, "opened", django_capture_on_commit_callbacks)
    notify(incident, "opened", django_capture_on_commit_callbacks)

    assert Delivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_redelivered_delivery_task_never_sends_twice(
    alice, receiver, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    [delivery_id] = services.deliveries_owed(incident_id=incident.id, event="opened")

    first = deliver_notification.apply(args=[delivery_id])
    again = deliver_notification.apply(args=[delivery_id])

    assert first.result == "delivered"
    assert again.result == "nothing to do"
    assert len(receiver.requests) == 1
    assert Delivery.objects.get().attempts == 1


def test_each_event_goes_only_to_channels_subscribed_to_it(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor], events=["resolved"])
    incident = make_incident(monitor)

    notify(incident, "opened", django_capture_on_commit_callbacks)
    assert not Delivery.objects.exists()

    notify(incident, "resolved", django_capture_on_commit_callbacks)
    assert [d.event for d in Delivery.objects.all()] == ["resolved"]


def test_disabled_channel_gets_no_delivery(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor], enabled=False)

    notify(make_incident(monitor), "opened", django_capture_on_commit_callbacks)

    assert not Delivery.objects.exists()
    assert not receiver.requests


def test_channel_disabled_after_fan_out_skips_the_delivery(alice, receiver):
    monitor = make_monitor(alice.personal_team)
    channel = make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    channel.enabled = False
    channel.save()

    deliver_notification.apply(args=[delivery_id])

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert not receiver.requests
    assert not DeadLetter.objects.exists()


def test_client_error_is_permanent_and_dead_lettered_at_once(alice, receiver):
    receiver.default = (404, {})
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")

    deliver_notification.apply(args=[delivery_id])

    delivery = Delivery.objects.get()
    assert len(receiver.requests) == 1
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.response_code == 404
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.delivery == delivery
    assert dead_letter.team == alice.personal_team
    assert dead_letter.exception_type == "PermanentDeliveryError"
    assert "404" in dead_letter.error
    assert dead_letter.args == [delivery_id]


def test_server_errors_are_retried_then_dead_lettered(alice, receiver, monkeypatch):
    monkeypatch.setattr(deliver_notification, "max_retries", 2)
    receiver.default = (503, {})
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")

    deliver_notification.apply(args=[delivery_id])

    delivery = Delivery.objects.get()
    assert len(receiver.requests) == 3
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {str(delivery.key)}
    assert [r.headers["Healthmon-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 3
    assert [a.outcome for a in delivery.attempt_log.all()] == [AttemptOutcome.TRANSIENT] * 3
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.attempts == 3
    assert dead_letter.exception_type == "TransientDeliveryError"


def test_a_delivery_sending_elsewhere_is_not_sent_again(alice, receiver, settings):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    assert services.delivery_claim(delivery_id=delivery_id) is not None  # another worker

    assert services.delivery_claim(delivery_id=delivery_id) is None
    remaining = services.delivery_lease_remaining(delivery_id=delivery_id)
    assert 0 < remaining <= settings.NOTIFY_SENDING_LEASE


def test_a_delivery_abandoned_mid_send_is_taken_over_after_the_lease(alice, receiver, settings):
    from datetime import timedelta

    from django.utils import timezone

    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    services.delivery_claim(delivery_id=delivery_id)
    later = timezone.now() + timedelta(seconds=settings.NOTIFY_SENDING_LEASE + 1)

    taken = services.delivery_claim(delivery_id=delivery_id, now=later)

    assert taken is not None
    assert taken.attempts == 2


def test_deliveries_whose_task_was_lost_are_enqueued_again(
    alice, receiver, eager, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.tasks import requeue_stalled_deliveries

    monitors = [make_monitor(alice.personal_team, name=f"API {n}") for n in range(3)]
    make_webhook(alice.personal_team, receiver.url, monitors=monitors, group_window_seconds=0)
    long_ago = timezone.now() - timedelta(seconds=settings.NOTIFY_STALLED_AFTER + 60)
    [lost], [recent], [retrying] = (
        services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
        for monitor in monitors
    )
    services.delivery_claim(delivery_id=retrying).mark_failed(response_code=503, error="HTTP 503")
    Delivery.objects.filter(id__in=[lost, retrying]).update(queued_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        result = requeue_stalled_deliveries.apply()

    assert result.result == 1
    assert Delivery.objects.get(id=lost).status == DeliveryStatus.DELIVERED
    assert Delivery.objects.get(id=recent).status == DeliveryStatus.PENDING
    assert Delivery.objects.get(id=retrying).status == DeliveryStatus.FAILED
    assert len(receiver.requests) == 1


def test_deleting_a_monitor_tells_the_team_default_channels_it_was_resolved(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor], is_default=True)
    make_webhook(alice.personal_team, receiver.url, name="Not default")
    incident = make_incident(monitor)

    monitor.delete()  # incidents resolves the open incident as "monitor deleted"
    incident.refresh_from_db()
    assert incident.resolution == "monitor deleted"

    notify(incident, "resolved", django_capture_on_commit_callbacks)

    [delivery] = Delivery.objects.filter(event="resolved")
    assert delivery.channel_name == "Ops webhook"
    assert delivery.status == DeliveryStatus.DELIVERED
    body = receiver.requests[-1].json()
    assert body["event"] == "incident.resolved"
    assert body["monitor"] is None
    assert body["incident"]["monitor_name"] == "Payments API"
