"""Heartbeat monitors: the schedule a pinging job keeps, its pings, and its missed deadlines.

A heartbeat monitor is passive. The job it watches calls ``/ping/<token>`` (healthmon's web
answers it in front of the middleware stack: healthmon/pings.py) and the monitor's indexed
``next_check_at`` is its deadline (healthchecks' ``alert_after``):

- period schedule (``cron`` empty): a ping is expected ``interval`` seconds after the last;
- cron schedule: at the next occurrence of ``cron`` (read in ``tz``) after the last ping;

plus ``grace`` seconds. Every ping that reports a finished run (success or failure) moves the
deadline; ``/start`` only remembers when the run began, so its success measures the run time.
The dispatcher (monitors/scheduling.py) claims a heartbeat monitor whose deadline passed like
any due monitor, but instead of sending a probe it stores a DOWN result ("no ping since ...")
in the claim's transaction and moves the deadline on by one expected run, so a job that stays
silent keeps counting failures. Every result, ping or missed deadline, goes to the incident
state machine through the same ``send_for_evaluation`` as checked results.

Why the claim's transaction: it holds the monitor's row lock, so a ping arriving at that
moment waits, then sees the DOWN result, and its UP result is the newer one (a ping's time is
never before the last result stored: ``_ping_time``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from lib import metrics
from monitors import hooks
from monitors.kinds.base import CheckOutcome
from monitors.kinds.heartbeat import deadline_of, following_deadline, missed_reason
from monitors.models import CheckPhase, CheckResult, CheckStatus, Monitor, MonitorKind
from monitors.results import send_for_evaluation, store_outcomes

logger = logging.getLogger(__name__)

MAX_PING_BODY = 10 * 1024  # bytes of a ping's body kept on its result
# A /start older than this is forgotten: a success a day later is not that run's end.
MAX_RUN_SECONDS = 86400
TICK = timedelta(microseconds=1)


# --- Pings ------------------------------------------------------------------------------------


class Signal(StrEnum):
    SUCCESS = "success"
    START = "start"
    FAIL = "fail"


def parse_signal(suffix: str) -> tuple[Signal, int | None] | None:
    """``""``, ``start``, ``fail`` or an exit code 0..255 (0 is a success); None otherwise."""
    if suffix == "":
        return Signal.SUCCESS, None
    if suffix in (Signal.START, Signal.FAIL):
        return Signal(suffix), None
    if suffix.isdigit() and len(suffix) <= 3 and int(suffix) <= 255:
        code = int(suffix)
        return (Signal.SUCCESS if code == 0 else Signal.FAIL), code
    return None


class PingAnswer(StrEnum):
    RECORDED = "recorded"
    PAUSED = "paused"  # the monitor exists but is paused: nothing recorded
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class PingRecorded:
    answer: PingAnswer
    monitor_id: int | None = None
    result_id: int | None = None
    status: str = ""
    checked_at: datetime | None = None
    response_time_ms: int | None = None
    needs_evaluation: bool = False
    reason: str = ""


def _reason(signal: Signal, exit_code: int | None, run_ms: int | None) -> str:
    took = f" after {run_ms / 1000:.1f}s" if run_ms is not None else ""
    if signal == Signal.SUCCESS:
        return "Ping received" + (f" (exit code 0){took}" if exit_code is not None else took)
    if exit_code is not None:
        return f"The job reported exit code {exit_code}{took}"
    return f"The job reported a failure{took}"


def _clean_body(body: bytes) -> str | None:
    if not body:
        return None
    # PostgreSQL text cannot hold NUL; the rest is kept as sent (invalid UTF-8 replaced).
    return body[:MAX_PING_BODY].decode(errors="replace").replace("\x00", "\ufffd")


def _needs_evaluation(status: str, old_status: str, old_check_status: str) -> bool:
    """Whether a result can change the state machine. The common case, a success while the
    monitor is UP and its last result was a success, cannot: no failures are counted and no
    incident is open. Skipping its message saves the broker round trip (~3 ms of web CPU) on
    nearly every ping; the row is still stored for history and SLA."""
    return not (status == CheckStatus.UP and old_status == "up" and old_check_status == "up")


def _run_ms(started_at: datetime | None, at: datetime) -> int | None:
    if started_at is None or started_at > at:
        return None
    seconds = (at - started_at).total_seconds()
    return round(seconds * 1000) if seconds <= MAX_RUN_SECONDS else None


# One statement (one short transaction) for a period monitor's ping on PostgreSQL: lock the
# row, store the ping on the monitor, move the deadline, insert the result, and return what
# the monitor was before (to decide on the evaluation message). A cron monitor's deadline needs
# cronsim, so for it the statement changes nothing and ``_record_with_orm`` takes over.
_PING_SQL = """
WITH old AS (
    SELECT id, is_active, cron, status, last_check_status, last_checked_at, ping_started_at
    FROM monitors_monitor WHERE ping_token = %(token)s AND kind = 'heartbeat' FOR UPDATE
), ping AS (
    SELECT id,
        GREATEST(%(now)s::timestamptz, last_checked_at + interval '1 microsecond') AS ping_at,
        CASE WHEN ping_started_at IS NOT NULL AND ping_started_at <= %(now)s
            AND %(now)s - ping_started_at <= make_interval(secs => %(max_run)s)
        THEN round(extract(epoch FROM %(now)s - ping_started_at) * 1000)::integer END AS run_ms
    FROM old WHERE is_active AND cron = ''
), done AS (
    UPDATE monitors_monitor m SET last_ping_at = p.ping_at, last_checked_at = p.ping_at,
        last_check_status = %(status)s, last_response_time_ms = p.run_ms,
        last_reason = %(reason)s, ping_started_at = NULL,
        next_check_at = p.ping_at + make_interval(secs => m.interval + m.grace)
    FROM ping p WHERE m.id = p.id
    RETURNING m.id, p.ping_at, p.run_ms
), result AS (
    INSERT INTO monitors_checkresult (monitor_id, checked_at, status, response_time_ms, phase,
        reason, ping_body)
    SELECT id, ping_at, %(status)s, run_ms, '', %(reason)s, %(body)s FROM done
    RETURNING id
)
SELECT old.id, old.is_active, old.cron <> '', old.status, old.last_check_status,
    (SELECT id FROM result), done.ping_at, done.run_ms,
    -- read at commit, the end of this statement: HEARTBEAT_SYNCHRONOUS_COMMIT
    set_config('synchronous_commit', %(synchronous_commit)s, true)
