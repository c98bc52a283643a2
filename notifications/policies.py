"""Notification policies: grouping, reminders and escalation (README: "Grouping, reminders
and escalation").

All three are scheduled, idempotent work on indexed deadline columns, claimed by one beat
task (``dispatch_due_policies``) with ``SELECT ... FOR UPDATE SKIP LOCKED`` as the check
dispatcher claims monitors; nothing sleeps and no task waits on a long countdown.

- **Grouping** (per channel, ``group_window_seconds``, default 30, 0 = off). The first event
  of a quiet channel goes out at once: a single alert is never delayed by grouping. An event
  of *another* incident arriving within the window after the channel's last event is held
  (status ``held``), and so is everything after it, until the window since the first held
  one ends (``ChannelGroupState.due_at``); then the held deliveries go out as one message,
  sent by the oldest (the carrier, ``sent_in`` = itself) and recorded on every member
  (``sent_in`` = the carrier). The trade-off: a storm costs one immediate message plus one
  per window, instead of one per incident; a lone alert costs nothing.
- **Reminders** (per channel, ``reminder_interval_minutes``, 0 = off, at most
  ``reminder_max``): an open, unacknowledged incident is repeated to the channels that got
  its "opened" message, every interval after it opened.
- **Escalation** (``EscalationPolicy`` of the monitor, else the team's default): stage k's
  channels get the incident ``after_minutes`` after it opened, if still unacknowledged.

Acknowledging or resolving an incident ends its reminders and escalation (``FollowUp.due_at``
becomes null), and a reminder or escalation still queued when that happens is skipped.
Every delivery made here has a unique (incident, channel, purpose, round), so a redelivered
or repeated dispatch never sends one twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident, IncidentEvent
from notifications.messages import follow_up_payload
from notifications.models import (
    IN_FLIGHT,
    Channel,
    ChannelGroupState,
    Delivery,
    DeliveryPurpose,
    DeliveryStatus,
    EscalationPolicy,
    FollowUp,
    MonitorEscalation,
)

# --- Grouping -------------------------------------------------------------------------------


def must_hold(
    *,
    state: ChannelGroupState,
    incident_id: int,
    window: int,
    now: datetime,
) -> bool:
    """Whether a new delivery to a channel waits for its grouping window (pure).

    It waits when a group is already collecting, or when the channel's last event belonged
    to another incident less than ``window`` seconds ago; a channel's first event, and the
    later events of the same incident on a quiet channel, go out at once."""
    if window <= 0:
        return False
    if state.due_at is not None:
        return True
    return (
        state.last_event_at is not None
        and state.last_incident_id != incident_id
        and now - state.last_event_at < timedelta(seconds=window)
    )


def initial_statuses(
    *, channels: Iterable[Channel], incident_id: int, now: datetime
) -> dict[int, str]:
    """The status each channel's new delivery starts in: pending, or held for its group.

    Must run in the transaction that creates the deliveries: it locks the channels'
    grouping state (in channel id order, so two fan-outs cannot deadlock), so that of two
    incidents fanned out at the same moment the second sees the first."""
    statuses: dict[int, str] = {}
    for channel in sorted(channels, key=lambda c: c.id):
        if channel.group_window_seconds <= 0:
            statuses[channel.id] = DeliveryStatus.PENDING
            continue
        state, _ = ChannelGroupState.objects.select_for_update().get_or_create(
            channel_id=channel.id
        )
        hold = must_hold(
            state=state,
            incident_id=incident_id,
            window=channel.group_window_seconds,
            now=now,
        )
        if hold and state.due_at is None:
            state.due_at = now + timedelta(seconds=channel.group_window_seconds)
        state.last_event_at, state.last_incident_id = now, incident_id
        state.save(update_fields=["due_at", "last_event_at", "last_incident_id"])
        statuses[channel.id] = DeliveryStatus.HELD if hold else DeliveryStatus.PENDING
    return statuses


def groups_release_due(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Release the held deliveries of every channel whose window ended; return the ids to
    enqueue (one per group: its carrier; or the lone delivery).

    A held delivery whose incident still has an earlier event on its way to the channel
    outside this group stays held (opened before resolved) and is looked at again after
    NOTIFY_ORDER_RECHECK seconds."""
    now = now or timezone.now()
    to_send: list[int] = []
    with transaction.atomic():
        states = list(
            ChannelGroupState.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at")[:limit]
        )
        for state in states:
            ready, waiting = _held_split(state.channel_id)
            if len(ready) == 1:
                Delivery.objects.release(ready, carrier_id=None, now=now)
                to_send.append(ready[0])
            elif ready:
                Delivery.objects.release(ready, carrier_id=ready[0], now=now)
                to_send.append(ready[0])
            recheck = timedelta(seconds=settings.NOTIFY_ORDER_RECHECK)
            state.due_at = now + recheck if waiting else None
            state.save(update_fields=["due_at"])
    return to_send


