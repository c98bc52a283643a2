"""The notification policies meet the other features: incident updates and flapping notices
are never held for grouping, and an incident opened suppressed (a parent is down) gets no
reminders or escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import IncidentEvent, IncidentUpdate, Suppression
from notifications.escalation import StageSpec, escalation_policy_create
from notifications.models import ChannelGroupState, Delivery, DeliveryStatus, FollowUp
from notifications.services import deliveries_owed
from notifications.tests.conftest import make_incident, make_monitor, make_webhook

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/healthmon"


@pytest.fixture
def busy_channel(alice):
    """A channel with a 30 s window that got another incident's event 5 s ago: a grouped
    event arriving now would be held."""
    team = alice.personal_team
    other, monitor = make_monitor(team, name="Other"), make_monitor(team)
    channel = make_webhook(
        team, URL, monitors=[other, monitor], group_window_seconds=30, send_incident_updates=True
    )
    earlier = make_incident(other)
    ChannelGroupState.objects.create(
        channel=channel,
        last_event_at=timezone.now() - timedelta(seconds=5),
        last_incident_id=earlier.id,
    )
    return channel, monitor


def status_of(incident, event: str) -> str:
    return Delivery.objects.get(incident=incident, event=event).status


def test_an_opened_event_is_held_on_the_busy_channel(busy_channel):
    # The control: the same setup does hold what grouping gathers.
    _, monitor = busy_channel
    incident = make_incident(monitor)

    assert deliveries_owed(incident_id=incident.id, event=IncidentEvent.OPENED) == []
    assert status_of(incident, "opened") == DeliveryStatus.HELD


def test_an_incident_update_goes_at_once_and_leaves_the_group_alone(alice, busy_channel):
    channel, monitor = busy_channel
    incident = make_incident(monitor)
    update = IncidentUpdate.objects.create(
        incident=incident, status="investigating", message="Looking at it", author=alice
    )
    before = ChannelGroupState.objects.get(channel=channel)

    ids = deliveries_owed(incident_id=incident.id, event="update", update_id=update.id)

    delivery = Delivery.objects.get(incident=incident, event="update")
    assert ids == [delivery.id] and delivery.status == DeliveryStatus.PENDING
    after = ChannelGroupState.objects.get(channel=channel)
    assert (after.due_at, after.last_incident_id) == (None, before.last_incident_id)


@pytest.mark.parametrize("event", [IncidentEvent.FLAPPING, IncidentEvent.STABLE])
def test_flapping_and_stable_notices_go_at_once(busy_channel, event):
    channel, monitor = busy_channel
    now = timezone.now()
    incident = make_incident(monitor, flapping_started_at=now, flapping_ended_at=now)

    ids = deliveries_owed(incident_id=incident.id, event=event)

    assert len(ids) == 1 and status_of(incident, event) == DeliveryStatus.PENDING
    assert ChannelGroupState.objects.get(channel=channel).due_at is None


def reminding_setup(team):
    monitor = make_monitor(team)
    channel = make_webhook(
        team, URL, monitors=[monitor], reminder_interval_minutes=5, group_window_seconds=0
    )
    escalation_policy_create(
        team=team, name="On call", stages=[StageSpec(10, [channel])], is_default=True
    )
    return monitor


def test_an_incident_opened_suppressed_by_a_dependency_schedules_no_follow_ups(alice):
    team = alice.personal_team
    monitor = reminding_setup(team)
    parent = make_monitor(team, name="Core switch")
    incident = make_incident(
        monitor,
        suppression=Suppression.DEPENDENCY,
        suppressed_reason="Core switch is down",
        suppressed_by=parent,
    )

    assert deliveries_owed(incident_id=incident.id, event=IncidentEvent.OPENED) == []

    assert not Delivery.objects.filter(incident=incident).exists()
    assert not FollowUp.objects.filter(incident=incident).exists()


def test_the_same_incident_not_suppressed_gets_its_reminder_and_escalation(alice):
    # The control for the test above.
    monitor = reminding_setup(alice.personal_team)
    incident = make_incident(monitor)

    deliveries_owed(incident_id=incident.id, event=IncidentEvent.OPENED)

    kinds = sorted(FollowUp.objects.filter(incident=incident).values_list("kind", flat=True))
    assert kinds == [FollowUp.Kind.ESCALATION, FollowUp.Kind.REMINDER]


def test_a_recovery_replaced_by_the_flapping_notice_still_ends_the_follow_ups(alice):
    monitor = reminding_setup(alice.personal_team)
    incident = make_incident(monitor)
    deliveries_owed(incident_id=incident.id, event=IncidentEvent.OPENED)
    assert FollowUp.objects.filter(incident=incident, due_at__isnull=False).count() == 2
    recovered = timezone.now()
    incident.resolved_at = recovered
    incident.flapping_started_at = recovered  # this recovery started the flapping
    incident.save(update_fields=["resolved_at", "flapping_started_at"])

    assert deliveries_owed(incident_id=incident.id, event=IncidentEvent.RESOLVED) == []

    assert not FollowUp.objects.filter(incident=incident, due_at__isnull=False).exists()
