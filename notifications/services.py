"""Writes for channels and deliveries: create and change channels, fan an incident event out
into deliveries, claim and attempt one delivery, send a test message."""

from __future__ import annotations

import logging
import secrets as secrets_module
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_changes, audit_record, audit_snapshot
from accounts.models import Team, User
from incidents.models import Incident, IncidentEvent, IncidentUpdate
from lib import task_names
from monitors.keys import assign_key
from monitors.models import Monitor
from monitors.quotas import lock_team
from notifications import policies
from notifications.channel_config import validate_channel_monitors, validate_channel_settings
from notifications.hooks import delivery_attempted
from notifications.messages import (
    channel_test_payload,
    grouped_payload,
    incident_payload,
    incident_update_payload,
)
from notifications.models import (
    SENT_ALONE_OR_CARRIES,
    UPDATE_EVENT,
    AttemptOutcome,
    Channel,
    ChannelKind,
    Delivery,
    DeliveryAttempt,
    DeliveryPurpose,
    DeliveryStatus,
    DeliveryTransition,
    IllegalDeliveryTransition,
)
from notifications.quotas import validate_channel_quota
from notifications.selectors import monitors_missing_channel
from notifications.transports import TransportError, redact, transport_for

logger = logging.getLogger(__name__)

# --- Channels -----------------------------------------------------------------------------


def with_generated_signing_secret(kind: str, secrets: dict) -> dict:
    # Every webhook is signed: without a secret of their own, users get a generated one
    # (shown once, in the API's create response).
    if kind == ChannelKind.WEBHOOK and not secrets.get("signing_secret"):
        return {**secrets, "signing_secret": secrets_module.token_urlsafe(32)}
    return secrets


@transaction.atomic
def channel_create(
    *,
    team: Team,
    name: str,
    kind: str,
    config: dict | None = None,
    secrets: dict | None = None,
    enabled: bool = True,
    events: list[str] | None = None,
    is_default: bool = False,
    send_incident_updates: bool = False,
    monitors: list[Monitor] | None = None,
    key: str = "",
    group_window_seconds: int = 30,
    reminder_interval_minutes: int = 0,
    reminder_max: int = 3,
    actor: User | None = None,
) -> Channel:
    lock_team(team.pk)  # two concurrent creates cannot both take the last channel
    validate_channel_quota(team_id=team.pk)
    config, secrets = validate_channel_settings(kind, config or {}, secrets or {}, team_id=team.pk)
    validate_channel_monitors(team_id=team.pk, monitors=monitors or [])
    channel = Channel(
        team=team,
        key=key,
        name=name,
        kind=kind,
        config=config,
        secrets=with_generated_signing_secret(kind, secrets),
        enabled=enabled,
        events=list(events) if events else list(IncidentEvent.values),
        is_default=is_default,
        send_incident_updates=send_incident_updates,
        group_window_seconds=group_window_seconds,
        reminder_interval_minutes=reminder_interval_minutes,
        reminder_max=reminder_max,
    )
    validate_channel_policies(channel)
    assign_key(channel, name=name, fallback="channel")
    channel.save()
    if monitors:
        channel.monitors.set(monitors)
    audit_record(team=team, actor=actor, action="create", obj=channel)
    return channel


POLICY_FIELDS = ("group_window_seconds", "reminder_interval_minutes", "reminder_max")


def validate_channel_policies(channel: Channel) -> None:
    """The grouping and reminder fields within their bounds (``ValidationError`` by field)."""
    others = [field.name for field in Channel._meta.fields if field.name not in POLICY_FIELDS]
    channel.clean_fields(exclude=others)


