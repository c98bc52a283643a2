"""The last checks of many monitors at once: the heartbeat bars of the overview and detail.

One query for a whole page of monitors, whatever its size: a LATERAL join walks the
``(monitor, -checked_at)`` index of each monitor for its newest ``count`` rows, inside a
time bound that lets PostgreSQL skip all but the newest daily partitions. A per-monitor
query (the obvious loop) was 50 round trips for a page of 50.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from monitors.models import CheckResult

RECENT_CHECKS = 30
# Older checks are not "recent": a monitor checked once a day shows its last week.
LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class Beat:
    """One check as a bar: when, how it went, the code, how long, and why it failed."""

    checked_at: datetime
    status: str
    status_code: int | None
    response_time_ms: int | None
    reason: str


def recent_checks(
    monitor_ids: Iterable[int], *, count: int = RECENT_CHECKS, now: datetime | None = None
) -> dict[int, list[Beat]]:
    """The newest ``count`` checks of each monitor, oldest first (as bars read)."""
    ids = list(monitor_ids)
    beats: dict[int, list[Beat]] = {monitor_id: [] for monitor_id in ids}
    if not ids:
        return beats
    since = (now or timezone.now()) - LOOKBACK
    if connection.vendor != "postgresql":
        return _recent_checks_portable(beats, since=since, count=count)
    table = connection.ops.quote_name(CheckResult._meta.db_table)
    sql = f"""
        SELECT m.id, r.checked_at, r.status, r.status_code, r.response_time_ms, r.reason
        FROM unnest(%s::bigint[]) AS m(id)
        CROSS JOIN LATERAL (
            SELECT checked_at, status, status_code, response_time_ms, reason
            FROM {table}
            WHERE monitor_id = m.id AND checked_at >= %s
            ORDER BY checked_at DESC
            LIMIT %s
        ) AS r
        ORDER BY m.id, r.checked_at
    """  # noqa: S608 - the table name is the model's, quoted; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, since, count])
        for monitor_id, checked_at, status, code, elapsed, reason in cursor.fetchall():
            beats[monitor_id].append(Beat(checked_at, status, code, elapsed, reason))
    return beats


def _recent_checks_portable(
    beats: dict[int, list[Beat]], *, since: datetime, count: int
) -> dict[int, list[Beat]]:
    """The same with a window function (SQLite, the embedded default): it reads every
    check of the lookback, which a small install can afford."""
    rows = (
        CheckResult.objects.filter(monitor_id__in=list(beats), checked_at__gte=since)
        .annotate(
            newest=Window(
                RowNumber(), partition_by=F("monitor_id"), order_by=F("checked_at").desc()
            )
        )
        .filter(newest__lte=count)
        .order_by("monitor_id", "checked_at")
        .values_list(
            "monitor_id", "checked_at", "status", "status_code", "response_time_ms", "reason"
        )
    )
    for monitor_id, checked_at, status, code, elapsed, reason in rows:
        beats[monitor_id].append(Beat(checked_at, status, code, elapsed, reason))
    return beats
