"""Deliveries stuck in "sending": taken over by the sweep, retried by an operator from the
API, the admin and the CLI (one service), against real receivers on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, Role, User
from notifications import redelivery, services
from notifications.models import DeadLetter, Delivery, DeliveryStatus
from notifications.tasks import deliver_notification, requeue_stalled_deliveries
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db


def owed(team, receiver, name: str = "Payments API") -> int:
    monitor = make_monitor(team, name=name)
    make_webhook(team, receiver.url, monitors=[monitor], name=f"Hook of {name}")
    [delivery_id] = services.deliveries_owed(incident_id=make_incident(monitor).id, event="opened")
    return delivery_id


def stuck_sending(team, receiver, settings, name: str = "Payments API") -> int:
    """A delivery whose worker died mid-send, longer than the lease ago."""
    delivery_id = owed(team, receiver, name)
    long_ago = timezone.now() - timedelta(seconds=settings.NOTIFY_SENDING_LEASE + 5)
    assert services.delivery_claim(delivery_id=delivery_id, now=long_ago) is not None
    Delivery.objects.filter(id=delivery_id).update(queued_at=long_ago)
    return delivery_id


def test_the_sweep_takes_over_a_delivery_stuck_sending_past_its_lease(
    alice, receiver, eager, settings, django_capture_on_commit_callbacks
):
    stuck = stuck_sending(alice.personal_team, receiver, settings)
    in_lease = owed(alice.personal_team, receiver, "Search API")
    services.delivery_claim(delivery_id=in_lease)  # a live worker is sending it now

    with django_capture_on_commit_callbacks(execute=True):
        result = requeue_stalled_deliveries.apply()

    assert result.result == 1
    delivery = Delivery.objects.get(id=stuck)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 2
    assert Delivery.objects.get(id=in_lease).status == DeliveryStatus.SENDING
    assert len(receiver.requests) == 1


def test_beat_runs_the_sweep_every_notify_sweep_interval_seconds():
    # Read when the Celery app is imported, as beat does: a fresh interpreter.
    show = (
        "from healthmon.celery import app; "
        "print(app.conf.beat_schedule['requeue-stalled-deliveries']['schedule'])"
    )
    env = {**os.environ, "DEBUG": "true", "NOTIFY_SWEEP_INTERVAL": "7"}

    run = subprocess.run(
        [sys.executable, "-c", show], env=env, capture_output=True, text=True, check=True
    )

    assert run.stdout.strip() == "7.0"


# --- The service --------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "dead", "stuck sending", "pending"])
def test_an_undelivered_delivery_is_retried_and_delivered_once(
    status, alice, receiver, eager, settings, django_capture_on_commit_callbacks
):
    if status == "stuck sending":
        delivery_id = stuck_sending(alice.personal_team, receiver, settings)
    else:
        delivery_id = owed(alice.personal_team, receiver)
    if status in ("failed", "dead"):
        services.delivery_claim(delivery_id=delivery_id).mark_failed(response_code=503, error="x")
    if status == "dead":
        Delivery.objects.dead_letter(delivery_id)

    with django_capture_on_commit_callbacks(execute=True):
        redelivery.delivery_retry(delivery_id=delivery_id, user=alice)

    assert Delivery.objects.get(id=delivery_id).status == DeliveryStatus.DELIVERED
    assert len(receiver.successes) == 1


@pytest.mark.parametrize("status", [DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED])
def test_a_finished_delivery_is_not_retried(status, alice, receiver):
    delivery_id = owed(alice.personal_team, receiver)
    claimed = services.delivery_claim(delivery_id=delivery_id)
    if status == DeliveryStatus.DELIVERED:
        claimed.mark_delivered(response_code=200, now=timezone.now())
    else:
        claimed.mark_skipped(reason="The channel is disabled.")

    with pytest.raises(redelivery.DeliveryNotRetryable, match=f"is {status}; nothing to retry"):
        redelivery.delivery_retry(delivery_id=delivery_id)
    assert Delivery.objects.get(id=delivery_id).status == status


def test_a_delivery_being_sent_within_its_lease_is_not_retried(alice, receiver):
    delivery_id = owed(alice.personal_team, receiver)
    services.delivery_claim(delivery_id=delivery_id)

    with pytest.raises(redelivery.DeliveryNotRetryable, match="being sent right now"):
        redelivery.delivery_retry(delivery_id=delivery_id)


def test_retrying_a_dead_delivery_counts_as_the_replay_of_its_dead_letter(
    alice, receiver, eager, django_capture_on_commit_callbacks
):
    receiver.plan = [(404, {})]
    delivery_id = owed(alice.personal_team, receiver)
    deliver_notification.apply(args=[delivery_id])
    assert Delivery.objects.get(id=delivery_id).status == DeliveryStatus.DEAD

    with django_capture_on_commit_callbacks(execute=True):
        redelivery.delivery_retry(delivery_id=delivery_id, user=alice)

    dead_letter = DeadLetter.objects.get()
    assert dead_letter.replayed_by == alice
    with pytest.raises(CommandError, match="already replayed"):
        call_command("deadletters", "replay", str(dead_letter.id))
    assert len(receiver.successes) == 1


# --- API, admin, CLI ------------------------------------------------------------------------


def test_api_retry_by_a_team_admin_delivers_a_failed_delivery(
    make_member, receiver, eager, django_capture_on_commit_callbacks
):
    team, _, client = make_member(Role.ADMIN)
    delivery_id = owed(team, receiver)
    services.delivery_claim(delivery_id=delivery_id).mark_failed(response_code=503, error="x")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/deliveries/{delivery_id}/retry/")

    assert response.status_code == 202
    assert response.json()["id"] == delivery_id
    assert Delivery.objects.get(id=delivery_id).status == DeliveryStatus.DELIVERED
    entry = AuditEntry.objects.get(action="retry")
    assert (entry.team_id, entry.object_id) == (team.id, delivery_id)


def test_api_retry_of_a_delivered_delivery_is_a_conflict_with_the_reason(
    alice, alice_client, receiver
):
    delivery_id = owed(alice.personal_team, receiver)
    services.delivery_claim(delivery_id=delivery_id).mark_delivered(
        response_code=200, now=timezone.now()
    )

    response = alice_client.post(f"/api/v1/deliveries/{delivery_id}/retry/")

    assert response.status_code == 409
    assert response.json()["detail"] == f"Delivery {delivery_id} is delivered; nothing to retry."


@pytest.mark.parametrize(("role", "expected"), [(Role.EDITOR, 403), (None, 404)])
def test_api_retry_needs_the_admin_role_of_the_team(
    role, expected, make_member, bob_client, receiver
):
    team, _, client = make_member(role or Role.ADMIN)
    delivery_id = owed(team, receiver)
    services.delivery_claim(delivery_id=delivery_id).mark_failed(response_code=503, error="x")

    response = (client if role else bob_client).post(f"/api/v1/deliveries/{delivery_id}/retry/")

    assert response.status_code == expected
    assert Delivery.objects.get(id=delivery_id).status == DeliveryStatus.FAILED


def test_admin_action_retries_the_selected_deliveries(
    alice, receiver, eager, settings, django_capture_on_commit_callbacks
):
    stuck = stuck_sending(alice.personal_team, receiver, settings)
    staff = Client()
    staff.force_login(User.objects.create_superuser(email="root@example.com", password="pw-Long-1"))

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/admin/notifications/delivery/",
            {"action": "retry", "_selected_action": [stuck]},
            follow=True,
        )

    assert "Retried 1 deliveries." in response.content.decode()
    assert Delivery.objects.get(id=stuck).status == DeliveryStatus.DELIVERED


def test_command_retries_every_undelivered_delivery_of_a_team(
    alice, bob, receiver, eager, settings, django_capture_on_commit_callbacks, capsys
):
    stuck = stuck_sending(alice.personal_team, receiver, settings)
    failed = owed(alice.personal_team, receiver, "Search API")
    services.delivery_claim(delivery_id=failed).mark_failed(response_code=503, error="x")
    other_team = owed(bob.personal_team, receiver, "Bob's API")

    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "deliveries", "retry", "--all-undelivered", "--team", str(alice.personal_team.id)
        )

    assert "Retried 2 deliveries." in capsys.readouterr().out
    statuses = dict(Delivery.objects.values_list("id", "status"))
    assert statuses == {
        stuck: DeliveryStatus.DELIVERED,
        failed: DeliveryStatus.DELIVERED,
        other_team: DeliveryStatus.PENDING,
    }


def test_command_retries_one_by_id_and_says_why_another_was_refused(
    alice, receiver, eager, settings, django_capture_on_commit_callbacks, capsys
):
    stuck = stuck_sending(alice.personal_team, receiver, settings)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("deliveries", "retry", str(stuck))
    with pytest.raises(CommandError, match=f"Delivery {stuck} is delivered; nothing to retry"):
        call_command("deliveries", "retry", str(stuck))

    assert "Retried 1 delivery." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["retry"], "IDs or --all-undelivered"),
        (["retry", "1", "--all-undelivered"], "IDs or --all-undelivered"),
        (["retry", "1", "--team", "1"], "--team goes with --all-undelivered"),
        (["retry", "999999"], "no such delivery"),
    ],
)
def test_command_errors_are_one_line_and_non_zero(argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("deliveries", *argv)
