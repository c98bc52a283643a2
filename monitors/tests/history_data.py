"""Generated check results, and the figures the rollups must match, computed from raw rows."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from accounts.models import Team
from monitors.models import CheckResult, CheckStatus, Monitor
from monitors.tests import latency_oracle as oracle


def make_monitor(team: Team, name: str = "Orders API", **fields) -> Monitor:
    fields.setdefault("next_check_at", timezone.now() + timedelta(hours=1))
    return Monitor.objects.create(team=team, name=name, url="https://orders.example.com/", **fields)


def generate_results(
    monitors: list[Monitor],
    *,
    start: datetime,
    end: datetime,
    per_monitor: int,
    seed: int = 1,
    down_rate: float = 0.1,
) -> list[CheckResult]:
    """Random results spread over [start, end), stored in an order unrelated to time."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    rows = []
    for monitor in monitors:
        for _ in range(per_monitor):
            checked_at = start + timedelta(seconds=rng.uniform(0, span))
            roll = rng.random()
            if roll >= down_rate:
                status, response_time = CheckStatus.UP, int(rng.lognormvariate(4.5, 0.7))
            elif roll < down_rate / 3:
                status, response_time = CheckStatus.ERROR, None
            elif roll < 2 * down_rate / 3:
                status, response_time = CheckStatus.TIMEOUT, 10000
            else:
                status, response_time = CheckStatus.DOWN, rng.randint(5, 900)
            rows.append(
                CheckResult(
                    monitor=monitor,
                    checked_at=checked_at,
                    status=status,
                    status_code=200 if status == CheckStatus.UP else None,
                    response_time_ms=response_time,
                )
            )
    rng.shuffle(rows)
    return CheckResult.objects.bulk_create(rows)


def truncate(moment: datetime, period: str) -> datetime:
    moment = moment.astimezone(UTC)
    if period == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def expected_rollups(results: list[CheckResult], period: str) -> dict[tuple[int, datetime], dict]:
    """What each rollup row must hold, computed directly from raw results."""
    groups: dict[tuple[int, datetime], list[CheckResult]] = defaultdict(list)
    for result in results:
        groups[(result.monitor_id, truncate(result.checked_at, period))].append(result)
    expected = {}
    for key, rows in groups.items():
        times = [
            r.response_time_ms for r in rows if r.status == "up" and r.response_time_ms is not None
        ]
        expected[key] = {
            "checks": len(rows),
            "up": sum(1 for r in rows if r.status == "up"),
            "response_count": len(times),
            "response_sum_ms": sum(times),
            "histogram": oracle.histogram_of(times),
        }
    return expected


def raw_figures(results: list[CheckResult], *, since: datetime, until: datetime) -> dict:
    """Uptime and latency of results checked in [since, until], straight from raw rows."""
    rows = [r for r in results if since <= r.checked_at <= until]
    times = [
        r.response_time_ms for r in rows if r.status == "up" and r.response_time_ms is not None
    ]
    up = sum(1 for r in rows if r.status == "up")
    return {
        "checks": len(rows),
        "up": up,
        "uptime_percent": 100.0 * up / len(rows) if rows else None,
        "avg": sum(times) / len(times) if times else None,
        "p50": oracle.exact_percentile(times, 0.5),
        "p95": oracle.exact_percentile(times, 0.95),
    }
