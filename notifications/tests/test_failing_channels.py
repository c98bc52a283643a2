"""Which channels /health and healthmon_status call failing, and how old the backlog is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import DeadLetter, Delivery, DeliveryStatus
from notifications.selectors import failing_channels, oldest_undelivered_age
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
TOKEN = "Bearer tok-0123456789"


def deliveries(channel, outcomes: list[str], *, error: str = "HTTP 500 (server error)"):
    """One delivery per outcome, oldest first, each attempted a minute after the previous."""
    start = timezone.now() - timedelta(minutes=len(outcomes))
    made = []
    for minute, status in enumerate(outcomes):
        # Resolved: a monitor has one open incident at most.
        incident = make_incident(channel.monitors.first(), resolved_at=timezone.now())
        made.append(
            Delivery.objects.create(
                incident=incident,
                channel=channel,
                channel_name=channel.name,
                channel_kind=channel.kind,
                event="opened",
                payload={},
                status=status,
                attempts=1,
                last_attempt_at=start + timedelta(minutes=minute),
                last_error="" if status == DeliveryStatus.DELIVERED else error,
            )
        )
    return made


@pytest.fixture
def channel(alice):
    monitor = make_monitor(alice.personal_team)
    return make_webhook(
        alice.personal_team,
        "http://127.0.0.1:9/hook",
        monitors=[monitor],
        secrets={"headers": {"Authorization": TOKEN}},
    )


F, D, X = DeliveryStatus.FAILED, DeliveryStatus.DELIVERED, DeliveryStatus.DEAD


@pytest.mark.parametrize(
    ("outcomes", "failing"),
    [([D, F, F, F], True), ([F, F, F, D], False), ([F, F], False), ([D, F, X, F], True)],
)
def test_a_channel_fails_when_its_last_three_attempts_all_failed(channel, outcomes, failing):
    deliveries(channel, outcomes)

    found = failing_channels(now=timezone.now(), failures=3, window=HOUR)

    assert [c.id for c in found] == ([channel.id] if failing else [])


def test_a_dead_letter_in_the_last_hour_makes_a_channel_failing(channel):
    (dead,) = deliveries(channel, [X])
    now = timezone.now()
    DeadLetter.objects.create(
        task_name="notifications.tasks.deliver_notification",
        task_id="t-1",
        exception_type="TransportError",
        error="HTTP 500",
        first_failed_at=now,
        last_failed_at=now,
        delivery=dead,
        team=channel.team,
    )

    (found,) = failing_channels(now=now, failures=3, window=HOUR)

    assert (found.id, found.name, found.dead_letters, found.failed_in_a_row) == (
        channel.id,
        "Ops webhook",
        1,
        1,
    )


def test_the_last_error_shown_is_redacted_of_the_channel_secrets(channel):
    deliveries(channel, [F, F, F], error=f"HTTP 401: header Authorization: {TOKEN} refused")

    (found,) = failing_channels(now=timezone.now(), failures=3, window=HOUR)

    assert "tok-0123456789" not in found.last_error
    assert found.last_error.startswith("HTTP 401")


def test_the_oldest_undelivered_age_ignores_delivered_and_dead_alerts(channel):
    old, _, _ = deliveries(channel, [F, D, X])
    Delivery.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(minutes=30))

    age = oldest_undelivered_age(now=timezone.now())

    assert 29 * 60 < age < 31 * 60
