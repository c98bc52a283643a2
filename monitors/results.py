"""Run checks and store their results: the services behind the check tasks and check-now.

Every check, scheduled or on demand, goes ``run_check`` -> ``store_outcomes``: the
``CheckResult`` rows in bulk, the monitors' ``last_*`` fields for fast lists, then ONE
evaluation message to the incidents queue after commit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

from celery import current_app
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lib import task_names
from monitors import hooks
from monitors.bulk_sql import bulk_set
from monitors.checker import CheckOutcome, TeamVariables, run_check, team_variables_for
from monitors.models import CheckResult, Monitor

logger = logging.getLogger(__name__)

_LAST_FIELDS = [
    "last_checked_at",
    "last_check_status",
    "last_status_code",
    "last_response_time_ms",
    "last_reason",
    "cert_expires_at",
]


def _gevent_patched() -> bool:
    from gevent import monkey

    return monkey.is_module_patched("socket")


def run_checks_concurrently(
    monitors: Sequence[Monitor], *, team_variables: TeamVariables
) -> list[CheckOutcome]:
    """Check all ``monitors`` at once: greenlets in the gevent worker, threads elsewhere.
    ``team_variables`` (``team_variables_for(monitors)``) are loaded before: no check reads
    the database."""
    if not monitors:
        return []
    check = partial(_check_and_release, team_variables=team_variables)
    if _gevent_patched():
        from gevent.pool import Pool

        return list(Pool(len(monitors)).map(check, monitors))
    if len(monitors) == 1:
        return [check(monitors[0])]
    with ThreadPoolExecutor(max_workers=min(len(monitors), 32)) as pool:
        return list(pool.map(check, monitors))


def _check_and_release(monitor: Monitor, *, team_variables: TeamVariables) -> CheckOutcome:
    """``run_check`` in a greenlet (or thread) of its own, with its team's variables from
    the batch's one load. No kind reads the database during a check (that is what kept a
    pooled connection per api check: bench.kinds saw the gevent worker stop 8 checks in);
    should one ever do, its connection still goes back to the pool here."""
    try:
        variables = team_variables.get(monitor.team_id, {}) if monitor.team_id else {}
        return run_check(monitor, team_variables=variables)
    finally:
        release_connection()


def send_for_evaluation(result_ids: list[int]) -> None:
    """The contract with incidents: one message per stored batch, sent by task name."""
    current_app.send_task(task_names.EVALUATE_CHECK_RESULTS, args=[result_ids])


def record_stored_results(results: list[CheckResult]) -> None:
    """The one hook for everything derived from fresh results (metrics, rollups).

    Called once per stored batch, inside its transaction, with saved rows (ids set).
    Keep it cheap: a slow hook delays every check batch.
    """
    hooks.checks_stored.send(sender=CheckResult, results=results)


def store_outcomes(
    entries: Iterable[tuple[Monitor, datetime | None, CheckOutcome]],
) -> list[CheckResult]:
    """Store (monitor, scheduled_for, outcome) triples as ``CheckResult`` rows in one go.

    Monitors deleted while their check ran are skipped. A monitor's ``last_*`` fields only
    move forward in time, so a slow check finishing after a newer one does not overwrite it.
    """
    entries = list(entries)
    if not entries:
        return []
    with transaction.atomic():
        # Lock the monitors (in id order, so two batches cannot deadlock) against a
        # concurrent delete between our insert and commit. NO KEY UPDATE still lets
        # foreign-key inserts and the dispatcher's claim of *other* rows through.
        ids = sorted({monitor.id for monitor, _, _ in entries})
        current = dict(
            Monitor.objects.select_for_update(no_key=True)
            .filter(id__in=ids)
            .order_by("id")
            .values_list("id", "last_checked_at")
        )
        results: list[CheckResult] = []
        updated: dict[int, tuple] = {}
        for monitor, scheduled_for, outcome in entries:
            if monitor.id not in current:
                continue
            results.append(
                CheckResult(
                    monitor=monitor,  # loaded, so the metrics read its kind without a query
                    checked_at=outcome.checked_at,
                    scheduled_for=scheduled_for,
                    status=outcome.status,
                    status_code=outcome.status_code,
                    response_time_ms=outcome.response_time_ms,
                    phase=outcome.phase,
                    reason=outcome.reason,
                    cert_expires_at=outcome.cert_expires_at,
                )
            )
            last = current[monitor.id]
            if last is None or outcome.checked_at >= last:
                current[monitor.id] = outcome.checked_at
                updated[monitor.id] = (
                    monitor.id,
                    outcome.checked_at,
                    outcome.status,
                    outcome.status_code,
                    outcome.response_time_ms,
                    outcome.reason,
                    outcome.cert_expires_at or monitor.cert_expires_at,
                )
        CheckResult.objects.bulk_create(results)
        bulk_set(Monitor, list(updated.values()), _LAST_FIELDS)
        record_stored_results(results)
        result_ids = [result.id for result in results]
        if result_ids:
            # robust: a broker hiccup must not turn stored results into an error; the next
            # check's evaluation catches the state machine up.
            transaction.on_commit(lambda: send_for_evaluation(result_ids), robust=True)
    return results


def check_batch(items: Sequence[Sequence]) -> list[CheckResult]:
    """Check a batch of ``[monitor_id, scheduled_for_iso]`` concurrently and store results.

    Paused or deleted monitors are dropped. The database connection goes back to the pool
    while the HTTP requests run, so a batch waiting on slow targets holds no connection.
    """
    scheduled = {int(monitor_id): parse_datetime(iso) for monitor_id, iso in items}
    monitors = list(Monitor.objects.filter(id__in=scheduled, is_active=True))
    team_variables = team_variables_for(monitors)  # once for the batch, not once per check
    release_connection()
    stored: list[CheckResult] = []
    for wave in checks_in_waves(monitors, start_at=scheduled, team_variables=team_variables):
        stored += store_outcomes(
            (monitor, scheduled[monitor.id], outcome) for monitor, outcome in wave
        )
        release_connection()
    return stored


def release_connection() -> None:
    """Back to the pool (or closed) while HTTP requests run. Celery's Django fixup does this
    after each task too; doing it here keeps the pool bounded when a benchmark drives
    batches from plain greenlets."""
    if not connection.in_atomic_block:  # (tests run inside a transaction)
        connection.close()


# A batch stores (and hands to evaluation) what finished within this many seconds, then the
# rest as it finishes: one slow or hanging target (up to its timeout, MONITOR_MAX_TIMEOUT)
# must not hold back the results, and so the alerts, of the other monitors of its batch.
# That is also what makes large batches (CHECK_BATCH_SIZE, fewer messages per check) safe.
# A batch of healthy targets still stores once and sends one evaluation message.
FIRST_WAVE_SECONDS = 2.0


# The dispatcher claims monitors up to one beat tick ahead (scheduling.LOOKAHEAD_SECONDS); a
# check that arrives early waits for its time, at most this long (a bogus far-future time in
# a message must not park a greenlet).
MAX_EARLY_SECONDS = 5.0


# Early checks wake at the next multiple of this many seconds after their time, not each at
# its own instant: checks started together share the event loop's wakeups and system calls.
# Started one by one, 333 checks/s cost 20% more CPU in the worker (and in the target)
# than in bursts (bench/RESULTS.md); the price is at most this much schedule lag.
START_SLOT_SECONDS = 0.25


def _seconds_until(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    now = timezone.now()
    if moment <= now:
        return 0.0
    slot = math.ceil(moment.timestamp() / START_SLOT_SECONDS) * START_SLOT_SECONDS
    return min(MAX_EARLY_SECONDS, max(0.0, slot - now.timestamp()))


def checks_in_waves(
    monitors: Sequence[Monitor],
    *,
    team_variables: TeamVariables,
    first_wave: float = FIRST_WAVE_SECONDS,
    start_at: Mapping[int, datetime | None] | None = None,
) -> Iterator[list[tuple[Monitor, CheckOutcome]]]:
    """Check ``monitors`` concurrently, each at its ``start_at`` time (if given and still
    ahead); yield (monitor, outcome) pairs: first those done within ``first_wave`` seconds
    of the last start, then the stragglers (gevent worker only). ``team_variables``
    (``team_variables_for(monitors)``) are loaded before: no check reads the database."""
    if not monitors:
        return
    start_at = start_at or {}
    if not _gevent_patched():
        time.sleep(max((_seconds_until(start_at.get(m.id)) for m in monitors), default=0.0))
        outcomes = run_checks_concurrently(monitors, team_variables=team_variables)
        yield list(zip(monitors, outcomes, strict=True))
        return
    import gevent
    from gevent.pool import Pool

    def check_when_due(monitor: Monitor) -> CheckOutcome:
        wait = _seconds_until(start_at.get(monitor.id))
        if wait:
            gevent.sleep(wait)
        return _check_and_release(monitor, team_variables=team_variables)

    last_start = max((_seconds_until(start_at.get(m.id)) for m in monitors), default=0.0)
    pool = Pool(len(monitors))
    jobs = [(monitor, pool.spawn(check_when_due, monitor)) for monitor in monitors]
    gevent.joinall([job for _, job in jobs], timeout=last_start + first_wave)
    pending = [(monitor, job) for monitor, job in jobs if not job.ready()]
    done = [(monitor, job.get()) for monitor, job in jobs if job.ready()]
    if done:
        yield done
    if pending:
        gevent.joinall([job for _, job in pending])
        yield [(monitor, job.get()) for monitor, job in pending]


def check_now(monitor: Monitor) -> tuple[CheckResult | None, CheckOutcome]:
    """Check one monitor right away, in this process, through the same path as scheduled
    checks: for the CLI (``check_monitor --save``). The web queues its check-now to the
    workers instead (monitors/check_now.py).

    Returns the stored result (None if the monitor was deleted meanwhile) and the outcome,
    which also says which assertion failed. The schedule is left as it is.
    """
    requested_at = timezone.now()
    outcome = run_check(monitor, now=requested_at)
    stored = store_outcomes([(monitor, requested_at, outcome)])
    return (stored[0] if stored else None), outcome
