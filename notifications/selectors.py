"""Reads for dashboards and metrics: how many alerts are stuck, dead or waiting."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from notifications import deadletters
from notifications.models import DeadLetter, Delivery, DeliveryStatus


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
