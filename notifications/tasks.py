"""Thin tasks on the ``notifications`` queue: fan an incident event out, deliver one alert.

Both are idempotent, so they are acknowledged late and redelivered if a worker dies: a
redelivered fan-out finds its deliveries already there, a redelivered delivery finds its
row already claimed or delivered. Failures that retries cannot fix end in the dead-letter
store (``deadletters.py``), written by the ``task_failure`` signal; the periodic sweep is
not kept there: its next run replaces a failed one.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from lib import task_names
from lib.task_acks import REDELIVER_IF_LOST
from notifications import policies, services
from notifications.models import AttemptOutcome, DeliveryStatus
from notifications.transports import TransportError

logger = logging.getLogger(__name__)


class TransientDeliveryError(Exception):
    """Worth another try later (network, timeout, 5xx, 429, SMTP 4xx): retried with backoff."""


class PermanentDeliveryError(Exception):
    """Retrying cannot help (4xx, refused address, blocked network): dead-lettered at once."""


RETRY_POLICY = {
    "max_retries": settings.NOTIFY_MAX_RETRIES,
    "retry_backoff": settings.NOTIFY_RETRY_BACKOFF,
    "retry_backoff_max": settings.NOTIFY_RETRY_BACKOFF_MAX,
    "retry_jitter": settings.NOTIFY_RETRY_JITTER,
}


@shared_task(
    bind=True,
    name=task_names.NOTIFY_INCIDENT,
    **REDELIVER_IF_LOST,  # a redelivered fan-out finds its deliveries already there
    autoretry_for=(OperationalError, InterfaceError),
    **RETRY_POLICY,
)
def notify_incident(self: Task, incident_id: int, event: str, update_id: int = 0) -> int:
    """Create one delivery per subscribed channel of the incident's monitor; enqueue them.
    ``update_id``: the incident update of an "update" event."""
    delivery_ids = services.deliveries_owed(
        incident_id=incident_id, event=event, update_id=update_id
    )
    for delivery_id in delivery_ids:
        transaction.on_commit(partial(deliver_notification.delay, delivery_id))
    return len(delivery_ids)


@shared_task(
    name=task_names.REQUEUE_STALLED_DELIVERIES,
    **REDELIVER_IF_LOST,  # a delivery enqueued twice is claimed once
)
def requeue_stalled_deliveries() -> int:
    """Enqueue again the deliveries whose task the broker lost (see services)."""
    delivery_ids = services.deliveries_stalled()
    for delivery_id in delivery_ids:
        transaction.on_commit(partial(deliver_notification.delay, delivery_id))
    if delivery_ids:
        logger.warning("re-enqueued %d stalled deliveries", len(delivery_ids))
    return len(delivery_ids)


@shared_task(
    name=task_names.DISPATCH_DUE_POLICIES,
    **REDELIVER_IF_LOST,  # claims are SKIP LOCKED and deliveries unique: twice is harmless
)
def dispatch_due_policies() -> int:
    """Release ended grouping windows; send due reminders and escalation stages."""
    delivery_ids = policies.groups_release_due() + policies.follow_ups_due()
    for delivery_id in delivery_ids:
        transaction.on_commit(partial(deliver_notification.delay, delivery_id))
    return len(delivery_ids)


@shared_task(
    bind=True,
    name=task_names.DELIVER_NOTIFICATION,
    **REDELIVER_IF_LOST,  # the claim in services makes running it twice safe
    autoretry_for=(TransientDeliveryError, OperationalError, InterfaceError),
    **RETRY_POLICY,
)
def deliver_notification(self: Task, delivery_id: int, carried: dict | None = None) -> str:
    """Attempt one delivery; retried with exponential backoff and jitter, then dead-lettered.

    ``carried``: an attempt made by an earlier run that the database could not record then;
    it is written down instead of sending the alert again."""
    if carried is not None:
        recorded = services.delivery_record_carried(delivery_id=delivery_id, carried=carried)
        if recorded is not None:
            return _after_recorded(self, delivery_id, recorded)
    delivery = services.delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        busy_for = services.delivery_lease_remaining(delivery_id=delivery_id)
        if busy_for is not None:
            # Another worker holds it, or held it and died mid-send: look again once its
            # lease lapses. A fresh message, so this retry budget is not spent on waiting.
            deliver_notification.apply_async((delivery_id,), countdown=busy_for + 1)
            return "busy"
        if services.delivery_held(delivery_id=delivery_id):
            # An earlier event of the incident was on its way to this channel (and may have
            # arrived since): look again shortly (a fresh message, not a retry) and go out
            # once it is done.
            deliver_notification.apply_async(
                (delivery_id,), countdown=settings.NOTIFY_ORDER_RECHECK
            )
            return "held"
        return "nothing to do"  # delivered, dead, skipped or deleted: a redelivery
    try:
        services.delivery_attempt(delivery=delivery)
    except services.OutcomeNotRecorded as exc:
        # Sent, but the database stayed away longer than the recording's own retries: the
        # retry message carries what happened, so that it is written down, not sent again.
        raise self.retry(
            args=[delivery_id],
            kwargs={"carried": exc.carried},
            exc=exc,
            countdown=settings.NOTIFY_RETRY_BACKOFF,
        ) from exc
    except TransportError as exc:
        if exc.permanent:
            raise PermanentDeliveryError(exc.message) from exc
        if exc.retry_after is not None:
            # The receiver said when to come back (429/503 Retry-After): honour it, within
            # reason (a receiver asking for a week would otherwise hold the alert a week).
            countdown = min(exc.retry_after, settings.NOTIFY_RETRY_AFTER_MAX)
            raise self.retry(exc=TransientDeliveryError(exc.message), countdown=countdown) from exc
        raise TransientDeliveryError(exc.message) from exc
    return delivery.status


def _after_recorded(task: Task, delivery_id: int, recorded: services.AttemptRecord) -> str:
    """Go on from a carried attempt once it is recorded, as if it had just been made."""
    if recorded.outcome == AttemptOutcome.DELIVERED:
        return DeliveryStatus.DELIVERED
    if recorded.outcome == AttemptOutcome.PERMANENT:
        raise PermanentDeliveryError(recorded.error)
    # Transient: the next retry sends again, so its message carries nothing.
    raise task.retry(
        args=[delivery_id],
        kwargs={},
        exc=TransientDeliveryError(recorded.error),
        countdown=settings.NOTIFY_RETRY_BACKOFF,
    )