FROM old LEFT JOIN done ON done.id = old.id
"""

_START_SQL = """
UPDATE monitors_monitor SET ping_started_at = CASE WHEN is_active THEN %(now)s
    ELSE ping_started_at END
WHERE ping_token = %(token)s AND kind = 'heartbeat'
RETURNING is_active
"""


def record_ping(
    *, token: uuid.UUID, signal: Signal, exit_code: int | None = None, body: bytes = b""
) -> PingRecorded:
    """Record one ping of the heartbeat monitor with ``token``; hand its result on to the
    state machine when it can change something. A paused monitor's ping is not recorded."""
    now = timezone.now()
    if signal == Signal.START:
        return _record_start(token, now)
    failed = signal == Signal.FAIL
    status = CheckStatus.DOWN if failed else CheckStatus.UP
    kept = _clean_body(body)
    recorded = None
    if connection.vendor == "postgresql":
        recorded = _record_with_sql(
            token, now, signal, status=status, exit_code=exit_code, body=kept
        )
    if recorded is None:  # a cron monitor, or not PostgreSQL
        recorded = _record_with_orm(
            token, now, signal, status=status, exit_code=exit_code, body=kept
        )
    if recorded.result_id is not None:
        _announce(recorded)
    return recorded


def _record_start(token: uuid.UUID, now: datetime) -> PingRecorded:
    """Remember when the run began (nothing stored as a result, the deadline unchanged)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_START_SQL, {"now": now, "token": token})
            row = cursor.fetchone()
        active = None if row is None else row[0]
    else:
        with transaction.atomic():
            found = Monitor.objects.select_for_update().filter(
                ping_token=token, kind=MonitorKind.HEARTBEAT
            )
            active = found.values_list("is_active", flat=True).first()
            if active:
                found.update(ping_started_at=now)
    if active is None:
        return PingRecorded(PingAnswer.NOT_FOUND)
    return PingRecorded(PingAnswer.RECORDED if active else PingAnswer.PAUSED)


def _record_with_sql(
    token: uuid.UUID,
    now: datetime,
    signal: Signal,
    *,
    status: str,
    exit_code: int | None,
    body: str | None,
) -> PingRecorded | None:
    # The reason cannot name the run time before the statement measured it; a run time is
    # shown in its own column (response_time_ms) anyway.
    reason = _reason(signal, exit_code, None)
    params = {
        "token": token,
        "now": now,
        "status": status,
        "reason": reason,
        "body": body,
        "max_run": MAX_RUN_SECONDS,
        "synchronous_commit": "on" if settings.HEARTBEAT_SYNCHRONOUS_COMMIT else "off",
    }
    # A prepared statement with server-side parameters, on psycopg's own cursor: Django's
    # cursors bind on the client, and PostgreSQL then parses and plans the statement on every
    # ping (~1 ms of its CPU, measured by bench/heartbeat.py). psycopg prepares a statement
    # per connection; the pool hands the same connections out again.
    connection.ensure_connection()
    raw = connection.connection
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(_PING_SQL, params, prepare=True)
        row = cursor.fetchone()
    if row is None:
        return PingRecorded(PingAnswer.NOT_FOUND)
    monitor_id, is_active, is_cron, old_status, old_check_status, result_id, at, run_ms, _ = row
    if not is_active:
        return PingRecorded(PingAnswer.PAUSED, monitor_id)
    if is_cron:
        return None
    return PingRecorded(
        PingAnswer.RECORDED,
        monitor_id,
        result_id,
        status,
        at,
        run_ms,
        _needs_evaluation(status, old_status, old_check_status),
        reason,
    )


def _record_with_orm(
    token: uuid.UUID,
    now: datetime,
    signal: Signal,
    *,
    status: str,
    exit_code: int | None,
    body: str | None,
) -> PingRecorded:
    with transaction.atomic():
        if connection.vendor == "postgresql" and not settings.HEARTBEAT_SYNCHRONOUS_COMMIT:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        monitor = (
            Monitor.objects.select_for_update()
            .filter(ping_token=token, kind=MonitorKind.HEARTBEAT)
            .only(*_SCHEDULE_FIELDS, "status", "last_check_status", "ping_started_at")
            .first()
        )
        if monitor is None:
            return PingRecorded(PingAnswer.NOT_FOUND)
        if not monitor.is_active:
            return PingRecorded(PingAnswer.PAUSED, monitor.id)
        at = _ping_time(now, monitor.last_checked_at)
        run_ms = _run_ms(monitor.ping_started_at, at)
        reason = _reason(signal, exit_code, None)
        Monitor.objects.filter(id=monitor.id).update(
            last_ping_at=at,
            last_checked_at=at,
            last_check_status=status,
            last_response_time_ms=run_ms,
            last_reason=reason,
            ping_started_at=None,
            next_check_at=deadline_of(monitor, after=at),
        )
        result = CheckResult.objects.create(
            monitor_id=monitor.id,
            checked_at=at,
            status=status,
            response_time_ms=run_ms,
            phase=CheckPhase.NONE,
            reason=reason,
            ping_body=body,
        )
    return PingRecorded(
        PingAnswer.RECORDED,
        monitor.id,
        result.id,
        status,
        at,
        run_ms,
        _needs_evaluation(status, monitor.status, monitor.last_check_status),
        reason,
    )


def _ping_time(now: datetime, last_checked_at: datetime | None) -> datetime:
    """A ping's result is never older than the last result stored: one that waited for the
    dispatcher's lock must come after the DOWN result it stored, or the state machine would
    drop it as stale."""
    if last_checked_at is not None and now <= last_checked_at:
        return last_checked_at + TICK
    return now


def _announce(recorded: PingRecorded) -> None:
    """Count the result, then send the evaluation message when the result can change the
    monitor's state, with the same hook as checked results (monitors.hooks: metrics and the
    log line of a failure). The common UP -> UP success only counts: building the hook's
    model instances cost more than the rest of the ping's Python."""
    assert recorded.result_id is not None and recorded.checked_at is not None
    if not recorded.needs_evaluation:
        metrics.record_check(
            kind=MonitorKind.HEARTBEAT, status=recorded.status, duration_seconds=None
        )
        return
    result = CheckResult(
        id=recorded.result_id,
        monitor=Monitor(id=recorded.monitor_id, kind=MonitorKind.HEARTBEAT),
        checked_at=recorded.checked_at,
        status=recorded.status,
        response_time_ms=recorded.response_time_ms,
        reason=recorded.reason,
    )
    hooks.checks_stored.send(sender=CheckResult, results=[result])
    send_for_evaluation([recorded.result_id])