def merge_secrets(current: dict, changes: dict) -> dict:
    """Secrets are write-only, so an update names only the keys it changes; null removes."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@transaction.atomic
def channel_update(
    *,
    channel: Channel,
    secrets: dict | None = None,
    monitors: list[Monitor] | None = None,
    actor: User | None = None,
    **fields: Any,
) -> Channel:
    before = audit_snapshot(channel)
    for name, value in fields.items():
        setattr(channel, name, value)
    merged = merge_secrets(channel.secrets, secrets or {})
    channel.config, merged = validate_channel_settings(
        channel.kind, channel.config, merged, team_id=channel.team_id
    )
    channel.secrets = with_generated_signing_secret(channel.kind, merged)
    if monitors is not None:
        validate_channel_monitors(team_id=channel.team_id, monitors=monitors)
    validate_channel_policies(channel)
    assign_key(channel, name=channel.name, fallback="channel")
    channel.save()
    if monitors is not None:
        channel.monitors.set(monitors)
    changes = audit_changes(before, audit_snapshot(channel))  # secrets: "changed", no values
    audit_record(team=channel.team, actor=actor, action="update", obj=channel, changes=changes)
    return channel


@transaction.atomic
def channel_delete(*, channel: Channel, actor: User | None = None) -> None:
    audit_record(team=channel.team, actor=actor, action="delete", obj=channel)
    # Deliveries waiting for this channel's grouping window would wait for ever: they go
    # on now, and their worker records them as skipped ("The channel was deleted.").
    held = list(
        Delivery.objects.filter(channel=channel, status=DeliveryStatus.HELD).values_list(
            "id", flat=True
        )
    )
    channel.delete()
    Delivery.objects.release(held, carrier_id=None, now=timezone.now())
    for delivery_id in held:
        transaction.on_commit(
            partial(current_app.send_task, task_names.DELIVER_NOTIFICATION, args=[delivery_id])
        )


@transaction.atomic
def channel_attach_monitors(
    *, channel: Channel, monitors: list[Monitor], actor: User | None = None
) -> int:
    """Add monitors (of the channel's team) to those that alert to ``channel``, keeping the
    others; returns how many were added."""
    validate_channel_monitors(team_id=channel.team_id, monitors=monitors)
    attached = set(channel.monitors.values_list("id", flat=True))
    added = [monitor for monitor in monitors if monitor.pk not in attached]
    if added:
        channel.monitors.add(*added)
        audit_record(
            team=channel.team,
            actor=actor,
            action="update",
            obj=channel,
            changes={"monitors": [len(attached), len(attached) + len(added)]},
        )
    return len(added)


@transaction.atomic
def channel_make_default(
    *, channel: Channel, attach_existing: bool, actor: User | None = None
) -> int:
    """Make ``channel`` a default channel (every new monitor of its team gets it) and, if
    asked, attach it to the team's existing monitors too: being default alone does not
    reach them. Returns how many monitors were attached."""
    if not channel.is_default:
        channel_update(channel=channel, is_default=True, actor=actor)
    if not attach_existing:
        return 0
    missing = list(monitors_missing_channel(channel))
    return channel_attach_monitors(channel=channel, monitors=missing, actor=actor)


def monitor_attach_default_channels(*, monitor: Monitor) -> None:
    channels = list(Channel.objects.filter(team_id=monitor.team_id, is_default=True))
    if channels:
        monitor.channels.add(*channels)


@dataclass(frozen=True)
class TestOutcome:
    delivered: bool
    response_code: int | None
    error: str
    duration_ms: int


def channel_send_test(*, channel: Channel) -> TestOutcome:
    """Send a test message now, in this request, and say what happened; raises
    ``ValidationError`` if the channel is no longer valid (a recipient left the team)."""
    validate_channel_settings(
        channel.kind, channel.config, channel.secrets, team_id=channel.team_id
    )
    payload = channel_test_payload(
        channel_name=channel.name,
        team_id=channel.team_id,
        team_name=channel.team.name,
        occurred_at=timezone.now(),
    )
    transport = transport_for(channel)
    started = time.monotonic()
    try:
        sent = transport.notify(payload, idempotency_key=f"test-{secrets_module.token_hex(16)}")
    except TransportError as exc:
        return TestOutcome(
            delivered=False,
            response_code=exc.response_code,
            error=redact(exc.message, transport.secret_values()),
            duration_ms=_elapsed_ms(started),
        )
    return TestOutcome(True, sent.response_code, "", _elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


# --- Deliveries ---------------------------------------------------------------------------


def _occurred_at(incident: Incident, event: str) -> datetime:
    moment = {
        IncidentEvent.OPENED: incident.opened_at,
        IncidentEvent.RESOLVED: incident.resolved_at,
        IncidentEvent.ACKNOWLEDGED: incident.acknowledged_at,
        IncidentEvent.FLAPPING: incident.flapping_started_at,
        IncidentEvent.STABLE: incident.flapping_ended_at,
    }[IncidentEvent(event)]
    return moment or timezone.now()


# The events of an incident itself; a suppressed incident (incidents.dependencies,
# incidents.flapping) sends none of them until released.
HELD_WHILE_SUPPRESSED = frozenset(
    {IncidentEvent.OPENED, IncidentEvent.RESOLVED, IncidentEvent.ACKNOWLEDGED}
)
STAND_INS = frozenset({IncidentEvent.FLAPPING, IncidentEvent.STABLE})
# The events a channel's grouping window gathers into one message.
GROUPED_EVENTS = frozenset(
    {IncidentEvent.OPENED, IncidentEvent.RESOLVED, IncidentEvent.ACKNOWLEDGED}
)


def deliveries_owed(*, incident_id: int, event: str, update_id: int = 0) -> list[int]:
    """Create the deliveries an incident event owes, once; return the ids still pending.

    Idempotent: the unique (incident, channel, event, update) constraint turns a duplicate or
    retried fan-out into a no-op, and returning every still-pending id lets a retry enqueue
    what an earlier, interrupted run created but did not get to enqueue.

    ``event`` "update" carries the incident update ``update_id`` to the channels that ask for
    updates (``send_incident_updates``), through the same deliveries, retries and dead letters.
    """
    if event not in IncidentEvent.values and event != UPDATE_EVENT:
        known = [*IncidentEvent.values, UPDATE_EVENT]
        raise ValueError(f"unknown incident event {event!r}; expected one of {known}")
    incident = (
        Incident.objects.select_related("team", "monitor", "acknowledged_by")
        .filter(id=incident_id)
        .first()
    )
    if incident is None:
        return []
    if event in (IncidentEvent.RESOLVED, IncidentEvent.ACKNOWLEDGED):
        # Before the early returns below: a recovery that is not sent (suppressed, or
        # replaced by the flapping notice) still ends the incident's reminders/escalation.
        policies.follow_ups_stop(incident_id=incident.id)
    if incident.is_suppressed and event in HELD_WHILE_SUPPRESSED:
        return []  # recorded, sent nowhere (a parent is down, or the monitor is flapping)
    if (
        event == IncidentEvent.RESOLVED
        and incident.flapping_started_at is not None
        and incident.flapping_started_at == incident.resolved_at
    ):
        return []  # this recovery started the flapping: the "flapping" message replaces it
    if incident.monitor_id is None:
        # The monitor was deleted and its channel links with it; its last word ("resolved:
        # monitor deleted") goes to the team's default channels rather than to no one.
        subscribed = Channel.objects.filter(team=incident.team_id, is_default=True)
    else:
        subscribed = Channel.objects.filter(monitors=incident.monitor_id)
    if event == UPDATE_EVENT:
        update = (
            IncidentUpdate.objects.select_related("author")
            .filter(id=update_id, incident=incident)
            .first()
        )
        if update is None:
            return []
        update.incident = incident
        channels = [c for c in subscribed if c.enabled and c.send_incident_updates]
        if not channels:
            return []
        payload = incident_update_payload(update)
    else:
        update_id = 0
        # "flapping" and "stable" stand in for a monitor's opened/resolved messages, so they
        # go wherever "opened" goes too.
        channels = [
            channel
            for channel in subscribed
            if channel.wants(event) or (event in STAND_INS and channel.wants(IncidentEvent.OPENED))
        ]
        if event == IncidentEvent.OPENED:
            policies.follow_ups_schedule(incident=incident, channels=channels)
        else:  # who was escalated to hears the end of it too
            channels += [
                c
                for c in policies.escalated_channels(incident_id=incident.id)
                if c not in channels and c.wants(event)
            ]
        if not channels:
            return []
        payload = incident_payload(incident, event, occurred_at=_occurred_at(incident, event))
    with transaction.atomic():  # the grouping decision is locked until the rows exist
        # Incident events of a channel are grouped (notifications.policies); an update or a
        # flapping notice is its own message.
        statuses = (
            policies.initial_statuses(
                channels=channels, incident_id=incident.id, now=timezone.now()
            )
            if event in GROUPED_EVENTS
            else dict.fromkeys((c.id for c in channels), DeliveryStatus.PENDING)
        )
        Delivery.objects.bulk_create(
            [
                Delivery(
                    incident=incident,
                    channel=channel,
                    channel_name=channel.name,
                    channel_kind=channel.kind,
                    event=event,
                    update_id=update_id,
                    sequence=payload["sequence"],
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
            event=event,
            update_id=update_id,
            purpose=DeliveryPurpose.EVENT,
            channel__in=channels,
            status=DeliveryStatus.PENDING,
        )
        .order_by("id")
        .values_list("id", flat=True)
    )


def deliveries_stalled(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Claim deliveries whose task seems lost, to enqueue them again.

    - Pending or failed, and neither enqueued nor attempted for NOTIFY_STALLED_AFTER (longer
      than any retry countdown): the broker lost the message (a Redis restart without
      persistence, a purge).
    - Sending past NOTIFY_SENDING_LEASE: the worker died mid-send, or Celery dropped its
      late-ack task after a broker connection loss; the message may be gone with Redis'
      data or come back only after the visibility timeout. The enqueued task takes it over.

    Re-enqueueing a delivery whose task does exist is harmless: the claim lets only one of
    them send. SKIP LOCKED and the new ``queued_at`` keep two sweepers from taking the same
    rows.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.NOTIFY_STALLED_AFTER)
    lost = Q(
        Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=cutoff),
        status__in=DeliveryTransition.CLAIM.sources,
        queued_at__lt=cutoff,
    )
    lapsed = now - timedelta(seconds=settings.NOTIFY_SENDING_LEASE)
    abandoned = Q(
        status__in=DeliveryTransition.TAKE_OVER.sources,
        last_attempt_at__lt=lapsed,
        queued_at__lt=lapsed,
    )
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(lost | abandoned)
            .filter(SENT_ALONE_OR_CARRIES)  # a group's members go with their carrier
            .order_by("queued_at")
            .values_list("id", flat=True)[:limit]
        )
        Delivery.objects.filter(id__in=ids).update(queued_at=now)
    return ids


def delivery_claim(*, delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Take a delivery for one attempt (``DeliveryQuerySet.claim``), or None if there is
    nothing to do: of two workers holding the same message, exactly one gets the row."""
    if not Delivery.objects.claim(delivery_id, now=now or timezone.now()):
        return None
    return Delivery.objects.select_related("channel", "channel__team").get(id=delivery_id)


def delivery_lease_remaining(*, delivery_id: int, now: datetime | None = None) -> float | None:
    """Seconds until another worker's claim on a "sending" delivery lapses, else None."""
    row = (
        Delivery.objects.filter(id=delivery_id, status=DeliveryStatus.SENDING)
        .values_list("last_attempt_at", flat=True)
        .first()
    )
    if row is None:
        return None
    expires = row + timedelta(seconds=settings.NOTIFY_SENDING_LEASE)
    return max(0.0, (expires - (now or timezone.now())).total_seconds())


def delivery_held(*, delivery_id: int) -> bool:
    """Whether a delivery whose claim was just refused is still owed by this task: it is
    pending or failed, so an earlier event of its incident to the same channel held it back.

    Not whether that earlier event is still in flight now: it may have been delivered
    between the refused claim and this look, and the delivery, left without a task, would
    wait for the stalled sweep (NOTIFY_STALLED_AFTER) instead of going out right away."""
    return Delivery.objects.filter(
        SENT_ALONE_OR_CARRIES, id=delivery_id, status__in=DeliveryTransition.CLAIM.sources
    ).exists()


@dataclass(frozen=True)
class AttemptRecord:
    """What one attempt did, as it is written to the attempt log."""

    started_at: datetime
    duration_ms: int
    outcome: str
    response_code: int | None
    error: str


def record_attempt(delivery: Delivery, *, attempt: AttemptRecord) -> None:
    """Write the attempt to the log and move the delivery to its outcome, in one transaction.

    A worker whose claim was taken over (its lease lapsed) still logs what its attempt did,
    so that the history is complete and a 2xx is never sent again, but it leaves the status
    to the new holder of the claim.
    """
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            outcome=attempt.outcome,
            response_code=attempt.response_code,
            error=attempt.error,
        )
        try:
            with transaction.atomic():
                if attempt.outcome == AttemptOutcome.DELIVERED:
                    delivery.mark_delivered(response_code=attempt.response_code, now=timezone.now())
                else:
                    delivery.mark_failed(response_code=attempt.response_code, error=attempt.error)
        except IllegalDeliveryTransition as exc:
            logger.warning("attempt %d logged only: %s", delivery.attempts, exc)


