"""Celery tasks of the ``incidents`` queue: thin wrappers around ``incidents.services``."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError
from kombu.exceptions import OperationalError as BrokerError

from incidents import services
from lib import task_names
from lib.task_acks import REDELIVER_IF_LOST


@shared_task(
    name=task_names.EVALUATE_CHECK_RESULTS,
    # Idempotent (stale results change nothing), so a message may be delivered twice:
    # acknowledge only after the work is done and requeue it if the worker dies meanwhile.
    **REDELIVER_IF_LOST,
    # A deadlock, a dropped connection or a broker refusing the notification messages after
    # commit: try again; the retry evaluates what is left and re-sends what was not sent.
    autoretry_for=(DatabaseError, BrokerError),
    max_retries=5,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
)
def evaluate_check_results(result_ids: list[int]) -> dict:
    """Evaluate one check batch's results (the batch sends one message with all its ids)."""
    return services.evaluate_check_results(result_ids).as_dict()