def _held_split(channel_id: int) -> tuple[list[int], list[int]]:
    """Held delivery ids of a channel, oldest first: (free to go now, must still wait)."""
    held = list(
        Delivery.objects.filter(channel_id=channel_id, status=DeliveryStatus.HELD)
        .order_by("created_at", "id")
        .values_list("id", "incident_id", "sequence")
    )
    if not held:
        return [], []
    blocking: dict[int, int] = {}  # incident -> lowest sequence still in flight, not held
    for incident_id, sequence in Delivery.objects.filter(
        channel_id=channel_id,
        incident_id__in={incident_id for _, incident_id, _ in held},
        status__in=IN_FLIGHT - {DeliveryStatus.HELD},
    ).values_list("incident_id", "sequence"):
        blocking[incident_id] = min(sequence, blocking.get(incident_id, sequence))
    ready: list[int] = []
    waiting: list[int] = []
    for delivery_id, incident_id, sequence in held:
        blocked = incident_id in blocking and blocking[incident_id] < sequence
        (waiting if blocked else ready).append(delivery_id)
    return ready, waiting


# --- Reminders and escalation ------------------------------------------------------------


def escalation_policy_for(incident: Incident) -> EscalationPolicy | None:
    """The monitor's own policy, else the team's default, else none."""
    if incident.monitor_id is not None:
        link = MonitorEscalation.objects.filter(monitor_id=incident.monitor_id).first()
        if link is not None:
            return EscalationPolicy.objects.get(id=link.policy_id)
    return EscalationPolicy.objects.filter(team_id=incident.team_id, is_default=True).first()


def follow_ups_schedule(*, incident: Incident, channels: Iterable[Channel]) -> None:
    """On "opened": the first reminder of each channel with a reminder policy, and the
    first stage of the incident's escalation policy. Idempotent (one row per incident and
    channel, or per incident for escalation)."""
    if not incident.is_open or incident.acknowledged_at is not None:
        return
    rows = [
        FollowUp(
            incident=incident,
            kind=FollowUp.Kind.REMINDER,
            channel=channel,
            due_at=incident.opened_at + timedelta(minutes=channel.reminder_interval_minutes),
        )
        for channel in channels
        if channel.reminder_interval_minutes > 0 and channel.reminder_max > 0
    ]
    policy = escalation_policy_for(incident)
    first = policy.stages.order_by("position").first() if policy else None
    if first is not None:
        rows.append(
            FollowUp(
                incident=incident,
                kind=FollowUp.Kind.ESCALATION,
                policy=policy,
                due_at=incident.opened_at + timedelta(minutes=first.after_minutes),
            )
        )
    FollowUp.objects.bulk_create(rows, ignore_conflicts=True)


def follow_ups_stop(*, incident_id: int) -> int:
    """Acknowledged or resolved: no more reminders or escalation for this incident."""
    return FollowUp.objects.filter(incident_id=incident_id, due_at__isnull=False).update(
        due_at=None
    )


def escalated_channels(*, incident_id: int) -> list[Channel]:
    """Channels an escalation reached: they hear how the incident ends, too."""
    return list(
        Channel.objects.filter(
            deliveries__incident_id=incident_id,
            deliveries__purpose=DeliveryPurpose.ESCALATION,
        ).distinct()
    )


def follow_up_outdated(delivery: Delivery) -> str | None:
    """Why a reminder or escalation must not go out any more (checked just before sending)."""
    if delivery.purpose == DeliveryPurpose.EVENT:
        return None
    incident = Incident.objects.filter(id=delivery.incident_id).first()
    if incident is None or not incident.is_open:
        return "The incident was resolved before this went out."
    if incident.acknowledged_at is not None:
        return "The incident was acknowledged before this went out."
    return None


