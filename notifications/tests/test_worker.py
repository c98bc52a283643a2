"""Delivery through a real gevent Celery worker: backoff, Retry-After, dead letters, replay.

The worker runs with NOTIFY_RETRY_BACKOFF=1, NOTIFY_RETRY_BACKOFF_MAX=1 and
NOTIFY_MAX_RETRIES=4 (see the root conftest), so every retry waits 0-1 s.
"""

from __future__ import annotations

import pytest

from conftest import wait_for
from healthmon.celery import app
from lib import task_names
from notifications.models import AttemptOutcome, DeadLetter, Delivery, DeliveryStatus
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SECRET = "s3cret-s3cret-s3cret"


def open_incident_notified(team, receiver_url: str):
    """An incident opened on a monitor with a webhook channel, announced the way incident
    evaluation does it: by task name, on the incidents' side of the contract."""
    monitor = make_monitor(team)
    make_webhook(team, receiver_url, monitors=[monitor])
    incident = make_incident(monitor)
    app.send_task(task_names.NOTIFY_INCIDENT, args=[incident.id, "opened"])
    return incident


def delivery_in(*statuses: str):
    def check():
        delivery = Delivery.objects.first()
        return delivery if delivery and delivery.status in statuses else None

    return check


def test_receiver_failing_three_times_gets_one_successful_delivery_after_backoff(
    task_ledger, alice, receiver
):
    receiver.plan = [(503, {}), (500, {}), (502, {})]

    open_incident_notified(alice.personal_team, receiver.url)

    delivery = wait_for(delivery_in(DeliveryStatus.DELIVERED), timeout=30)
    task_ledger.wait_until_settled()  # a stray retry would have run by now
    assert len(receiver.requests) == 4
    assert len(receiver.successes) == 1
    assert {r.headers["Idempotency-Key"] for r in receiver.requests} == {str(delivery.key)}
    assert all(r.signature_valid(SECRET) for r in receiver.requests)
    assert delivery.attempts == 4
    assert [a.outcome for a in delivery.attempt_log.all()] == [AttemptOutcome.TRANSIENT] * 3 + [
        AttemptOutcome.DELIVERED
    ]
    assert not DeadLetter.objects.exists()


def test_retry_after_is_honoured(celery_worker_process, alice, receiver):
    receiver.plan = [(429, {"Retry-After": "2"})]

    open_incident_notified(alice.personal_team, receiver.url)

    wait_for(delivery_in(DeliveryStatus.DELIVERED), timeout=30)
    first, second = receiver.requests
    # Without Retry-After the worker's backoff would be at most 1 s.
    assert second.at - first.at >= 1.9


def test_always_failing_receiver_is_dead_lettered_and_replay_delivers_once(
    task_ledger, alice, alice_client, receiver
):
    receiver.default = (500, {})

    open_incident_notified(alice.personal_team, receiver.url)

    delivery = wait_for(delivery_in(DeliveryStatus.DEAD), timeout=40)
    assert len(receiver.requests) == 5  # the first try and NOTIFY_MAX_RETRIES=4 retries
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.delivery == delivery
    assert dead_letter.attempts == 5
    assert dead_letter.exception_type == "TransientDeliveryError"
    assert "500" in dead_letter.error

    receiver.default = (200, {})  # the receiver is fixed
    replay = alice_client.post(f"/api/v1/dead-letters/{dead_letter.id}/replay/")
    assert replay.status_code == 202, replay.content
    assert alice_client.post(f"/api/v1/dead-letters/{dead_letter.id}/replay/").status_code == 409

    wait_for(delivery_in(DeliveryStatus.DELIVERED), timeout=30)
    task_ledger.wait_until_settled()  # both replay requests' tasks, and anything they sent
    assert len(receiver.successes) == 1
    assert len(receiver.requests) == 6


def test_duplicate_delivery_messages_send_once(task_ledger, alice, receiver):
    incident = open_incident_notified(alice.personal_team, receiver.url)
    delivery = wait_for(delivery_in(DeliveryStatus.DELIVERED), timeout=30)

    # A broker redelivering the same message (acks late, worker lost, visibility timeout).
    for _ in range(3):
        app.send_task(task_names.DELIVER_NOTIFICATION, args=[delivery.id])
    app.send_task(task_names.NOTIFY_INCIDENT, args=[incident.id, "opened"])
    task_ledger.wait_until_settled()

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_apprise_channel_delivers_from_the_gevent_worker(celery_worker_process, alice, receiver):
    from notifications import services

    monitor = make_monitor(alice.personal_team)
    port = receiver.url.split(":")[2].split("/")[0]
    services.channel_create(
        team=alice.personal_team,
        name="Chat",
        kind="apprise",
        secrets={"url": f"json://127.0.0.1:{port}/chat"},
        monitors=[monitor],
    )
    incident = make_incident(monitor)

    app.send_task(task_names.NOTIFY_INCIDENT, args=[incident.id, "opened"])

    wait_for(delivery_in(DeliveryStatus.DELIVERED), timeout=30)
    [request] = receiver.requests
    assert request.path == "/chat"
    assert request.json()["title"] == "[healthmon] DOWN: Payments API"
