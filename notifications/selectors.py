"""Reads for dashboards, metrics and /health: alerts stuck, dead or waiting; failing channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, QuerySet

from notifications import deadletters
from notifications.models import Channel, DeadLetter, Delivery, DeliveryStatus
from notifications.transports import redact, transport_for


def dead_letter_backlog() -> dict[str, int]:
    """Dead letters not yet replayed, per task name (served by deadletter_backlog_idx)."""
    rows = (
        DeadLetter.objects.filter(replayed_at__isnull=True)
        .values("task_name")
        .annotate(total=Count("id"))
        .order_by()
    )
    return {row["task_name"]: row["total"] for row in rows}


def deliveries_in_flight() -> dict[str, int]:
    """Deliveries that are not delivered yet, per status (served by delivery_undelivered_idx)."""
    rows = (
        Delivery.objects.exclude(status=DeliveryStatus.DELIVERED)
        .values("status")
        .annotate(total=Count("id"))
        .order_by()
    )
    return {row["status"]: row["total"] for row in rows}


def dead_letters_to_replay(*, task_name: str | None = None) -> QuerySet[DeadLetter]:
    """What ``replay --all`` enqueues: not replayed yet, and of a task that is dead-lettered
    today (rows of periodic tasks recorded before they stopped being kept are left alone)."""
    queryset = DeadLetter.objects.filter(
        replayed_at__isnull=True, task_name__in=deadletters.DEAD_LETTERED_TASKS
    ).order_by("first_failed_at", "id")
    return queryset.filter(task_name=task_name) if task_name else queryset


@dataclass(frozen=True)
class FailingChannel:
    """A channel whose receiver keeps failing, as /health and healthmon_status show it."""

    id: int
    name: str
    kind: str
    team_id: int
    failed_in_a_row: int  # of its latest attempted deliveries, up to the threshold looked at
    dead_letters: int  # dead-lettered alerts in the window, not replayed yet
    last_error: str  # redacted of the channel's secrets


def failing_channels(*, now: datetime, failures: int, window: timedelta) -> list[FailingChannel]:
    """Channels whose last ``failures`` attempted deliveries all failed, or with an alert
    dead-lettered within ``window``. Only channels that failed within the window are looked
    at (delivery_undelivered_idx), so a healthy install costs two small queries."""
    since = now - window
    recently_failed = set(
        Delivery.objects.filter(
            status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD],
            last_attempt_at__gte=since,
            channel__isnull=False,
        )
        .values_list("channel_id", flat=True)
        .distinct()
    )
    dead_rows = (
        DeadLetter.objects.filter(
            last_failed_at__gte=since, replayed_at__isnull=True, delivery__channel__isnull=False
        )
        .values("delivery__channel_id")
        .annotate(total=Count("id"))
        .order_by()
    )
    dead = {row["delivery__channel_id"]: row["total"] for row in dead_rows}
    found = []
    for channel in Channel.objects.filter(id__in=recently_failed | set(dead)).order_by("id"):
        latest = list(_latest_outcomes(channel, failures))
        in_a_row = next((i for i, d in enumerate(latest) if not _failed(d)), len(latest))
        if in_a_row < failures and not dead.get(channel.id):
            continue
        found.append(
            FailingChannel(
                id=channel.id,
                name=channel.name,
                kind=channel.kind,
                team_id=channel.team_id,
                failed_in_a_row=in_a_row,
                dead_letters=dead.get(channel.id, 0),
                last_error=_last_error(channel, latest),
            )
        )
    return found


def _latest_outcomes(channel: Channel, count: int) -> QuerySet[Delivery]:
    """The channel's last ``count`` deliveries that got an answer (or none) from a receiver."""
    finished = [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DEAD]
    return Delivery.objects.filter(
        channel=channel, status__in=finished, last_attempt_at__isnull=False
    ).order_by("-last_attempt_at", "-id")[:count]


def _failed(delivery: Delivery) -> bool:
    return delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.DEAD)


def _last_error(channel: Channel, latest: list[Delivery]) -> str:
    error = next((d.last_error for d in latest if _failed(d) and d.last_error), "")
    # Stored errors are redacted when written; redact again with today's secrets, since
    # the error may predate a rotated (or newly added) secret.
    return redact(error, transport_for(channel).secret_values())[:300]


def oldest_undelivered_age(*, now: datetime) -> float | None:
    """Seconds since the oldest alert still owed (pending, sending or retrying) was created;
    None when nothing is owed. Dead letters are counted apart (``dead_letter_backlog``)."""
    owed = [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
    oldest = Delivery.objects.filter(status__in=owed).aggregate(at=Min("created_at"))["at"]
    return None if oldest is None else max((now - oldest).total_seconds(), 0.0)