# Recording an outcome survives a database outage of about this long (sum of the pauses):
# what a receiver accepted must be written down before the task ends, or the delivery would
# stay "sending" and be sent again once its lease lapses.
RECORD_PAUSES = (0.2, 0.5, 1, 2, 4, 8, 15)


def record_attempt_durably(delivery: Delivery, *, attempt: AttemptRecord) -> None:
    """``record_attempt``, tried again on a lost database connection, reconnecting."""
    for pause in (*RECORD_PAUSES, None):
        try:
            record_attempt(delivery, attempt=attempt)
            return
        except (OperationalError, InterfaceError):
            if pause is None:
                raise
            logger.warning(
                "could not record attempt %d of delivery %d; again in %gs",
                delivery.attempts,
                delivery.id,
                pause,
                exc_info=True,
            )
            if not connection.in_atomic_block and not connection.is_usable():
                connection.close()  # the next query opens a new connection
            time.sleep(pause)


class OutcomeNotRecorded(Exception):
    """The database stayed away through every pause of ``RECORD_PAUSES``.

    ``carried`` is the attempt as JSON, for the task to carry in its retry message: the
    retry writes it down (``delivery_record_carried``) instead of sending the alert again.
    """

    def __init__(self, carried: dict) -> None:
        super().__init__(f"could not record attempt {carried['claim']}: the database is away")
        self.carried = carried


