"""An operator's retry of an undelivered delivery: the one service behind the API action,
the admin action and ``manage.py deliveries retry``.

Anything not delivered may be tried again: pending (its task lost), failed (waiting for its
next retry), dead (retries ran out) or stuck sending (its worker died and its lease lapsed).
The row becomes pending and one task is enqueued for it; the claim still lets exactly one
task send it, so a retry racing a redelivered message cannot send twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery.utils import uuid
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from notifications.models import SENT_ALONE_OR_CARRIES, DeadLetter, Delivery, DeliveryStatus
from notifications.tasks import deliver_notification

logger = logging.getLogger(__name__)


class DeliveryNotRetryable(Exception):
    """The delivery is finished (delivered or skipped), or being sent right now."""


def deliveries_undelivered(*, team_id: int | None = None, now: datetime | None = None) -> QuerySet:
    """Deliveries an operator's retry would act on: every undelivered one that no worker
    holds (sending rows only once their lease lapsed)."""
    lapsed = (now or timezone.now()) - timedelta(seconds=settings.NOTIFY_SENDING_LEASE)
    queryset = Delivery.objects.filter(
        Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.DEAD])
        | Q(status=DeliveryStatus.SENDING, last_attempt_at__lt=lapsed),
        SENT_ALONE_OR_CARRIES,  # a group's members are retried with their carrier
    ).order_by("id")
    return queryset.filter(incident__team_id=team_id) if team_id is not None else queryset


def _refusal(delivery: Delivery) -> str:
    if delivery.status == DeliveryStatus.SENDING:
        return (
            f"Delivery {delivery.id} is being sent right now; it can be retried if its worker "
            f"has not finished within {settings.NOTIFY_SENDING_LEASE}s of its last attempt."
        )
    return f"Delivery {delivery.id} is {delivery.status}; nothing to retry."


def delivery_retry(
    *, delivery_id: int, user: User | None = None, now: datetime | None = None
) -> Delivery:
    """Make an undelivered delivery pending and enqueue a task for it (after commit).

    Its dead letters, if any, count as replayed by this retry, so that ``replay --all``
    does not enqueue it a second time. Raises ``DeliveryNotRetryable`` with the reason, and
    ``Delivery.DoesNotExist`` for an unknown id.
    """
    now = now or timezone.now()
    task_id = uuid()
    # A member of a grouped message is retried by retrying the message: its carrier.
    asked_for = delivery_id
    carrier_id = Delivery.objects.filter(id=delivery_id).values_list("sent_in_id", flat=True)
    delivery_id = carrier_id.first() or delivery_id
    with transaction.atomic():
        if not Delivery.objects.retry(delivery_id, now=now):
            raise DeliveryNotRetryable(_refusal(Delivery.objects.get(id=delivery_id)))
        DeadLetter.objects.filter(delivery_id=delivery_id, replayed_at__isnull=True).update(
            replayed_at=now, replayed_by=user, replay_task_id=task_id
        )
        delivery = Delivery.objects.select_related("incident__team").get(id=delivery_id)
        audit_record(team=delivery.incident.team, actor=user, action="retry", obj=delivery)
        transaction.on_commit(
            lambda: deliver_notification.apply_async((delivery_id,), task_id=task_id)
        )
    logger.info("delivery %d retried by %s as task %s", delivery_id, user or "an operator", task_id)
    return Delivery.objects.get(id=asked_for)
