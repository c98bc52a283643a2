"""healthmon's own Prometheus metrics, counted where things happen (web, workers).

The objects here count events in the process that sees them; in a Celery worker they land in
the prometheus_client multiprocess directory and reach Prometheus through the web process's
/metrics (see ``healthmon.multiproc``). Values that describe stored state (open incidents,
dead letters, queue depths, per-monitor gauges, beat's last tick) are not counted here but
read at scrape time by ``healthmon.exposition.StateCollector``, so they are right whichever
process changed them.

Other apps call the small ``record_*`` functions below rather than the metric objects, so
label names and values stay consistent in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter, Histogram

CHECKS = Counter(
    "healthmon_checks_total",
    "Checks completed, by monitor kind (http, tcp, dns, tls) and result status (up, down, "
    "timeout, error).",
    ["kind", "status"],
)
CHECK_DURATION = Histogram(
    "healthmon_check_duration_seconds",
    "Time a check took to get its whole answer; checks without one (timeout, error) are "
    "counted in healthmon_checks_total only.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
SCHEDULE_LAG = Histogram(
    "healthmon_check_schedule_lag_seconds",
    "How late a check started: started at minus scheduled for.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
INCIDENTS_OPENED = Counter("healthmon_incidents_opened_total", "Incidents opened.")
INCIDENTS_RESOLVED = Counter("healthmon_incidents_resolved_total", "Incidents resolved.")
NOTIFICATIONS = Counter(
    "healthmon_notifications_total",
    "Notification delivery attempts, by channel kind and outcome "
    "(delivered, transient or permanent failure).",
    ["kind", "outcome"],
)
NOTIFICATION_DURATION = Histogram(
    "healthmon_notification_duration_seconds",
    "Time one delivery attempt took, by channel kind.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DEAD_LETTERED = Counter(
    "healthmon_dead_lettered_total",
    "Tasks that failed for good and went to the dead-letter store, by task name.",
    ["task"],
)


def record_check(
    *,
    kind: str,
    status: str,
    duration_seconds: float | None,
    started_at: datetime | None = None,
    scheduled_for: datetime | None = None,
) -> None:
    """One finished check (called by the check batch, once per result)."""
    CHECKS.labels(kind=kind, status=status).inc()
    if duration_seconds is not None:
        CHECK_DURATION.observe(max(duration_seconds, 0.0))
    if started_at is not None and scheduled_for is not None:
        # A check that started early (clock skew between hosts) has no lag, not a negative one.
        SCHEDULE_LAG.observe(max((started_at - scheduled_for).total_seconds(), 0.0))


def record_checks(results: Iterable) -> None:
    """A stored batch of ``CheckResult`` rows (status, response_time_ms, checked_at,
    scheduled_for), each with its monitor loaded (for the kind)."""
    for result in results:
        # A heartbeat's response time is its job's run time (minutes, hours), not a probe's.
        duration_ms = result.response_time_ms if result.monitor.kind != "heartbeat" else None
        record_check(
            kind=result.monitor.kind,
            status=result.status,
            duration_seconds=duration_ms / 1000 if duration_ms is not None else None,
            started_at=result.checked_at,
            scheduled_for=result.scheduled_for,
        )


def record_incident_opened() -> None:
    INCIDENTS_OPENED.inc()


def record_incident_resolved() -> None:
    INCIDENTS_RESOLVED.inc()


def record_notification(*, kind: str, outcome: str, duration_seconds: float | None) -> None:
    """One delivery attempt; outcome is delivered, transient or permanent."""
    NOTIFICATIONS.labels(kind=kind, outcome=outcome).inc()
    if duration_seconds is not None:
        NOTIFICATION_DURATION.labels(kind=kind).observe(max(duration_seconds, 0.0))


def record_dead_letter(*, task: str) -> None:
    DEAD_LETTERED.labels(task=task).inc()