def follow_ups_due(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Send what is due: the next reminder of each due reminder row, the next stage of each
    due escalation. Returns the delivery ids to enqueue (held ones wait for their group)."""
    now = now or timezone.now()
    to_send: list[int] = []
    with transaction.atomic():
        due = list(
            FollowUp.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "incident__team", "incident__monitor", "incident__acknowledged_by", "channel"
            )
            .filter(due_at__lte=now)
            .order_by("due_at")[:limit]
        )
        for follow_up in due:
            incident = follow_up.incident
            if not incident.is_open or incident.acknowledged_at is not None:
                follow_up.due_at = None
            elif follow_up.kind == FollowUp.Kind.REMINDER:
                to_send += _remind(follow_up, now=now)
            else:
                to_send += _escalate(follow_up, now=now)
            follow_up.save(update_fields=["done", "due_at"])
    return to_send


def _remind(follow_up: FollowUp, *, now: datetime) -> list[int]:
    channel = follow_up.channel
    if (
        channel is None
        or not channel.wants(IncidentEvent.OPENED)
        or channel.reminder_interval_minutes <= 0
        or follow_up.done >= channel.reminder_max
    ):
        follow_up.due_at = None
        return []
    follow_up.done += 1
    payload = follow_up_payload(
        follow_up.incident,
        purpose=DeliveryPurpose.REMINDER,
        occurred_at=now,
        detail={"number": follow_up.done, "max": channel.reminder_max},
    )
    ids = _deliveries_create(
        follow_up.incident, [channel], DeliveryPurpose.REMINDER, follow_up.done, payload, now
    )
    interval = timedelta(minutes=channel.reminder_interval_minutes)
    following = (follow_up.due_at or now) + interval
    if following <= now:  # the dispatcher was away: do not fire the missed ones at once
        following = now + interval
    follow_up.due_at = following if follow_up.done < channel.reminder_max else None
    return ids


def _escalate(follow_up: FollowUp, *, now: datetime) -> list[int]:
    stages = (
        list(follow_up.policy.stages.order_by("position").prefetch_related("channels"))
        if follow_up.policy
        else []
    )
    if follow_up.done >= len(stages):
        follow_up.due_at = None
        return []
    stage = stages[follow_up.done]
    follow_up.done += 1
    assert follow_up.policy is not None  # stages is empty otherwise
    payload = follow_up_payload(
        follow_up.incident,
        purpose=DeliveryPurpose.ESCALATION,
        occurred_at=now,
        detail={
            "policy": follow_up.policy.name,
            "stage": stage.position,
            "after_minutes": stage.after_minutes,
        },
    )
    channels = [channel for channel in stage.channels.all() if channel.enabled]
    ids = _deliveries_create(
        follow_up.incident, channels, DeliveryPurpose.ESCALATION, stage.position, payload, now
    )
    if follow_up.done < len(stages):
        following = follow_up.incident.opened_at + timedelta(
            minutes=stages[follow_up.done].after_minutes
        )
        follow_up.due_at = max(following, now)
    else:
        follow_up.due_at = None
    return ids


def _deliveries_create(
    incident: Incident,
    channels: list[Channel],
    purpose: str,
    round_: int,
    payload: dict,
    now: datetime,
) -> list[int]:
    """One delivery per channel, once (unique incident, channel, purpose, round); the ids
    still pending, to enqueue."""
    if not channels:
        return []
    statuses = initial_statuses(channels=channels, incident_id=incident.id, now=now)
    Delivery.objects.bulk_create(
        [
            Delivery(
                incident=incident,
                channel=channel,
                channel_name=channel.name,
                channel_kind=channel.kind,
                event=IncidentEvent.OPENED,
                purpose=purpose,
                round=round_,
                sequence=1,  # an "opened" message: a later "resolved" waits for it
                status=statuses[channel.id],
                payload=payload,
            )
            for channel in channels
        ],
        ignore_conflicts=True,
    )
    return list(
        Delivery.objects.filter(
            incident=incident,
            purpose=purpose,
            round=round_,
            channel__in=channels,
            status=DeliveryStatus.PENDING,
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