# --- Missed deadlines (the dispatcher's side) ---------------------------------------------

_SCHEDULE_FIELDS = (
    "id",
    "kind",
    "is_active",
    "interval",
    "cron",
    "tz",
    "grace",
    "last_ping_at",
    "last_checked_at",
    "cert_expires_at",
)


def record_missed_deadlines(deadlines: dict[int, datetime], *, now: datetime) -> list[Any]:
    """The dispatcher claimed these heartbeat monitors (id -> the deadline that passed) and
    holds their row locks: store a DOWN result for each, to be evaluated after commit like any
    checked result, and move each deadline on by one expected run. Returns the new deadlines
    as ``(id, next_check_at)`` for the dispatcher to save with the others."""
    monitors = list(Monitor.objects.filter(id__in=deadlines).only(*_SCHEDULE_FIELDS))
    entries = []
    advanced = []
    for monitor in monitors:
        missed = deadlines[monitor.id]
        reason = missed_reason(
            last_ping_at=monitor.last_ping_at, deadline=missed, grace=monitor.grace
        )
        outcome = CheckOutcome(
            checked_at=_ping_time(now, monitor.last_checked_at),
            status=CheckStatus.DOWN,
            phase=CheckPhase.TIMEOUT,
            reason=reason,
        )
        entries.append((monitor, missed, outcome))
        advanced.append(
            (
                monitor.id,
                following_deadline(
                    missed=missed,
                    now=now,
                    interval=monitor.interval,
                    cron=monitor.cron,
                    tz=monitor.tz,
                    grace=monitor.grace,
                ),
            )
        )
    store_outcomes(entries)
    return advanced
