"""Where alerts go (``Channel``), each alert owed to a channel (``Delivery``) and its
attempts, and the tasks that gave up (``DeadLetter``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from incidents.models import IncidentEvent
from lib.encryption import EncryptedJSONField
from monitors.models import KEY_HELP, unique_key_in_team


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Signed webhook"
    APPRISE = "apprise", "Apprise (Slack, Discord, Telegram, Teams, PagerDuty, ntfy, ...)"


# An incident update posted by the team (``incidents.IncidentUpdate``): not a state change,
# so not one of a channel's ``events``; a channel gets it if ``send_incident_updates``.
UPDATE_EVENT = "update"
DELIVERY_EVENTS = [*IncidentEvent.choices, (UPDATE_EVENT, "Incident update")]


def all_events() -> list[str]:
    """A new channel subscribes to every incident event."""
    return list(IncidentEvent.values)


class Channel(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="channels")
    key = models.SlugField(max_length=60, blank=True, db_index=False, help_text=KEY_HELP)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    config = models.JSONField(
        default=dict, blank=True, help_text="Settings that may be shown (addresses, URL, ...)"
    )
    # Kept apart from ``config`` so that every reader (API, admin, logs) can show ``config``
    # freely and must go out of its way to touch these: webhook signing secret and headers,
    # the Apprise URL (its tokens are the credentials). Never serialized; encrypted at rest.
    secrets = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    events = models.JSONField(
        default=all_events, help_text="Subset of opened, resolved, acknowledged"
    )
    is_default = models.BooleanField(
        default=False, help_text="Attached to every new monitor of the team"
    )
    send_incident_updates = models.BooleanField(
        default=False, help_text="Also send the updates the team posts to an incident"
    )
    # The link lives here, not on Monitor, because monitors must not import notifications.
    monitors = models.ManyToManyField("monitors.Monitor", blank=True, related_name="channels")
    # Policies (notifications/policies.py; README "Grouping, reminders and escalation").
    group_window_seconds = models.PositiveIntegerField(
        default=30,
        db_default=30,
        validators=[MaxValueValidator(3600)],
        help_text="Events of other incidents arriving within this many seconds of the last "
        "one go out as one grouped message (0 = never group)",
    )
    reminder_interval_minutes = models.PositiveIntegerField(
        default=0,
        db_default=0,
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text="Repeat an open, unacknowledged incident every this many minutes (0 = off)",
    )
    reminder_max = models.PositiveSmallIntegerField(
        default=3,
        db_default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="At most this many reminders per incident",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # "Default channels of a team", read for every new monitor.
            models.Index(fields=["team"], condition=Q(is_default=True), name="channel_default_idx"),
        ]
        constraints = [unique_key_in_team("channel_unique_team_key")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def wants(self, event: str) -> bool:
        return self.enabled and event in self.events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed, will retry"
    DEAD = "dead", "Dead-lettered"
    SKIPPED = "skipped", "Skipped (channel disabled or deleted)"
    # Waiting for its channel's grouping window (notifications/policies.py); then released
    # alone or as a member of one grouped message.
    HELD = "held", "Held for grouping"


class IllegalDeliveryTransition(Exception):
    """A delivery was asked to change to a status that its current one cannot lead to."""


class DeliveryTransition(Enum):
    """Every way a delivery's status may change: (verb, from any of, to). Nothing else
    writes ``Delivery.status``; a new way (an operator's retry, a sweep taking over lapsed
    leases) is one more member here and one method on ``Delivery`` or its manager."""

    # Its grouping window ended: it goes out alone, or in its group's message (``sent_in``).
    RELEASE = "release", {DeliveryStatus.HELD}, DeliveryStatus.PENDING
    CLAIM = "claim", {DeliveryStatus.PENDING, DeliveryStatus.FAILED}, DeliveryStatus.SENDING
    # The worker holding it died mid-send and its lease lapsed (see DeliveryQuerySet.claim).
    TAKE_OVER = "take over", {DeliveryStatus.SENDING}, DeliveryStatus.SENDING
    DELIVER = "record as delivered", {DeliveryStatus.SENDING}, DeliveryStatus.DELIVERED
    FAIL = "record as failed", {DeliveryStatus.SENDING}, DeliveryStatus.FAILED
    SKIP = "skip", {DeliveryStatus.SENDING}, DeliveryStatus.SKIPPED
    # The task failed for good: before its claim (pending, failed) or mid-attempt (sending).
    DEAD_LETTER = (
        "dead-letter",
        {DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED},
        DeliveryStatus.DEAD,
    )
    REPLAY = "replay", {DeliveryStatus.DEAD, DeliveryStatus.FAILED}, DeliveryStatus.PENDING
    # An operator asks for another try of anything not delivered yet; a sending row only
    # once its lease lapsed (see DeliveryQuerySet.retry).
    RETRY = (
        "retry",
        {
            DeliveryStatus.PENDING,
            DeliveryStatus.SENDING,
            DeliveryStatus.FAILED,
            DeliveryStatus.DEAD,
        },
        DeliveryStatus.PENDING,
    )
    # The broker refused the replayed task: dead again, so that it can be replayed later.
    UNDO_REPLAY = "undo the replay of", {DeliveryStatus.PENDING}, DeliveryStatus.DEAD

    def __init__(self, verb: str, sources: set[str], target: str) -> None:
        self.verb = verb
        self.sources = frozenset(sources)
        self.target = target

    def check(self, status: str) -> str:
        """The status after this transition from ``status``; raises if it is not allowed."""
        if status not in self.sources:
            allowed = " or ".join(sorted(self.sources))
            raise IllegalDeliveryTransition(
                f"Cannot {self.verb} a delivery that is {status}: "
                f"only a {allowed} delivery can become {self.target}."
            )
        return self.target


# May still go out: a later event of the same incident waits for these (DeliveryQuerySet.claim).
IN_FLIGHT = frozenset(
    {DeliveryStatus.HELD, DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED}
)

# A member of a grouped message is sent by its group's carrier (``sent_in`` = the carrier's
# id; the carrier points at itself) and only mirrors the carrier's status: it is never
# claimed, swept or retried on its own.
SENT_ALONE_OR_CARRIES = Q(sent_in__isnull=True) | Q(sent_in=F("id"))


class DeliveryPurpose(models.TextChoices):
    """Why a delivery exists: the incident event itself, or a policy repeating it."""

    EVENT = "event", "Incident event"
    REMINDER = "reminder", "Reminder (still open, unacknowledged)"
    ESCALATION = "escalation", "Escalation stage"


def _lapsed(now: datetime) -> datetime:
    """A sending row last claimed before this belongs to a worker that died mid-send."""
    return now - timedelta(seconds=settings.NOTIFY_SENDING_LEASE)


class DeliveryQuerySet(models.QuerySet):
    """Transitions of a delivery known by id, as conditional UPDATEs: of two processes racing
    for the same row (two workers, a worker and a replay), exactly one changes it. Each
    returns whether this call changed the row; False means it was not in a source status,
    which for a redelivered task or a repeated replay is the expected answer, not an error.
    """

    def _apply(
        self,
        transition: DeliveryTransition,
        delivery_id: int,
        *,
        sources: frozenset[str] | None = None,
        or_where: Q | None = None,
        and_where: Q | models.Expression | None = None,
        **fields,
    ) -> bool:
        # ``sources`` narrows the table's sources when a status is allowed only on a further
        # condition, given as ``or_where``; ``and_where`` applies to every source.
        in_source = Q(status__in=transition.sources if sources is None else sources)
        if or_where is not None:
            in_source |= or_where
        queryset = self.filter(in_source, id=delivery_id)
        if and_where is not None:
            queryset = queryset.filter(and_where)
        changed = queryset.update(status=transition.target, **fields)
        if changed == 1:
            self.mirror_to_members(delivery_id)
        return changed == 1

    def mirror_to_members(self, carrier_id: int) -> int:
        """Give the members of a grouped message their carrier's status and attempt record,
        so that each incident's own delivery shows what happened to the message that
        carried it (delivered, failing, dead-lettered, replayed). One UPDATE, served by
        delivery_sent_in_idx; a delivery sent alone has no members and changes nothing."""
        carrier = Delivery.objects.filter(id=carrier_id)
        mirrored = (
            *("status", "attempts", "response_code", "last_error"),
            *("queued_at", "last_attempt_at", "delivered_at"),
        )
        return (
            Delivery.objects.filter(sent_in_id=carrier_id)
            .exclude(id=carrier_id)
            .update(**{name: models.Subquery(carrier.values(name)[:1]) for name in mirrored})
        )

    def release(self, delivery_ids: list[int], *, carrier_id: int | None, now: datetime) -> int:
        """Held deliveries whose grouping window ended become claimable: alone
        (``carrier_id`` None) or as members of the message that ``carrier_id`` sends."""
        return self.filter(
            id__in=delivery_ids, status__in=DeliveryTransition.RELEASE.sources
        ).update(status=DeliveryTransition.RELEASE.target, sent_in_id=carrier_id, queued_at=now)

    def claim(self, delivery_id: int, *, now: datetime) -> bool:
        """Take a delivery for one attempt, like healthchecks' flip claim.

        Delivered, dead and skipped rows are never claimed, so a redelivered task cannot send
        twice. A row left sending longer than NOTIFY_SENDING_LEASE belonged to a worker that
        died mid-send; it is taken over. A row is not claimed while an earlier event of its
        incident is still on its way to the same channel (``earlier_in_flight``): receivers
        get "opened" before "resolved". The new ``attempts`` is the claim token that the
        ``mark_*`` methods check.
        """
        take_over = Q(
            status__in=DeliveryTransition.TAKE_OVER.sources, last_attempt_at__lt=_lapsed(now)
        )
        return self._apply(
            DeliveryTransition.CLAIM,
            delivery_id,
            or_where=take_over,
            and_where=SENT_ALONE_OR_CARRIES
            & ~Q(
                models.Exists(
                    Delivery.objects.earlier_in_flight(
                        incident=OuterRef("incident_id"),
                        channel=OuterRef("channel_id"),
                        sequence=OuterRef("sequence"),
                    )
                    # Its own group goes out with it (none: sent_in is null, nothing equals 0).
                    .exclude(sent_in=Coalesce(OuterRef("sent_in"), 0))
                )
            ),
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )

    def earlier_in_flight(self, *, incident, channel, sequence) -> DeliveryQuerySet:
        """Deliveries of an earlier event of the same incident to the same channel that may
        still go out (pending, sending or retrying): a later event waits for them. Takes
        values or ``OuterRef``s."""
        return self.filter(
            incident_id=incident, channel_id=channel, sequence__lt=sequence, status__in=IN_FLIGHT
        )

    def later_delivered(self, *, incident, channel, sequence) -> DeliveryQuerySet:
        """Deliveries of a later event of the same incident to the same channel that the
        receiver accepted already: an earlier event sent now would arrive out of order.
        Incident updates say nothing of the incident's state, so they supersede nothing."""
        return self.filter(
            incident_id=incident,
            channel_id=channel,
            sequence__gt=sequence,
            status=DeliveryStatus.DELIVERED,
        ).exclude(event=UPDATE_EVENT)

    def retry(self, delivery_id: int, *, now: datetime) -> bool:
        """Make an undelivered delivery claimable again, for an operator's retry."""
        stuck = Q(status=DeliveryStatus.SENDING, last_attempt_at__lt=_lapsed(now))
        return self._apply(
            DeliveryTransition.RETRY,
            delivery_id,
            sources=DeliveryTransition.RETRY.sources - {DeliveryStatus.SENDING},
            or_where=stuck,
            queued_at=now,
        )

    def dead_letter(self, delivery_id: int) -> bool:
        """Mark it dead because its task failed for good; delivered and skipped rows stay."""
        return self._apply(DeliveryTransition.DEAD_LETTER, delivery_id)

    def replay(self, delivery_id: int, *, now: datetime) -> bool:
        """Make a dead (or failing) delivery claimable again for a replayed task."""
        return self._apply(DeliveryTransition.REPLAY, delivery_id, queued_at=now)

    def undo_replay(self, delivery_id: int) -> bool:
        """Undo ``replay`` when its task could not be enqueued; a claimed row stays claimed."""
        return self._apply(DeliveryTransition.UNDO_REPLAY, delivery_id)


