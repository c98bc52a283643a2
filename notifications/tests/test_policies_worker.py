"""Grouping, reminders and escalation end to end: fan-outs and deliveries on a real Celery
worker, a real webhook receiver counting messages, and the policy dispatcher
(``dispatch_due_policies``) run in this process with its clock moved by time-machine."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db.models import F
from django.utils import timezone

from conftest import wait_for
from healthmon.celery import app
from incidents.services import incident_acknowledge
from lib import task_names
from notifications.escalation import StageSpec, escalation_policy_create
from notifications.models import Delivery, DeliveryPurpose, DeliveryStatus, FollowUp
from notifications.policies import follow_ups_due
from notifications.tasks import deliver_notification, dispatch_due_policies
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def announce(incident, event: str = "opened") -> None:
    """What incident evaluation does after its commit: a notify task, by name."""
    app.send_task(task_names.NOTIFY_INCIDENT, args=[incident.id, event])


def all_delivered(count: int):
    def check():
        rows = list(Delivery.objects.all())
        done = len(rows) == count and all(r.status == DeliveryStatus.DELIVERED for r in rows)
        return rows if done else None

    return check


def dispatch_at(moment) -> int:
    """One run of the beat task at ``moment`` (this process's clock; the worker keeps its
    own, which only sends what the dispatch enqueued)."""
    with time_machine.travel(moment, tick=False):
        return dispatch_due_policies()


def events_received(receiver) -> list[str]:
    return [r.headers["Healthmon-Event"] for r in receiver.requests]


# --- Grouping -------------------------------------------------------------------------------


def test_ten_monitors_down_within_the_window_send_one_single_and_one_grouped_message(
    task_ledger, alice, receiver
):
    team = alice.personal_team
    monitors = [make_monitor(team, name=f"api-{n}") for n in range(10)]
    make_webhook(team, receiver.url, monitors=monitors)  # group_window_seconds=30 (default)

    incidents = [make_incident(monitor) for monitor in monitors]
    for incident in incidents:
        announce(incident)
    wait_for(lambda: Delivery.objects.count() == 10)
    task_ledger.wait_until_settled()
    # The quiet channel's first alert went at once; the nine after it wait for the window.
    assert events_received(receiver) == ["incident.opened"]
    assert Delivery.objects.filter(status=DeliveryStatus.HELD).count() == 9

    dispatch_at(timezone.now() + timedelta(seconds=31))

    rows = wait_for(all_delivered(10))
    task_ledger.wait_until_settled()
    assert events_received(receiver) == ["incident.opened", "incident.grouped"]
    grouped = receiver.requests[1].json()
    assert grouped["count"] == 9
    assert grouped["summary"] == "9 monitors down"
    carrier = Delivery.objects.get(key=receiver.requests[1].headers["Idempotency-Key"])
    members = [row for row in rows if row.sent_in_id == carrier.id]
    assert len(members) == 9  # the carrier points at itself
    assert {m["incident"]["id"] for m in grouped["grouped"]} == {m.incident_id for m in members}
    assert all(m.delivered_at is not None and m.response_code == 200 for m in members)


def test_a_busy_channel_groups_all_ten_incidents_into_one_message(task_ledger, alice, receiver):
    team = alice.personal_team
    gateway = make_monitor(team, name="gateway")
    monitors = [make_monitor(team, name=f"api-{n}") for n in range(10)]
    make_webhook(team, receiver.url, monitors=[gateway, *monitors])
    announce(make_incident(gateway))
    wait_for(all_delivered(1))

    for monitor in monitors:
        announce(make_incident(monitor))
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.HELD).count() == 10)
    dispatch_at(timezone.now() + timedelta(seconds=31))

    rows = wait_for(all_delivered(11))
    task_ledger.wait_until_settled()
    assert events_received(receiver) == ["incident.opened", "incident.grouped"]
    assert receiver.requests[1].json()["count"] == 10
    carrier_id = Delivery.objects.get(key=receiver.requests[1].headers["Idempotency-Key"]).id
    assert sum(1 for row in rows if row.sent_in_id == carrier_id) == 10


def test_a_dead_lettered_group_shows_on_every_member_and_its_replay_delivers_all(
    task_ledger, alice, alice_client, receiver
):
    team = alice.personal_team
    gateway = make_monitor(team, name="gateway")
    monitors = [make_monitor(team, name=f"api-{n}") for n in range(3)]
    make_webhook(team, receiver.url, monitors=[gateway, *monitors])
    announce(make_incident(gateway))
    wait_for(all_delivered(1))
    receiver.default = (500, {})
    for monitor in monitors:
        announce(make_incident(monitor))
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.HELD).count() == 3)

    dispatch_at(timezone.now() + timedelta(seconds=31))

    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == 3, timeout=40)
    task_ledger.wait_until_settled()
    receiver.default = (200, {})
    carrier = Delivery.objects.get(sent_in=F("id"))
    letter = carrier.dead_letters.get()
    response = alice_client.post(f"/api/v1/dead-letters/{letter.id}/replay/")
    assert response.status_code == 202

    wait_for(all_delivered(4))
    task_ledger.wait_until_settled()
    assert len(receiver.successes) == 2  # the gateway's alert, then the group once


# --- Reminders ------------------------------------------------------------------------------


def test_reminders_repeat_an_unacknowledged_incident_at_most_reminder_max_times(
    task_ledger, alice, receiver
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(
        alice.personal_team,
        receiver.url,
        monitors=[monitor],
        reminder_interval_minutes=5,
        reminder_max=2,
    )
    incident = make_incident(monitor)
    announce(incident)
    wait_for(all_delivered(1))

    for minutes in (5, 10, 15, 20):
        dispatch_at(incident.opened_at + timedelta(minutes=minutes, seconds=1))
    wait_for(all_delivered(3))
    task_ledger.wait_until_settled()

    assert events_received(receiver) == [
        "incident.opened",
        "incident.reminder",
        "incident.reminder",
    ]
    assert [r.json()["reminder"] for r in receiver.requests[1:]] == [
        {"number": 1, "max": 2},
        {"number": 2, "max": 2},
    ]
    assert FollowUp.objects.get().due_at is None


def test_a_redelivered_dispatch_or_delivery_never_doubles_a_reminder(task_ledger, alice, receiver):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor], reminder_interval_minutes=5)
    incident = make_incident(monitor)
    announce(incident)
    wait_for(all_delivered(1))
    moment = incident.opened_at + timedelta(minutes=5, seconds=1)

    dispatch_at(moment)
    FollowUp.objects.update(due_at=moment, done=0)  # as if the first run's commit was lost
    dispatch_at(moment)
    dispatch_at(moment)
    reminder = wait_for(all_delivered(2))[0]
    deliver_notification.delay(reminder.id)  # the broker hands the delivery out twice more
    deliver_notification.delay(reminder.id)
    task_ledger.wait_until_settled()

    assert events_received(receiver) == ["incident.opened", "incident.reminder"]
    assert Delivery.objects.filter(purpose=DeliveryPurpose.REMINDER).count() == 1


# --- Escalation and acknowledgement ---------------------------------------------------------


def escalating_setup(team, receiver):
    monitor = make_monitor(team)
    make_webhook(
        team, receiver.url + "?to=ops", monitors=[monitor], name="ops", reminder_interval_minutes=5
    )
    lead = make_webhook(team, receiver.url + "?to=lead", name="lead")
    cto = make_webhook(team, receiver.url + "?to=cto", name="cto")
    escalation_policy_create(
        team=team,
        name="Payments on-call",
        stages=[StageSpec(10, [lead]), StageSpec(30, [cto])],
        is_default=True,
    )
    return monitor


def received_by(receiver, who: str) -> list[str]:
    return [r.headers["Healthmon-Event"] for r in receiver.requests if r.path.endswith(f"to={who}")]


def test_escalation_reaches_stage_two_channels_after_their_minutes_and_hears_the_end(
    task_ledger, alice, receiver
):
    monitor = escalating_setup(alice.personal_team, receiver)
    incident = make_incident(monitor)
    announce(incident)
    wait_for(all_delivered(1))

    dispatch_at(incident.opened_at + timedelta(minutes=9))
    task_ledger.wait_until_settled()
    assert received_by(receiver, "lead") == []
    dispatch_at(incident.opened_at + timedelta(minutes=10, seconds=1))
    wait_for(lambda: received_by(receiver, "lead") == ["incident.escalated"])
    dispatch_at(incident.opened_at + timedelta(minutes=29))
    task_ledger.wait_until_settled()
    assert received_by(receiver, "cto") == []
    dispatch_at(incident.opened_at + timedelta(minutes=30, seconds=1))
    wait_for(lambda: received_by(receiver, "cto") == ["incident.escalated"])
    assert receiver.requests[-1].json()["escalation"] == {
        "policy": "Payments on-call",
        "stage": 2,
        "after_minutes": 30,
    }

    incident.resolved_at = timezone.now()
    incident.save(update_fields=["resolved_at"])
    announce(incident, "resolved")
    wait_for(lambda: received_by(receiver, "cto")[-1:] == ["incident.resolved"])
    wait_for(lambda: received_by(receiver, "lead")[-1:] == ["incident.resolved"])


def test_acknowledging_stops_reminders_and_escalation(task_ledger, alice, receiver):
    monitor = escalating_setup(alice.personal_team, receiver)
    incident = make_incident(monitor)
    announce(incident)
    wait_for(all_delivered(1))

    incident_acknowledge(incident=incident, user=alice)
    wait_for(lambda: received_by(receiver, "ops") == ["incident.opened", "incident.acknowledged"])
    for minutes in (5, 10, 15, 30, 60):
        dispatch_at(incident.opened_at + timedelta(minutes=minutes, seconds=1))
    task_ledger.wait_until_settled()

    assert received_by(receiver, "ops") == ["incident.opened", "incident.acknowledged"]
    assert received_by(receiver, "lead") == received_by(receiver, "cto") == []
    assert not FollowUp.objects.filter(due_at__isnull=False).exists()


def test_a_reminder_queued_before_the_acknowledgement_is_skipped_not_sent(
    task_ledger, alice, receiver
):
    monitor = make_monitor(alice.personal_team)
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor], reminder_interval_minutes=5)
    incident = make_incident(monitor)
    announce(incident)
    wait_for(all_delivered(1))
    with time_machine.travel(incident.opened_at + timedelta(minutes=5, seconds=1), tick=False):
        [reminder_id] = follow_ups_due()  # created, not enqueued yet
    incident.acknowledged_at = timezone.now()
    incident.save(update_fields=["acknowledged_at"])

    deliver_notification.delay(reminder_id)
    reminder = wait_for(
        lambda: Delivery.objects.filter(id=reminder_id, status=DeliveryStatus.SKIPPED).first()
    )
    task_ledger.wait_until_settled()

    assert "acknowledged" in reminder.last_error
    assert events_received(receiver) == ["incident.opened"]


def test_deliveries_held_for_a_deleted_channel_are_recorded_as_skipped(
    task_ledger, alice, receiver
):
    from notifications.services import channel_delete

    team = alice.personal_team
    monitors = [make_monitor(team, name=f"api-{n}") for n in range(3)]
    channel = make_webhook(team, receiver.url, monitors=monitors)
    for monitor in monitors:
        announce(make_incident(monitor))
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.HELD).count() == 2)

    channel_delete(channel=channel)

    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.SKIPPED).count() == 2)
    task_ledger.wait_until_settled()
    assert not Delivery.objects.filter(status=DeliveryStatus.HELD).exists()
    assert len(receiver.requests) == 1
