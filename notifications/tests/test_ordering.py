"""Per incident and channel, events go out in order, each numbered in its payload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import wait_for
from healthmon.celery import app
from incidents.models import Incident
from notifications import services
from notifications.messages import event_sequence
from notifications.models import Delivery, DeliveryStatus
from notifications.redelivery import delivery_retry
from notifications.tasks import deliver_notification
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("acknowledged_at", "resolved_at", "event", "expected"),
    [
        (None, None, "opened", 1),
        (T0 + MINUTE, None, "acknowledged", 2),
        (T0 + MINUTE, T0 + 2 * MINUTE, "resolved", 3),
        (None, T0 + 2 * MINUTE, "resolved", 2),
        # Fanned out late, after the incident moved on: still first.
        (T0 + MINUTE, T0 + 2 * MINUTE, "opened", 1),
        (T0 + MINUTE, T0 + 2 * MINUTE, "acknowledged", 2),
        # Acknowledged and resolved in the same instant: acknowledged comes first.
        (T0 + MINUTE, T0 + MINUTE, "resolved", 3),
    ],
)
def test_sequence_numbers_the_events_of_an_incident_in_the_order_they_happened(
    acknowledged_at, resolved_at, event, expected
):
    incident = Incident(opened_at=T0, acknowledged_at=acknowledged_at, resolved_at=resolved_at)
    occurred_at = {"opened": T0, "acknowledged": acknowledged_at, "resolved": resolved_at}[event]

    assert event_sequence(incident, event, occurred_at=occurred_at) == expected


def fanned_out(incident, *events) -> list[int]:
    return [services.deliveries_owed(incident_id=incident.id, event=e)[0] for e in events]


@pytest.mark.django_db
def test_a_resolved_delivery_waits_while_the_opened_one_is_retrying(alice, receiver):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    [opened] = fanned_out(incident, "opened")
    services.delivery_claim(delivery_id=opened).mark_failed(response_code=503, error="HTTP 503")
    Incident.objects.filter(id=incident.id).update(resolved_at=incident.opened_at + MINUTE)
    [resolved] = fanned_out(incident, "resolved")

    assert services.delivery_claim(delivery_id=resolved) is None
    assert services.delivery_held(delivery_id=resolved)
    assert Delivery.objects.get(id=resolved).status == DeliveryStatus.PENDING


@pytest.mark.django_db
def test_a_held_delivery_stays_held_when_the_earlier_event_is_delivered_right_after(
    alice, receiver
):
    # The claim of resolved was refused while opened was sending; opened is delivered
    # before the task asks why: resolved is still owed, or it would wait for the sweep.
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    Incident.objects.filter(id=incident.id).update(resolved_at=incident.opened_at + MINUTE)
    opened, resolved = fanned_out(incident, "opened", "resolved")
    sending = services.delivery_claim(delivery_id=opened)
    assert services.delivery_claim(delivery_id=resolved) is None

    sending.mark_delivered(response_code=204, now=incident.opened_at + MINUTE)

    assert services.delivery_held(delivery_id=resolved)


@pytest.mark.django_db
def test_a_resolved_delivery_goes_out_once_the_opened_one_is_dead(alice, receiver):
    receiver.plan_by_event = {"incident.opened": [(404, {})]}
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    Incident.objects.filter(id=incident.id).update(resolved_at=incident.opened_at + MINUTE)
    opened, resolved = fanned_out(incident, "opened", "resolved")

    deliver_notification.apply(args=[opened])
    deliver_notification.apply(args=[resolved])

    assert Delivery.objects.get(id=opened).status == DeliveryStatus.DEAD
    assert Delivery.objects.get(id=resolved).status == DeliveryStatus.DELIVERED


@pytest.mark.django_db
def test_events_of_other_channels_and_incidents_do_not_wait(alice, receiver):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    first = make_incident(monitor, resolved_at=None)
    [opened] = fanned_out(first, "opened")
    services.delivery_claim(delivery_id=opened).mark_failed(response_code=503, error="HTTP 503")
    Incident.objects.filter(id=first.id).update(resolved_at=first.opened_at + MINUTE)
    other_channel = make_webhook(
        alice.personal_team, receiver.url, monitors=[monitor], name="Pager", events=["resolved"]
    )
    [to_other_channel] = [
        d
        for d in services.deliveries_owed(incident_id=first.id, event="resolved")
        if Delivery.objects.get(id=d).channel_id == other_channel.id
    ]

    assert services.delivery_claim(delivery_id=to_other_channel) is not None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_resolved_reaches_the_receiver_after_opened_even_when_opened_needs_retries(
    celery_worker_process, alice, receiver
):
    receiver.plan_by_event = {"incident.opened": [(503, {})] * 3}
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    app.send_task("notifications.tasks.notify_incident", args=[incident.id, "opened"])
    wait_for(lambda: receiver.requests, message="the opened alert was never attempted")
    Incident.objects.filter(id=incident.id).update(resolved_at=incident.opened_at + MINUTE)

    app.send_task("notifications.tasks.notify_incident", args=[incident.id, "resolved"])

    wait_for(lambda: len(receiver.successes) == 2, timeout=30)
    bodies = [r.json() for r in receiver.successes]
    assert [(b["event"], b["sequence"]) for b in bodies] == [
        ("incident.opened", 1),
        ("incident.resolved", 2),
    ]


@pytest.mark.django_db
def test_the_delivery_history_shows_each_events_sequence(alice, alice_client, receiver):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    Incident.objects.filter(id=incident.id).update(resolved_at=incident.opened_at + MINUTE)
    fanned_out(incident, "opened", "resolved")

    response = alice_client.get(f"/api/v1/incidents/{incident.id}/deliveries/")

    rows = sorted(
        (d["event"], d["sequence"], d["payload"]["sequence"]) for d in response.json()["results"]
    )
    assert rows == [("opened", 1, 1), ("resolved", 2, 2)]


@pytest.mark.django_db
def test_a_retried_opened_delivery_is_skipped_once_resolved_reached_the_channel(alice, receiver):
    # opened was dead-lettered while the receiver was away, resolved went out once it was
    # back: sending opened now would re-open, at the receiver, an incident it knows resolved.
    receiver.plan_by_event = {"incident.opened": [(404, {})]}
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    Incident.objects.filter(id=incident.id).update(resolved_at=incident.opened_at + MINUTE)
    opened, resolved = fanned_out(incident, "opened", "resolved")
    deliver_notification.apply(args=[opened])
    deliver_notification.apply(args=[resolved])
    receiver.plan_by_event = {}

    delivery_retry(delivery_id=opened, user=alice)
    deliver_notification.apply(args=[opened])

    skipped = Delivery.objects.get(id=opened)
    assert skipped.status == DeliveryStatus.SKIPPED
    assert "Superseded" in skipped.last_error and "'resolved'" in skipped.last_error
    assert [r.json()["event"] for r in receiver.successes] == ["incident.resolved"]