class Delivery(models.Model):
    """One alert owed to one channel for one incident event; claimed by one task at a time.

    Its status changes only through ``DeliveryTransition``: by id through the manager
    (claim, dead-letter, replay), or by the worker holding the claim through the ``mark_*``
    methods below.
    """

    key = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Sent as Idempotency-Key"
    )
    incident = models.ForeignKey(
        "incidents.Incident",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # the unique (incident, channel, event) constraint serves lookups
    )
    # SET_NULL keeps the history when a channel is deleted; its name stays readable.
    channel = models.ForeignKey(
        Channel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,  # delivery_channel_idx serves lookups
    )
    channel_name = models.CharField(max_length=100)
    channel_kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    event = models.CharField(max_length=12, choices=DELIVERY_EVENTS)
    update_id = models.BigIntegerField(
        default=0, help_text="The incident update carried (event 'update'); 0 for other events"
    )
    sequence = models.PositiveSmallIntegerField(
        default=1, help_text="Order of the event within its incident (1 = opened), in the payload"
    )
    purpose = models.CharField(
        max_length=10,
        choices=DeliveryPurpose.choices,
        default=DeliveryPurpose.EVENT,
        db_default=DeliveryPurpose.EVENT,
    )
    round = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="Reminder number, or escalation stage position; 0 for the event itself",
    )
    # The grouped message that carried it: the id of the delivery that sent it (which points
    # at itself). A plain column without a database constraint (added to a large table
    # without a validating scan); Django still nulls it if the carrier is deleted.
    sent_in = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        db_index=False,  # delivery_sent_in_idx (partial) serves lookups
        related_name="+",
        help_text="The delivery whose grouped message carried this one",
    )
    status = models.CharField(
        max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    payload = models.JSONField(help_text="The message, fixed when the event happened")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(
        default=timezone.now, help_text="Last time a task was enqueued for it"
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The idempotency of the fan-out: a retried or duplicated notify task finds the
            # row already there instead of owing the alert twice.
            # ``update_id`` is 0 for incident events, so each event is owed once per channel,
            # and each incident update once per channel.
            models.UniqueConstraint(
                fields=["incident", "channel", "event", "update_id"],
                condition=Q(purpose="event"),
                name="delivery_unique_event",
            ),
            # The same for policies: a redelivered dispatch cannot remind or escalate twice.
            models.UniqueConstraint(
                fields=["incident", "channel", "purpose", "round"],
                condition=~Q(purpose="event"),
                name="delivery_unique_follow_up",
            ),
        ]
        indexes = [
            # Delivery history of a channel ("what did this channel send lately?").
            models.Index(fields=["channel", "-created_at"], name="delivery_channel_idx"),
            # Metrics and the admin filter count deliveries still in flight or dead.
            models.Index(
                fields=["status"],
                condition=~Q(status="delivered"),
                name="delivery_undelivered_idx",
            ),
            models.Index(
                fields=["sent_in"], condition=Q(sent_in__isnull=False), name="delivery_sent_in_idx"
            ),
            # Held rows of a channel, read when its grouping window ends.
            models.Index(
                fields=["channel", "created_at"],
                condition=Q(status="held"),
                name="delivery_held_idx",
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} of incident {self.incident_id} to {self.channel_name}"

    def mark_delivered(self, *, response_code: int | None, now: datetime) -> None:
        self._move(
            DeliveryTransition.DELIVER,
            response_code=response_code,
            last_error="",
            delivered_at=now,
        )

    def mark_failed(self, *, response_code: int | None, error: str) -> None:
        # A permanent failure becomes "dead" when the task's failure is dead-lettered.
        self._move(DeliveryTransition.FAIL, response_code=response_code, last_error=error)

    def mark_skipped(self, *, reason: str) -> None:
        self._move(DeliveryTransition.SKIP, last_error=reason)

    def _move(self, transition: DeliveryTransition, **fields) -> None:
        """Apply a transition to this claimed row, in memory and, conditionally, in the table.

        ``attempts`` is the claim token: a worker whose lease lapsed and whose row another
        worker took over (attempts + 1) cannot record over the new holder's claim."""
        target = transition.check(self.status)
        changed = Delivery.objects.filter(
            id=self.id, status__in=transition.sources, attempts=self.attempts
        ).update(status=target, **fields)
        if changed == 1 and self.sent_in_id == self.id:
            Delivery.objects.mirror_to_members(self.id)
        if changed != 1:
            # The row changed since this worker claimed it (dead-lettered, retried by an
            # operator, or taken over after the lease lapsed): say so, never overwrite
            # what the other process recorded.
            now_in = Delivery.objects.filter(id=self.id).values_list("status", flat=True)
            raise IllegalDeliveryTransition(
                f"Cannot {transition.verb} delivery {self.id}: it changed to "
                f"{now_in.first() or 'deleted'} since it was claimed (attempt {self.attempts})."
            )
        self.status = target
        for name, value in fields.items():
            setattr(self, name, value)


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    TRANSIENT = "transient", "Transient failure"
    PERMANENT = "permanent", "Permanent failure"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", db_index=False
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=9, choices=AttemptOutcome.choices)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_delivery_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"


class DeadLetter(models.Model):
    """A task that failed for good: its retries ran out or its error was permanent.

    Written by the ``task_failure`` handler for every Celery task, so nothing fails
    silently; replayed at most once (a replay that fails again makes a new dead letter).
    """

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=255, unique=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    exception_type = models.CharField(max_length=200)
    error = models.CharField(max_length=2000)
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    delivery = models.ForeignKey(
        Delivery,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dead_letters",
    )
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="dead_letters",
        db_index=False,  # deadletter_team_idx serves lookups
        help_text="Set when the task works for one team; others are visible to staff only",
    )
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    replay_task_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-last_failed_at", "-id"]
        indexes = [
            models.Index(fields=["team", "-last_failed_at"], name="deadletter_team_idx"),
            # The backlog (not yet replayed) for metrics, `deadletters list` and `replay --all`.
            models.Index(
                fields=["task_name"],
                condition=Q(replayed_at__isnull=True),
                name="deadletter_backlog_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} [{self.task_id}]"

    @property
    def is_replayed(self) -> bool:
        return self.replayed_at is not None


# --- Policies: grouping, reminders, escalation (notifications/policies.py) -----------------


class ChannelGroupState(models.Model):
    """Grouping memory of one channel, apart from ``Channel`` so that saving a channel (API,
    admin) never overwrites it. Locked while an event decides whether to wait for its group,
    so two fan-outs of one channel see each other."""

    channel = models.OneToOneField(
        Channel, on_delete=models.CASCADE, primary_key=True, related_name="group_state"
    )
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_incident_id = models.BigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the held deliveries of this channel go out"
    )

    class Meta:
        indexes = [
            # Used by dispatch_due_policies: the channels whose grouping window ended.
            models.Index(
                fields=["due_at"], condition=Q(due_at__isnull=False), name="group_state_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"grouping of channel {self.channel_id}"


class EscalationPolicy(models.Model):
    """Who else hears about an incident nobody acknowledged: ordered stages of channels."""

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="escalation_policies"
    )
    key = models.SlugField(max_length=60, blank=True, db_index=False, help_text=KEY_HELP)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(
        default=False, help_text="Used for the team's monitors that name no policy of their own"
    )
    # The link lives here, not on Monitor, because monitors must not import notifications.
    monitors = models.ManyToManyField(
        "monitors.Monitor", blank=True, through="MonitorEscalation", related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "escalation policies"
        constraints = [
            unique_key_in_team("escalation_policy_unique_team_key"),
            models.UniqueConstraint(
                fields=["team"], condition=Q(is_default=True), name="escalation_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EscalationStage(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField(help_text="1 for the first stage, ...")
    after_minutes = models.PositiveIntegerField(
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text="Minutes after the incident opened, if still unacknowledged",
    )
    channels = models.ManyToManyField(Channel, related_name="escalation_stages")

    class Meta:
        ordering = ["policy_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="escalation_stage_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} stage {self.position} after {self.after_minutes} min"


class MonitorEscalation(models.Model):
    """The escalation policy of one monitor (at most one)."""

    monitor = models.OneToOneField(
        "monitors.Monitor", on_delete=models.CASCADE, primary_key=True, related_name="escalation"
    )
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"monitor {self.monitor_id} -> {self.policy_id}"


class FollowUp(models.Model):
    """Scheduled work on an open incident: the next reminder to one channel, or the next
    escalation stage. ``due_at`` is claimed by dispatch_due_policies like ``next_check_at``
    by the check dispatcher; None once acknowledged, resolved or done."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Reminder"
        ESCALATION = "escalation", "Escalation"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    policy = models.ForeignKey(
        EscalationPolicy, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    done = models.PositiveSmallIntegerField(default=0, help_text="Reminders sent, stages reached")
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "channel"],
                condition=Q(kind="reminder"),
                name="follow_up_one_reminder",
            ),
            models.UniqueConstraint(
                fields=["incident"], condition=Q(kind="escalation"), name="follow_up_one_escalation"
            ),
        ]
        indexes = [
            # Used by dispatch_due_policies.
            models.Index(
                fields=["due_at"], condition=Q(due_at__isnull=False), name="follow_up_due_idx"
            ),
            models.Index(fields=["incident"], name="follow_up_incident_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of incident {self.incident_id}"
