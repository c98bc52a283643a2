"""What a public status page shows, and nothing more.

The public sees each chosen monitor's name, state and daily uptime, and when incidents
started and ended. Never URLs, status codes, failure reasons or anything else of the check
configuration: those can name internal hosts and leak details to the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from incidents.maintenance import ScheduledMaintenance, monitors_in_maintenance, scheduled_for
from incidents.models import Incident, IncidentUpdate
from monitors.models import MonitorStatus, StatusPage
from reports.stats import DayBar, daily_bars

BAR_DAYS = 90
RECENT_INCIDENT_DAYS = 14
RECENT_INCIDENT_LIMIT = 20
# A status page gets its traffic during outages, all at once: serve it from the cache.
CACHE_SECONDS = 15


@dataclass(frozen=True)
class PublicMonitor:
    name: str
    state: str  # up, down, paused, unknown
    uptime_percent: float | None  # over the bars' days
    bars: list[DayBar]
    under_maintenance: bool = False  # in an active maintenance window


@dataclass(frozen=True)
class PublicUpdate:
    status: str  # investigating, identified, monitoring, resolved
    message: str
    created_at: datetime


@dataclass(frozen=True)
class PublicIncident:
    monitor_name: str
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...] = ()  # the team's updates, newest first

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def duration(self) -> timedelta | None:
        return self.resolved_at - self.started_at if self.resolved_at else None


@dataclass(frozen=True)
class PublicStatus:
    title: str
    description: str
    overall: str  # operational, partial_outage, major_outage, unknown
    monitors: list[PublicMonitor]
    open_incidents: list[PublicIncident]
    recent_incidents: list[PublicIncident]
    generated_at: datetime
    scheduled_maintenance: list[ScheduledMaintenance] = field(default_factory=list)


def overall_state(states: list[str]) -> str:
    """One word for the page: any monitor down is an outage, all of them a major one."""
    watched = [state for state in states if state != "paused"]
    down = sum(1 for state in watched if state == MonitorStatus.DOWN)
    if down and down == len(watched):
        return "major_outage"
    if down:
        return "partial_outage"
    if watched and all(state == MonitorStatus.UP for state in watched):
        return "operational"
    return "unknown"


def _uptime(bars: list[DayBar]) -> float | None:
    checks = sum(bar.checks for bar in bars)
    return 100.0 * sum(bar.up for bar in bars) / checks if checks else None


def public_status(page: StatusPage, *, now: datetime | None = None) -> PublicStatus:
    now = now or timezone.now()
    monitors = list(
        page.monitors.order_by("name", "id").only("id", "team_id", "name", "status", "is_active")
    )
    bars = daily_bars([m.id for m in monitors], days=BAR_DAYS, now=now)
    in_maintenance = monitors_in_maintenance(monitors, at=now)
    shown = [
        PublicMonitor(
            name=monitor.name,
            state=monitor.status if monitor.is_active else "paused",
            uptime_percent=_uptime(bars[monitor.id]),
            bars=bars[monitor.id],
            under_maintenance=monitor.id in in_maintenance,
        )
        for monitor in monitors
    ]
    names = {monitor.id: monitor.name for monitor in monitors}
    rows = (
        Incident.objects.filter(monitor_id__in=list(names))
        .filter(
            Q(resolved_at__isnull=True)
            | Q(resolved_at__gte=now - timedelta(days=RECENT_INCIDENT_DAYS))
        )
        .order_by("-started_at")
        .values_list("id", "monitor_id", "started_at", "resolved_at")[:RECENT_INCIDENT_LIMIT]
    )
    incidents = list(rows)
    updates: dict[int, list[PublicUpdate]] = {}
    for incident_id, status, message, created_at in (
        IncidentUpdate.objects.filter(incident_id__in=[row[0] for row in incidents])
        .order_by("-created_at", "-id")
        .values_list("incident_id", "status", "message", "created_at")
    ):
        updates.setdefault(incident_id, []).append(PublicUpdate(status, message, created_at))
    public = [
        PublicIncident(names[m], started, resolved, tuple(updates.get(incident_id, ())))
        for incident_id, m, started, resolved in incidents
    ]
    return PublicStatus(
        title=page.title,
        description=page.description,
        overall=overall_state([m.state for m in shown]),
        monitors=shown,
        open_incidents=[i for i in public if i.is_open],
        recent_incidents=[i for i in public if not i.is_open],
        generated_at=now,
        scheduled_maintenance=scheduled_for(monitors, since=now),
    )


def public_status_cached(page: StatusPage) -> PublicStatus:
    key = f"status-page:{page.id}:{page.updated_at.timestamp()}"
    status: PublicStatus | None = cache.get(key)
    if status is None:
        status = public_status(page)
        cache.set(key, status, CACHE_SECONDS)
    return status
