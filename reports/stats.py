"""Uptime, latency and SLA figures, read from rollups (never from raw results).

Every figure here costs a handful of indexed rows whatever the number of checks: a window
sums at most 168 hourly or 90 daily ``CheckRollup`` rows per monitor. Windows are aligned to
rollup buckets (UTC): "24h" is the current hour and the 23 before it, "30d" today and the 29
days before. Incident figures come from ``incidents.Incident``, reached through the reverse
relation because monitors must not import incidents.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from incidents.maintenance import Interval, maintenance_intervals, overlap_seconds
from incidents.models import Incident
from monitors import latency
from monitors.latency import BUCKET_FIELDS
from monitors.models import CheckResult, CheckRollup, CheckStatus, Monitor, RollupPeriod

WINDOWS: dict[str, tuple[str, int]] = {
    # window: (rollup period, number of buckets)
    "24h": (RollupPeriod.HOUR, 24),
    "7d": (RollupPeriod.HOUR, 7 * 24),
    "30d": (RollupPeriod.DAY, 30),
    "90d": (RollupPeriod.DAY, 90),
}

_SUMS = ("checks", "up", "response_count", "response_sum_ms", *BUCKET_FIELDS)


def bucket_start(moment: datetime, period: str) -> datetime:
    moment = moment.astimezone(UTC)
    if period == RollupPeriod.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def window_start(window: str, now: datetime) -> tuple[str, datetime]:
    """The rollup period and the first bucket of a window ending at ``now``."""
    period, buckets = WINDOWS[window]
    step = timedelta(hours=1) if period == RollupPeriod.HOUR else timedelta(days=1)
    return period, bucket_start(now, period) - step * (buckets - 1)


@dataclass
class RollupTotals:
    """Sums of rollup rows; percentiles come from the merged histogram."""

    checks: int = 0
    up: int = 0
    response_count: int = 0
    response_sum_ms: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * latency.LATENCY_BUCKET_COUNT)

    @classmethod
    def from_sums(cls, sums: Mapping[str, Any]) -> RollupTotals:
        return cls(
            checks=sums.get("checks") or 0,
            up=sums.get("up") or 0,
            response_count=sums.get("response_count") or 0,
            response_sum_ms=sums.get("response_sum_ms") or 0,
            histogram=[sums.get(name) or 0 for name in BUCKET_FIELDS],
        )

    @property
    def down(self) -> int:
        return self.checks - self.up

    @property
    def uptime_percent(self) -> float | None:
        return 100.0 * self.up / self.checks if self.checks else None

    @property
    def response_time_avg_ms(self) -> float | None:
        if not self.response_count:
            return None
        return round(self.response_sum_ms / self.response_count, 1)

    def response_time_percentile_ms(self, q: float) -> float | None:
        value = latency.percentile(self.histogram, q)
        return None if value is None else round(value, 1)


def rollup_totals(
    monitor_ids: Iterable[int], *, period: str, since: datetime, until: datetime | None = None
) -> dict[int, RollupTotals]:
    """Totals per monitor over the rollup rows starting in [since, until)."""
    rows = CheckRollup.objects.filter(
        monitor_id__in=list(monitor_ids), period=period, period_start__gte=since
    )
    if until is not None:
        rows = rows.filter(period_start__lt=until)
    sums = rows.values("monitor_id").order_by().annotate(**{name: Sum(name) for name in _SUMS})
    return {row["monitor_id"]: RollupTotals.from_sums(row) for row in sums}


def uptime_by_monitor(
    monitor_ids: Iterable[int], window: str, *, now: datetime | None = None
) -> dict[int, float | None]:
    """Uptime % per monitor over a window, for lists (one query for all of them)."""
    period, since = window_start(window, now or timezone.now())
    totals = rollup_totals(monitor_ids, period=period, since=since)
    return {monitor_id: t.uptime_percent for monitor_id, t in totals.items()}


def hourly_response_series(
    monitor_ids: Iterable[int], *, hours: int = 24, now: datetime | None = None
) -> dict[int, list[float | None]]:
    """Average response time per hour for each monitor (oldest first): sparklines."""
    ids = list(monitor_ids)
    first = bucket_start(now or timezone.now(), RollupPeriod.HOUR) - timedelta(hours=hours - 1)
    series: dict[int, list[float | None]] = {monitor_id: [None] * hours for monitor_id in ids}
    rows = CheckRollup.objects.filter(
        monitor_id__in=ids, period=RollupPeriod.HOUR, period_start__gte=first
    ).values_list("monitor_id", "period_start", "response_count", "response_sum_ms")
    for monitor_id, start, count, total in rows:
        index = int((start - first).total_seconds() // 3600)
        if count and 0 <= index < hours:
            series[monitor_id][index] = round(total / count, 1)
    return series


@dataclass(frozen=True)
class DayBar:
    day: date
    checks: int
    up: int

    @property
    def uptime_percent(self) -> float | None:
        return 100.0 * self.up / self.checks if self.checks else None

    @property
    def level(self) -> str:
        """A colour class for uptime bars: none, good, minor, major."""
        uptime = self.uptime_percent
        if uptime is None:
            return "none"
        if uptime >= 99.9:
            return "good"
        if uptime >= 99.0:
            return "minor"
        return "major"


def daily_bars(
    monitor_ids: Iterable[int], *, days: int = 90, now: datetime | None = None
) -> dict[int, list[DayBar]]:
    """One bar per UTC day (oldest first) for each monitor; days without checks are empty."""
    ids = list(monitor_ids)
    today = bucket_start(now or timezone.now(), RollupPeriod.DAY)
    first = today - timedelta(days=days - 1)
    found: dict[tuple[int, date], tuple[int, int]] = {}
    rows = CheckRollup.objects.filter(
        monitor_id__in=ids, period=RollupPeriod.DAY, period_start__gte=first
    ).values_list("monitor_id", "period_start", "checks", "up")
    for monitor_id, start, checks, up in rows:
        found[(monitor_id, start.astimezone(UTC).date())] = (checks, up)
    calendar_days = [(first + timedelta(days=n)).date() for n in range(days)]
    return {
        monitor_id: [DayBar(day, *found.get((monitor_id, day), (0, 0))) for day in calendar_days]
        for monitor_id in ids
    }


# --- Incidents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentSpan:
    id: int
    started_at: datetime
    resolved_at: datetime | None


def incident_spans(monitor_id: int, *, since: datetime, until: datetime) -> list[IncidentSpan]:
    """Incidents of a monitor that overlap [since, until), oldest first."""
    rows = (
        Incident.objects.filter(monitor_id=monitor_id, started_at__lt=until)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=since))
        .order_by("started_at")
        .values_list("id", "started_at", "resolved_at")
    )
    return [IncidentSpan(*row) for row in rows]


@dataclass(frozen=True)
class IncidentFigures:
    count: int  # incidents that started in the window
    downtime_seconds: float  # time inside the window covered by incidents
    mttr_seconds: float | None  # mean start-to-resolution of incidents resolved in the window


def incident_figures(
    spans: Iterable[IncidentSpan],
    *,
    since: datetime,
    until: datetime,
    excluded: list[Interval] | None = None,
) -> IncidentFigures:
    """``excluded``: maintenance time, not counted as downtime."""
    count = 0
    downtime = 0.0
    repairs: list[float] = []
    for span in spans:
        if since <= span.started_at < until:
            count += 1
        start, end = max(span.started_at, since), min(span.resolved_at or until, until)
        downtime += max((end - start).total_seconds(), 0.0)
        if excluded and end > start:
            downtime -= overlap_seconds(start, end, excluded)
        if span.resolved_at is not None and since <= span.resolved_at < until:
            repairs.append((span.resolved_at - span.started_at).total_seconds())
    mttr = round(sum(repairs) / len(repairs), 1) if repairs else None
    return IncidentFigures(count, round(downtime, 1), mttr)


# --- Maintenance excluded -------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceShare:
    """What maintenance takes out of a report: its time, and the checks made during it."""

    intervals: list[Interval]
    seconds: float
    checks_by_day: dict[date, tuple[int, int]]  # UTC day -> (checks, up)

    @property
    def checks(self) -> int:
        return sum(checks for checks, _ in self.checks_by_day.values())

    @property
    def up(self) -> int:
        return sum(up for _, up in self.checks_by_day.values())


def maintenance_share(monitor: Monitor, *, since: datetime, until: datetime) -> MaintenanceShare:
    """Maintenance of ``monitor`` in [since, until). Rollups do not know which checks fell in
    a window, so those are counted from the raw results (one query), which are kept for
    CHECK_RETENTION_DAYS: past that, maintenance time still leaves the downtime and the
    error budget, but its checks can no longer be told apart."""
    intervals = maintenance_intervals(monitor, since=since, until=until)
    checks_by_day: dict[date, tuple[int, int]] = {}
    if intervals:
        inside = Q()
        for start, end in intervals:
            inside |= Q(checked_at__gte=start, checked_at__lt=end)
        rows = (
            CheckResult.objects.filter(inside, monitor_id=monitor.id)
            .annotate(day=TruncDate("checked_at", tzinfo=UTC))
            .values("day")
            .order_by()
            .annotate(checks=Count("id"), up=Count("id", filter=Q(status=CheckStatus.UP)))
        )
        checks_by_day = {row["day"]: (row["checks"], row["up"]) for row in rows}
    seconds = sum((end - start).total_seconds() for start, end in intervals)
    return MaintenanceShare(intervals, round(seconds, 1), checks_by_day)


def _without(totals: RollupTotals, checks: int, up: int) -> None:
    totals.checks = max(totals.checks - checks, 0)
    totals.up = min(max(totals.up - up, 0), totals.checks)


NO_MAINTENANCE = MaintenanceShare([], 0.0, {})


# --- Windows and reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorStats:
    window: str
    since: datetime
    until: datetime
    checks: int
    up: int
    down: int
    uptime_percent: float | None
    response_time_avg_ms: float | None
    response_time_p50_ms: float | None
    response_time_p95_ms: float | None
    incidents: int
    downtime_seconds: float
    mttr_seconds: float | None
    exclude_maintenance: bool = False
    maintenance_seconds: float = 0.0  # removed from the window (with exclude_maintenance)
    maintenance_checks: int = 0  # removed from checks and up


def monitor_stats(
    *,
    monitor: Monitor,
    window: str,
    now: datetime | None = None,
    exclude_maintenance: bool = False,
) -> MonitorStats:
    """``exclude_maintenance``: checks made and downtime spent in maintenance windows are
    left out, so uptime is measured over the time outside maintenance only."""
    now = now or timezone.now()
    period, since = window_start(window, now)
    totals = rollup_totals([monitor.id], period=period, since=since).get(monitor.id, RollupTotals())
    share = (
        maintenance_share(monitor, since=since, until=now)
        if exclude_maintenance
        else NO_MAINTENANCE
    )
    _without(totals, share.checks, share.up)
    figures = incident_figures(
        incident_spans(monitor.id, since=since, until=now),
        since=since,
        until=now,
        excluded=share.intervals,
    )
    return MonitorStats(
        window=window,
        since=since,
        until=now,
        checks=totals.checks,
        up=totals.up,
        down=totals.down,
        uptime_percent=totals.uptime_percent,
        response_time_avg_ms=totals.response_time_avg_ms,
        response_time_p50_ms=totals.response_time_percentile_ms(0.50),
        response_time_p95_ms=totals.response_time_percentile_ms(0.95),
        incidents=figures.count,
        downtime_seconds=figures.downtime_seconds,
        mttr_seconds=figures.mttr_seconds,
        exclude_maintenance=exclude_maintenance,
        maintenance_seconds=share.seconds,
        maintenance_checks=share.checks,
    )


@dataclass(frozen=True)
class SlaDay:
    day: date
    checks: int
    up: int
    uptime_percent: float | None
    response_time_avg_ms: float | None
    response_time_p95_ms: float | None
    incidents: int
    downtime_seconds: float


@dataclass(frozen=True)
class SlaReport:
    monitor_id: int
    monitor_name: str
    month: str  # YYYY-MM
    since: datetime
    until: datetime  # the end of the month, or now for the current month
    target_percent: float | None
    checks: int
    up: int
    uptime_percent: float | None
    target_met: bool | None
    allowed_downtime_seconds: float | None  # the error budget of the target over the period
    response_time_avg_ms: float | None
    response_time_p50_ms: float | None
    response_time_p95_ms: float | None
    incidents: int
    downtime_seconds: float
    mttr_seconds: float | None
    days: list[SlaDay]
    incident_list: list[IncidentSpan]
    exclude_maintenance: bool = False
    maintenance_seconds: float = 0.0  # removed from the period (with exclude_maintenance)
    maintenance_checks: int = 0  # removed from checks and up


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    since = datetime(year, month, 1, tzinfo=UTC)
    until = since + timedelta(days=calendar.monthrange(year, month)[1])
    return since, until


def sla_report(
    *,
    monitor: Monitor,
    year: int,
    month: int,
    target_percent: float | None = None,
    now: datetime | None = None,
    exclude_maintenance: bool = False,
) -> SlaReport:
    """A month's availability of one monitor, day by day, from daily rollups and incidents.

    ``exclude_maintenance``: the checks made and downtime spent in maintenance windows are
    left out, and the error budget is computed over the time outside maintenance."""
    now = now or timezone.now()
    since, month_end = month_bounds(year, month)
    until = max(min(month_end, now), since)
    share = (
        maintenance_share(monitor, since=since, until=until)
        if exclude_maintenance
        else NO_MAINTENANCE
    )
    rows = {
        row.period_start.astimezone(UTC).date(): row
        for row in CheckRollup.objects.filter(
            monitor=monitor, period=RollupPeriod.DAY, period_start__gte=since,
            period_start__lt=month_end,
        )
    }  # fmt: skip
    spans = incident_spans(monitor.id, since=since, until=until)
    days = []
    total = RollupTotals()
    for offset in range((month_end - since).days):
        day_start = since + timedelta(days=offset)
        if day_start >= until:
            break
        row = rows.get(day_start.date())
        day = RollupTotals.from_sums(
            {name: getattr(row, name) for name in _SUMS} if row is not None else {}
        )
        _without(day, *share.checks_by_day.get(day_start.date(), (0, 0)))
        total.checks += day.checks
        total.up += day.up
        total.response_count += day.response_count
        total.response_sum_ms += day.response_sum_ms
        total.histogram = latency.merge(total.histogram, day.histogram)
        day_end = min(day_start + timedelta(days=1), until)
        figures = incident_figures(spans, since=day_start, until=day_end, excluded=share.intervals)
        days.append(
            SlaDay(
                day=day_start.date(),
                checks=day.checks,
                up=day.up,
                uptime_percent=day.uptime_percent,
                response_time_avg_ms=day.response_time_avg_ms,
                response_time_p95_ms=day.response_time_percentile_ms(0.95),
                incidents=figures.count,
                downtime_seconds=figures.downtime_seconds,
            )
        )
    figures = incident_figures(spans, since=since, until=until, excluded=share.intervals)
    uptime = total.uptime_percent
    measured_seconds = (until - since).total_seconds() - share.seconds
    return SlaReport(
        monitor_id=monitor.id,
        monitor_name=monitor.name,
        month=f"{year:04d}-{month:02d}",
        since=since,
        until=until,
        target_percent=target_percent,
        checks=total.checks,
        up=total.up,
        uptime_percent=uptime,
        target_met=None if target_percent is None or uptime is None else uptime >= target_percent,
        allowed_downtime_seconds=None
        if target_percent is None
        else round(measured_seconds * (100 - target_percent) / 100, 1),
        response_time_avg_ms=total.response_time_avg_ms,
        response_time_p50_ms=total.response_time_percentile_ms(0.50),
        response_time_p95_ms=total.response_time_percentile_ms(0.95),
        incidents=figures.count,
        downtime_seconds=figures.downtime_seconds,
        mttr_seconds=figures.mttr_seconds,
        days=days,
        incident_list=spans,
        exclude_maintenance=exclude_maintenance,
        maintenance_seconds=share.seconds,
        maintenance_checks=share.checks,
    )
