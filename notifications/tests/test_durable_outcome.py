"""What a receiver accepted is written down before anything can send it again: the outcome
survives a database hiccup, and a delivery whose attempt got a 2xx is never resent. The
network side is real (a receiver on 127.0.0.1); only the database failure is simulated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from notifications import services
from notifications.models import AttemptOutcome, Delivery, DeliveryStatus
from notifications.tasks import deliver_notification
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db


def owed(team, receiver) -> int:
    monitor = make_monitor(team)
    make_webhook(team, receiver.url, monitors=[monitor])
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    return delivery_id


@pytest.fixture
def database_down_for(monkeypatch):
    """The first ``n`` writes of an attempt's outcome fail as if PostgreSQL went away."""

    def arrange(n: int) -> None:
        record = services.record_attempt
        left = [n]

        def flaky(delivery, *, attempt):
            if left[0]:
                left[0] -= 1
                raise OperationalError("server closed the connection unexpectedly")
            return record(delivery, attempt=attempt)

        monkeypatch.setattr(services, "record_attempt", flaky)
        monkeypatch.setattr(services, "RECORD_PAUSES", (0.01,) * 5)

    return arrange


def test_a_2xx_is_recorded_through_a_database_hiccup(alice, receiver, database_down_for):
    delivery_id = owed(alice.personal_team, receiver)
    database_down_for(3)

    deliver_notification.apply(args=[delivery_id])

    delivery = Delivery.objects.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [(a.number, a.outcome) for a in delivery.attempt_log.all()] == [
        (1, AttemptOutcome.DELIVERED)
    ]


def test_a_receiver_sees_the_idempotency_key_accepted_once_after_a_database_hiccup(
    alice, receiver, database_down_for, settings
):
    delivery_id = owed(alice.personal_team, receiver)
    database_down_for(3)
    deliver_notification.apply(args=[delivery_id])

    # Everything that could send it again: a redelivered message after the lease lapsed.
    later = timezone.now() + timedelta(seconds=settings.NOTIFY_SENDING_LEASE + 1)
    assert services.delivery_claim(delivery_id=delivery_id, now=later) is None
    deliver_notification.apply(args=[delivery_id])

    keys = [r.headers["Idempotency-Key"] for r in receiver.successes]
    assert keys == [str(Delivery.objects.get(id=delivery_id).key)]


def test_an_attempt_accepted_by_a_worker_that_lost_its_claim_is_not_sent_again(
    alice, receiver, settings
):
    delivery_id = owed(alice.personal_team, receiver)
    stalled = services.delivery_claim(delivery_id=delivery_id)
    later = timezone.now() + timedelta(seconds=settings.NOTIFY_SENDING_LEASE + 1)
    holder = services.delivery_claim(delivery_id=delivery_id, now=later)
    # The stalled worker's send went through after all; it may log it, not change the status.
    services.record_attempt(
        stalled,
        attempt=services.AttemptRecord(later, 12, AttemptOutcome.DELIVERED, 200, ""),
    )
    assert Delivery.objects.get(id=delivery_id).status == DeliveryStatus.SENDING

    services.delivery_attempt(delivery=holder)

    delivery = Delivery.objects.get(id=delivery_id)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.response_code == 200
    assert receiver.requests == []


def test_an_outcome_the_database_refused_longer_is_carried_by_the_retry_not_sent_again(
    alice, receiver, database_down_for
):
    delivery_id = owed(alice.personal_team, receiver)
    database_down_for(8)  # longer than the 6 tries of one run: the retry message carries it

    deliver_notification.apply(args=[delivery_id])

    delivery = Delivery.objects.get(id=delivery_id)
    assert len(receiver.requests) == 1
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [(a.number, a.outcome) for a in delivery.attempt_log.all()] == [
        (1, AttemptOutcome.DELIVERED)
    ]


def test_a_carried_outcome_already_in_the_log_is_not_written_twice(
    alice, receiver, database_down_for
):
    delivery_id = owed(alice.personal_team, receiver)
    deliver_notification.apply(args=[delivery_id])
    [attempt] = Delivery.objects.get(id=delivery_id).attempt_log.all()
    carried = {
        "claim": 1,
        "started_at": attempt.started_at.isoformat(),
        "duration_ms": attempt.duration_ms,
        "outcome": attempt.outcome,
        "response_code": 200,
        "error": "",
    }

    assert services.delivery_record_carried(delivery_id=delivery_id, carried=carried) is None
    assert Delivery.objects.get(id=delivery_id).attempt_log.count() == 1