def delivery_record_carried(*, delivery_id: int, carried: dict) -> AttemptRecord | None:
    """Write down an attempt carried by a retry message (see ``OutcomeNotRecorded``).

    None when there is nothing to write: the attempt is in the log already (a replayed dead
    letter, a redelivered message) or the delivery is gone; the task then goes on as usual.
    """
    delivery = Delivery.objects.filter(id=delivery_id).first()
    if delivery is None or delivery.attempt_log.filter(number=carried["claim"]).exists():
        return None
    delivery.attempts = carried["claim"]  # the claim token of the worker that sent it
    attempt = AttemptRecord(
        started_at=datetime.fromisoformat(carried["started_at"]),
        duration_ms=carried["duration_ms"],
        outcome=carried["outcome"],
        response_code=carried["response_code"],
        error=carried["error"],
    )
    record_attempt_durably(delivery, attempt=attempt)
    return attempt


def _already_accepted(delivery: Delivery) -> AttemptRecord | None:
    """The attempt of an earlier claim that the receiver accepted (2xx), if any."""
    accepted = delivery.attempt_log.filter(outcome=AttemptOutcome.DELIVERED).first()
    if accepted is None:
        return None
    return AttemptRecord(
        started_at=accepted.started_at,
        duration_ms=accepted.duration_ms,
        outcome=AttemptOutcome.DELIVERED,
        response_code=accepted.response_code,
        error="",
    )


