"""Incremental rollups of check results, and retention pruning.

Checks are stored raw (``CheckResult``) and kept for ``CHECK_RETENTION_DAYS``; history
beyond that, and every uptime or latency figure, is read from ``CheckRollup`` rows: one per
monitor per UTC hour and per UTC day.

Rolling up is not done per check in the hot path (one upsert per check would double the
writes of the check engine). A periodic task (``monitors.tasks.rollup_check_results``, every
few seconds) aggregates the results stored since the last run in SQL, grouped by monitor and
hour (then day), and merges the sums into existing rows with ``INSERT ... ON CONFLICT DO
UPDATE SET n = n + excluded.n``. The same statement runs on PostgreSQL and SQLite (3.24+);
only the hour/day truncation differs. Nothing is ever recomputed from scratch.

Which results are new is tracked by id (``RollupWatermark.last_id``): every result with an id
up to the watermark is rolled up, none above it. The trap is that ids are handed out when a
row is inserted but become visible when its transaction commits, and concurrent check
batches commit out of id order: if batch A took ids 100-149 and B took 150-199 and B commits
first, a run that advanced the watermark to 199 would never see A's rows. So a run only
advances over a *contiguous* run of visible ids. A missing id is either still in flight
(it will appear within milliseconds), or will never appear (its transaction rolled back, or
its monitor was deleted). The run waits for a gap until ``ROLLUP_GAP_GRACE_SECONDS`` have
passed since it first saw it, then gives up on every id missing at that moment. Only a
transaction that holds an id for longer than the grace (a check batch commits one bulk
insert, in milliseconds) would lose its rows from the rollups; the skip is logged.

Each run locks the watermark row, so two runs (a duplicate beat, a retried task) serialize
and never count a result twice; merge and watermark commit in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitors.latency import BUCKET_FIELDS, bucket_bounds
from monitors.models import CheckResult, CheckRollup, CheckStatus, RollupPeriod, RollupWatermark

logger = logging.getLogger(__name__)

ROLLUP_BATCH_SIZE = 20_000  # result ids per transaction: keeps each transaction short
ROLLUP_MAX_BATCHES = 25  # per run; a backlog is worked off over the following runs


@dataclass(frozen=True)
class WatermarkAdvance:
    """Where the watermark moves to, and the gap (if any) being waited for."""

    last_id: int
    gap_id: int | None
    gap_seen_at: datetime | None
    abandoned: int = 0  # ids given up on in this step


def advance_watermark(
    *,
    last_id: int,
    visible_ids: list[int],
    gap_id: int | None,
    gap_seen_at: datetime | None,
    now: datetime,
    grace: timedelta,
) -> WatermarkAdvance:
    """Decide how far the rollup may go given the ids it can see (sorted, all > last_id).

    ``gap_id`` records the highest visible id when a gap was first seen at ``gap_seen_at``;
    every id below it had been handed out by then. Once the grace has passed, ids missing
    up to it are abandoned together, so many missing ids (a deleted monitor's rows) cost one
    grace period, not one each.
    """
    if not visible_ids:
        return WatermarkAdvance(last_id, None, None)
    expired = gap_id is not None and now - gap_seen_at >= grace
    # Capped at the last id fetched: ids past a truncated batch are unknown, not missing.
    horizon = min(gap_id, visible_ids[-1]) if expired else last_id
    position = last_id
    abandoned = 0
    for result_id in visible_ids:
        if result_id != position + 1:
            if result_id - 1 > horizon:
                break  # a gap still in its grace period: stop before it
            abandoned += result_id - position - 1
        position = result_id
    if position < horizon:  # stopped at a gap that begins at or below the horizon
        abandoned += horizon - position
        position = horizon
    if visible_ids[-1] > position:
        # Still a gap ahead: keep waiting on an observation that covers it, else start one.
        if not expired and gap_id is not None and gap_id > position:
            return WatermarkAdvance(position, gap_id, gap_seen_at, abandoned)
        return WatermarkAdvance(position, visible_ids[-1], now, abandoned)
    return WatermarkAdvance(position, None, None, abandoned)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _truncate(period: str) -> str:
    """SQL truncating ``checked_at`` to the start of its UTC hour or day."""
    if connection.vendor == "postgresql":
        unit = "hour" if period == RollupPeriod.HOUR else "day"
        return f"date_trunc('{unit}', checked_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    if connection.vendor == "sqlite":
        # Django stores SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        # %% because Django turns "%%" into "%" when it formats parameters.
        pattern = "%%Y-%%m-%%d %%H:00:00" if period == RollupPeriod.HOUR else "%%Y-%%m-%%d 00:00:00"
        return f"strftime('{pattern}', checked_at)"
    raise NotImplementedError(f"rollups support PostgreSQL and SQLite, not {connection.vendor}")


def _merge_sql(period: str) -> str:
    rollup = _quote(CheckRollup._meta.db_table)
    results = _quote(CheckResult._meta.db_table)
    up = f"status = '{CheckStatus.UP.value}'"
    timed = f"{up} AND response_time_ms IS NOT NULL"
    buckets = []
    for index in range(len(BUCKET_FIELDS)):
        lower, upper = bucket_bounds(index)
        condition = timed + (f" AND response_time_ms >= {lower}" if lower else "")
        condition += f" AND response_time_ms < {upper}" if upper is not None else ""
        buckets.append(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)")
    sums = ["checks", "up", "response_count", "response_sum_ms", *BUCKET_FIELDS]
    columns = ", ".join(_quote(c) for c in ["monitor_id", "period", "period_start", *sums])
    updates = ", ".join(f"{_quote(c)} = {rollup}.{_quote(c)} + excluded.{_quote(c)}" for c in sums)
    truncated = _truncate(period)
    return (
        f"INSERT INTO {rollup} ({columns}) "  # noqa: S608 - identifiers and constants only
        f"SELECT monitor_id, %s, {truncated}, COUNT(*), "
        f"SUM(CASE WHEN {up} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {timed} THEN 1 ELSE 0 END), "
        f"COALESCE(SUM(CASE WHEN {timed} THEN response_time_ms ELSE 0 END), 0), "
        f"{', '.join(buckets)} "
        f"FROM {results} WHERE id > %s AND id <= %s "
        f"GROUP BY monitor_id, {truncated} "
        f"ON CONFLICT (monitor_id, period, period_start) DO UPDATE SET {updates}"
    )


def merge_results_into_rollups(*, after_id: int, upto_id: int) -> None:
    """Add the results with ``after_id < id <= upto_id`` to their hour and day rollups."""
    with connection.cursor() as cursor:
        for period in (RollupPeriod.HOUR, RollupPeriod.DAY):
            cursor.execute(_merge_sql(period), [period.value, after_id, upto_id])


@dataclass
class RollupRun:
    results: int = 0  # results merged into rollups
    batches: int = 0
    abandoned: int = 0  # missing ids given up on
    watermark: int = 0
    busy: bool = False  # another run held the watermark


def _locked_watermark() -> RollupWatermark | None:
    """The watermark row, locked; None while another run holds it.

    Created at the first run that finds results, just below the oldest one: ids need not
    start at 1 (a restored database, a reused sequence), and the ids before the first stored
    result would otherwise look like a gap to wait for.
    """
    if not RollupWatermark.objects.filter(id=1).exists():
        oldest = CheckResult.objects.order_by("id").values_list("id", flat=True).first()
        RollupWatermark.objects.bulk_create(
            [RollupWatermark(id=1, last_id=(oldest or 1) - 1)], ignore_conflicts=True
        )
    return RollupWatermark.objects.select_for_update(skip_locked=True).filter(id=1).first()


def rollup_batch(*, batch_size: int = ROLLUP_BATCH_SIZE, now: datetime | None = None) -> RollupRun:
    """Merge up to ``batch_size`` new results into the rollups, in one transaction."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ROLLUP_GAP_GRACE_SECONDS)
    with transaction.atomic():
        if not RollupWatermark.objects.filter(id=1).exists() and not CheckResult.objects.exists():
            return RollupRun()  # nothing checked yet
        watermark = _locked_watermark()
        if watermark is None:
            return RollupRun(busy=True)
        visible = list(
            CheckResult.objects.filter(id__gt=watermark.last_id)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        step = advance_watermark(
            last_id=watermark.last_id,
            visible_ids=visible,
            gap_id=watermark.gap_id,
            gap_seen_at=watermark.gap_seen_at,
            now=now,
            grace=grace,
        )
        if step.abandoned:
            logger.warning(
                "rollup gave up waiting for %d check result ids up to #%d "
                "(rolled back, deleted with their monitor, or committed very late)",
                step.abandoned,
                step.last_id,
            )
        merged = sum(1 for result_id in visible if result_id <= step.last_id)
        if step.last_id > watermark.last_id:
            merge_results_into_rollups(after_id=watermark.last_id, upto_id=step.last_id)
        changed = (step.last_id, step.gap_id, step.gap_seen_at) != (
            watermark.last_id,
            watermark.gap_id,
            watermark.gap_seen_at,
        )
        if changed:
            watermark.last_id, watermark.gap_id, watermark.gap_seen_at = (
                step.last_id,
                step.gap_id,
                step.gap_seen_at,
            )
            watermark.save(update_fields=["last_id", "gap_id", "gap_seen_at", "updated_at"])
    return RollupRun(
        results=merged,
        batches=1 if merged else 0,
        abandoned=step.abandoned,
        watermark=step.last_id,
    )


def rollup_new_results(
    *,
    batch_size: int = ROLLUP_BATCH_SIZE,
    max_batches: int = ROLLUP_MAX_BATCHES,
    now: datetime | None = None,
) -> RollupRun:
    """Roll up everything new, batch by batch, until caught up or ``max_batches`` ran."""
    total = RollupRun()
    for _ in range(max_batches):
        run = rollup_batch(batch_size=batch_size, now=now)
        total.results += run.results
        total.batches += run.batches
        total.abandoned += run.abandoned
        total.watermark = run.watermark or total.watermark
        total.busy = run.busy
        if run.busy or run.results < batch_size:
            break
    return total


@dataclass(frozen=True)
class RollupBacklog:
    """How far rollups are behind the stored results: a hook for metrics and /health."""

    watermark: int
    pending_ids: int  # newest result id - watermark: an upper bound of results to roll up
    oldest_pending_seconds: float  # age of the oldest result not rolled up; 0 when caught up


def rollup_backlog(*, now: datetime | None = None) -> RollupBacklog:
    """Two primary-key lookups, cheap enough for every scrape."""
    now = now or timezone.now()
    last_id = RollupWatermark.objects.filter(id=1).values_list("last_id", flat=True).first() or 0
    newest = CheckResult.objects.order_by("-id").values_list("id", flat=True).first() or last_id
    oldest = (
        CheckResult.objects.filter(id__gt=last_id)
        .order_by("id")
        .values_list("checked_at", flat=True)
        .first()
    )
    age = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return RollupBacklog(last_id, max(newest - last_id, 0), age)


# --- Retention ------------------------------------------------------------------------------


@dataclass
class PruneRun:
    check_results: int = 0
    hourly_rollups: int = 0
    complete: bool = True  # False when max_batches stopped it before everything old was gone


def _delete_in_batches(queryset, *, batch_size: int, max_batches: int | None) -> tuple[int, bool]:
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted, True
        # One short transaction per batch: locks are held briefly and a long prune can be
        # interrupted without losing what it already did.
        with transaction.atomic():
            count, _ = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += count
        batches += 1
        if len(ids) < batch_size:
            return deleted, True
    return deleted, False


def prune_history(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> PruneRun:
    """Delete raw results older than the retention, and hourly rollups past theirs.

    Results not rolled up yet are kept whatever their age, so pruning never loses history.
    Daily rollups are kept for good: they are what SLA reports read.
    """
    now = now or timezone.now()
    days = settings.CHECK_RETENTION_DAYS if retention_days is None else retention_days
    batch_size = batch_size or settings.PRUNE_BATCH_SIZE
    rolled_up = RollupWatermark.objects.filter(id=1).values_list("last_id", flat=True).first() or 0
    old_results = CheckResult.objects.filter(
        checked_at__lt=now - timedelta(days=days), id__lte=rolled_up
    )
    results, complete = _delete_in_batches(
        old_results, batch_size=batch_size, max_batches=max_batches
    )
    old_hours = CheckRollup.objects.filter(
        period=RollupPeriod.HOUR,
        period_start__lt=now - timedelta(days=settings.HOURLY_ROLLUP_RETENTION_DAYS),
    )
    hours, hours_complete = _delete_in_batches(
        old_hours, batch_size=batch_size, max_batches=max_batches
    )
    return PruneRun(
        check_results=results, hourly_rollups=hours, complete=complete and hours_complete
    )
