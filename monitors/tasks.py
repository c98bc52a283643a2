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

from lib import task_names
from lib.task_acks import ACK_ON_RECEIPT
from monitors import check_draft, check_now, results, rollups, scheduling

logger = logging.getLogger(__name__)

BATCH_TIME_LIMIT = settings.MONITOR_MAX_TIMEOUT + 30


@shared_task(
    name=task_names.RUN_CHECK_BATCH,
    **ACK_ON_RECEIPT,
    max_retries=0,
    time_limit=BATCH_TIME_LIMIT,
    ignore_result=True,
)
def run_check_batch(items: list[list]) -> int:
    """Check ``[[monitor_id, scheduled_for_iso], ...]`` concurrently; store; hand on."""
    return len(results.check_batch(items))


@shared_task(
    name=task_names.RUN_CHECK_NOW,
    # A check-now is worth running only while someone waits for it: its message expires
    # (check_now.START_WITHIN_SECONDS) and a lost one is reported expired after its lease,
    # so the person asks again; an hour-late redelivery (Redis' visibility timeout) would
    # only spend a check. Not dead-lettered either: replaying it later answers nobody.
    **ACK_ON_RECEIPT,
    max_retries=0,
    time_limit=BATCH_TIME_LIMIT,
    ignore_result=True,
    dead_letter=False,
)
def run_check_now(request_id: str) -> bool:
    """Run the check-now request ``request_id`` (a ``CheckNowRequest`` id); store; link.
    False when there was nothing left to do (gone, answered already, or expired)."""
    return check_now.check_now_run(request_id=request_id) is not None


@shared_task(
    name=task_names.RUN_DRAFT_CHECK,
    # As a check-now: worth running only while the form waits for it.
    **ACK_ON_RECEIPT,
    max_retries=0,
    time_limit=BATCH_TIME_LIMIT,
    ignore_result=True,
    dead_letter=False,
)
def run_draft_check(draft_id: str) -> bool:
    """Run the monitor form's draft check ``draft_id`` (a ``DraftCheck`` id)."""
    return check_draft.draft_check_run(draft_id=draft_id) is not None


@shared_task(
    name=task_names.DISPATCH_DUE_CHECKS,
    **ACK_ON_RECEIPT,
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


# --- History: rollups and retention (monitors/rollups.py) -----------------------------------

# A prune run deletes at most this many batches (PRUNE_BATCH_SIZE rows each), so one run is
# bounded in time and locks; at 333 checks/s a 10-minute schedule needs ~40 batches of 5,000.
PRUNE_MAX_BATCHES = 100


@shared_task(
    name=task_names.ROLLUP_CHECK_RESULTS,
    **ACK_ON_RECEIPT,
    max_retries=0,
    time_limit=120,
    ignore_result=True,
)
def rollup_check_results() -> int:
    """Every few seconds (beat): merge the results stored since the last run into rollups."""
    run = rollups.rollup_new_results()
    if run.results:
        logger.debug("rolled up %d check results up to #%d", run.results, run.watermark)
    return run.results


@shared_task(
    name=task_names.PRUNE_CHECK_RESULTS,
    **ACK_ON_RECEIPT,
    max_retries=0,
    time_limit=600,
    ignore_result=True,
)
def prune_check_results() -> int:
    """Every 10 minutes (beat): delete raw results older than CHECK_RETENTION_DAYS (and
    hourly rollups past theirs), in bounded batches."""
    run = rollups.prune_history(max_batches=PRUNE_MAX_BATCHES)
    if run.check_results or run.hourly_rollups:
        logger.info(
            "pruned %d check results and %d hourly rollups%s",
            run.check_results,
            run.hourly_rollups,
            "" if run.complete else " (more left for the next run)",
        )
    return run.check_results