def _superseded_by(delivery: Delivery) -> str | None:
    """Why the delivery must not go out, if a later event of its incident reached the
    channel already (its earlier event was dead-lettered meanwhile, then replayed or
    retried): a receiver must never get an older state after a newer one, and the later
    payload carries everything the earlier one said (opened_at, cause)."""
    later = (
        Delivery.objects.later_delivered(
            incident=delivery.incident_id, channel=delivery.channel_id, sequence=delivery.sequence
        )
        .order_by("sequence")
        .first()
    )
    if later is None:
        return None
    return (
        f"Superseded: the later event {later.event!r} of this incident (sequence "
        f"{later.sequence}) was delivered to this channel first; sending {delivery.event!r} "
        "now would put it out of order."
    )


def grouped_message(carrier: Delivery) -> dict:
    """The payload a group's carrier sends: every member's payload (its own included),
    oldest first. Membership is fixed when the group forms, so retries send the same."""
    members = Delivery.objects.filter(sent_in_id=carrier.id).order_by("created_at", "id")
    return grouped_payload(list(members.values_list("payload", flat=True)))


def delivery_attempt(*, delivery: Delivery) -> None:
    """Send a claimed delivery once and record the attempt; raises ``TransportError``
    (its message already redacted) when it failed."""
    channel = delivery.channel
    if channel is None or not channel.enabled:
        delivery.mark_skipped(
            reason="The channel was deleted." if channel is None else "The channel is disabled."
        )
        return
    carries_group = delivery.sent_in_id == delivery.id
    # A group's members were put in order when it formed (policies.groups_release_due).
    superseded_by = None if carries_group else _superseded_by(delivery)
    superseded_by = superseded_by or policies.follow_up_outdated(delivery)
    if superseded_by is not None:
        delivery.mark_skipped(reason=superseded_by)
        return
    accepted = _already_accepted(delivery)
    if accepted is not None:
        # A worker that lost its claim saw a 2xx: this alert was delivered; never resend it.
        delivery.mark_delivered(response_code=accepted.response_code, now=timezone.now())
        return
    transport = transport_for(channel)
    started_at, started = timezone.now(), time.monotonic()
    failure: TransportError | None = None
    try:
        sent = transport.notify(
            grouped_message(delivery) if carries_group else delivery.payload,
            idempotency_key=str(delivery.key),
            attempt=delivery.attempts,
        )
    except TransportError as exc:
        failure = exc
        failure.message = redact(exc.message, transport.secret_values())[:1000]
    duration_ms = _elapsed_ms(started)
    if failure is None:
        outcome, response_code, error = AttemptOutcome.DELIVERED, sent.response_code, ""
    else:
        outcome = AttemptOutcome.PERMANENT if failure.permanent else AttemptOutcome.TRANSIENT
        response_code, error = failure.response_code, failure.message
    attempt = AttemptRecord(started_at, duration_ms, outcome, response_code, error)
    try:
        record_attempt_durably(delivery, attempt=attempt)
    except (OperationalError, InterfaceError) as exc:
        carried = {**asdict(attempt), "started_at": started_at.isoformat()}
        raise OutcomeNotRecorded({**carried, "claim": delivery.attempts}) from exc
    delivery_attempted.send(Delivery, delivery=delivery, outcome=outcome, duration_ms=duration_ms)
    if failure is not None:
        raise failure
