"""Check tasks (queue ``checks``): thin wrappers around ``monitors.scheduling`` and
``monitors.results``.

Check batches ack early and never retry: a lost or failed batch is replaced by the monitors'
next scheduled run, and each message carries an ``expires`` of one interval so a backlog
drops stale checks instead of growing. The hard time limit covers the slowest possible check
(all checks of a batch run concurrently) plus storing the results; there is no soft limit on
gevent, so every request carries its own timeout.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from monitors import results, scheduling

logger = logging.getLogger(__name__)

BATCH_TIME_LIMIT = settings.MONITOR_MAX_TIMEOUT + 30


@shared_task(
    name="monitors.tasks.run_check_batch",
    acks_late=False,
    max_retries=0,
    time_limit=BATCH_TIME_LIMIT,
    ignore_result=True,
)
def run_check_batch(items: list[list]) -> int:
    """Check ``[[monitor_id, scheduled_for_iso], ...]`` concurrently; store; hand on."""
    return len(results.check_batch(items))


@shared_task(
    name="monitors.tasks.dispatch_due_checks",
    acks_late=False,
    max_retries=0,
    time_limit=30,
    ignore_result=True,
)
def dispatch_due_checks() -> int:
    """Fired every second by beat: claim due monitors and enqueue their check batches."""
    count = scheduling.dispatch_due_checks()
    if count:
        logger.debug("dispatched %d checks", count)
    return count
