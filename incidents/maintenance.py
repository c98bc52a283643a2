"""Maintenance windows: when they are active, whom they cover, and the writes that make them.

Rules (README: "Maintenance windows")
-------------------------------------
- During a window the monitors it covers are checked as usual and their results stored, but
  a failure run reaching ``failure_threshold`` opens no incident: the state machine counts
  the failures and holds the opening (``Observation.in_maintenance``). The first failing
  check after the window ends opens the incident (started at the first failure of the run),
  so a monitor still down alerts within one interval of the window's end.
- An incident already open when a window starts stays open: its failures are counted, and
  when the monitor recovers it is resolved and the resolution is sent as usual, because the
  people told that it opened must hear that it ended. Nothing new opens during the window.
- A one-off window covers [starts_at, ends_at); a recurring one covers each occurrence of
  its cron expression or RRULE, read as wall-clock time in ``timezone`` (so "02:00" stays
  02:00 local across a DST change), for ``duration_minutes``.
- Scope: the listed monitors, the monitors carrying one of the listed tags (as they are
  tagged at the time of the check), or every monitor of the team (``whole_team``).

The evaluator asks ``MaintenanceCalendar.for_teams`` once per batch: one query for the
windows of the batch's teams (none, for teams without windows), never one per result.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError
from dateutil.rrule import rrule, rrulestr
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import Team, User
from incidents.models import MaintenanceWindow
from monitors.keys import assign_key
from monitors.models import Monitor, Tag

# Enough for a window every minute over a week; a schedule that needs more to answer one
# question is cut short rather than allowed to spin (validation refuses none of them).
MAX_OCCURRENCES = 20_000
MAX_DURATION_MINUTES = 60 * 24 * 31
MAX_START_NOW_MINUTES = 60 * 24 * 7
UPCOMING_DAYS = 7

Interval = tuple[datetime, datetime]


# --- Schedules ----------------------------------------------------------------------------


def is_rrule(expression: str) -> bool:
    head = expression.strip().upper()
    return head.startswith(("RRULE:", "FREQ=", "DTSTART"))


def parse_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            {"timezone": [f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Paris)."]}
        ) from None


def parse_rrule(expression: str, *, anchor: datetime) -> rrule:
    """The RRULE with ``anchor`` (naive local time) as its DTSTART unless it names one."""
    try:
        rule = rrulestr(expression.strip(), dtstart=anchor, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            {"recurrence": [f"Not a valid cron expression or RRULE: {exc}."]}
        ) from None
    if not isinstance(rule, rrule):
        raise ValidationError({"recurrence": ["Give a single RRULE, not a set of rules."]})
    return rule


def validate_recurrence(expression: str) -> None:
    if is_rrule(expression):
        parse_rrule(expression, anchor=datetime(2000, 1, 1))
        return
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        raise ValidationError(
            {
                "recurrence": [
                    f"Not a valid cron expression ({exc}) or RRULE (start it with FREQ=, "
                    'e.g. "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2").'
                ]
            }
        ) from None


def _anchor(window: MaintenanceWindow, zone: zoneinfo.ZoneInfo) -> datetime:
    """DTSTART of an RRULE without one: midnight (local) of the day the window was made."""
    created = window.created_at or timezone.now()
    return created.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)


def occurrences(window: MaintenanceWindow, *, since: datetime, until: datetime) -> list[Interval]:
    """The window's intervals that overlap [since, until), in UTC, oldest first."""
    if not window.is_recurring:
        if window.starts_at is None or window.ends_at is None:
            return []
        if window.starts_at < until and window.ends_at > since:
            return [(window.starts_at, window.ends_at)]
        return []
    duration = timedelta(minutes=window.duration_minutes or 0)
    if not duration:
        return []
    zone = zoneinfo.ZoneInfo(window.timezone or "UTC")
    # An occurrence that started up to one duration before ``since`` still overlaps it.
    first = since - duration
    if is_rrule(window.recurrence):
        rule = parse_rrule(window.recurrence, anchor=_anchor(window, zone))
        local_first = first.astimezone(zone).replace(tzinfo=None)
        local_until = until.astimezone(zone).replace(tzinfo=None)
        starts = _rrule_starts(rule, local_first, local_until, zone)
    else:
        starts = []
        # CronSim yields times strictly after its start, in the start's time zone.
        for start in CronSim(window.recurrence, (first - timedelta(seconds=1)).astimezone(zone)):
            if start >= until or len(starts) >= MAX_OCCURRENCES:
                break
            starts.append(start.astimezone(UTC))
    return [(start, start + duration) for start in starts if start + duration > since]


def _rrule_starts(
    rule: rrule, local_first: datetime, local_until: datetime, zone: zoneinfo.ZoneInfo
) -> list[datetime]:
    starts: list[datetime] = []
    for start in rule.xafter(local_first, count=MAX_OCCURRENCES, inc=True):
        if start >= local_until:
            break
        # Wall-clock time in the zone: 02:00 stays 02:00 local across a DST change.
        starts.append(start.replace(tzinfo=zone).astimezone(UTC))
    return starts


def active_interval(window: MaintenanceWindow, at: datetime) -> Interval | None:
    """The occurrence of the window that covers ``at``, if any."""
    for start, end in occurrences(window, since=at, until=at + timedelta(microseconds=1)):
        if start <= at < end:
            return start, end
    return None


def next_start(window: MaintenanceWindow, *, after: datetime, days: int = 366) -> datetime | None:
    """The start of the first occurrence beginning after ``after`` (recurring: within
    ``days``)."""
    if not window.is_recurring:
        starts_at = window.starts_at
        return starts_at if starts_at is not None and starts_at > after else None
    for start, _ in occurrences(window, since=after, until=after + timedelta(days=days)):
        if start > after:
            return start
    return None


# --- Whom a window covers ------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    window: MaintenanceWindow
    monitor_ids: frozenset[int]
    tag_ids: frozenset[int]


class MaintenanceCalendar:
    """The windows of some teams around some time, answering "is this monitor in
    maintenance at this moment?" without further queries (tags are read once, if a window
    names any)."""

    def __init__(self, scopes: list[_Scope], monitor_tags: dict[int, set[int]]) -> None:
        self._by_team: dict[int, list[_Scope]] = defaultdict(list)
        for scope in scopes:
            self._by_team[scope.window.team_id].append(scope)
        self._monitor_tags = monitor_tags
        self._intervals: dict[int, list[Interval]] = {}
        self._since: datetime | None = None
        self._until: datetime | None = None

    @classmethod
    def for_teams(
        cls,
        team_ids: Iterable[int],
        *,
        since: datetime,
        until: datetime,
        monitor_ids: Iterable[int] = (),
    ) -> MaintenanceCalendar:
        """Windows of ``team_ids`` that may be active in [since, until]: one query, plus two
        (their monitors and tags) and one (the tags of ``monitor_ids``) only if there are any."""
        windows = (
            list(
                MaintenanceWindow.objects.filter(team_id__in=set(team_ids))
                .filter(Q(recurrence__gt="") | Q(starts_at__lte=until, ends_at__gt=since))
                .prefetch_related("monitors", "tags")
                .order_by()
            )
            if team_ids
            else []
        )
        scopes = [
            _Scope(
                window,
                frozenset(m.id for m in window.monitors.all()),
                frozenset(t.id for t in window.tags.all()),
            )
            for window in windows
        ]
        monitor_tags: dict[int, set[int]] = defaultdict(set)
        if any(scope.tag_ids for scope in scopes):
            through = Monitor.tags.through.objects.filter(monitor_id__in=list(monitor_ids))
            for monitor_id, tag_id in through.values_list("monitor_id", "tag_id"):
                monitor_tags[monitor_id].add(tag_id)
        calendar = cls(scopes, monitor_tags)
        calendar._since, calendar._until = since, until
        return calendar

    def __bool__(self) -> bool:
        return bool(self._by_team)

    def scopes(self) -> list[_Scope]:
        return [scope for scopes in self._by_team.values() for scope in scopes]

    def covers_monitor(self, scope: _Scope, monitor: Monitor) -> bool:
        """Whether the window's scope includes the monitor (whatever the time)."""
        return scope.window.team_id == monitor.team_id and self._covers_monitor(scope, monitor.id)

    def _covers_monitor(self, scope: _Scope, monitor_id: int) -> bool:
        return (
            scope.window.whole_team
            or monitor_id in scope.monitor_ids
            or bool(scope.tag_ids & self._monitor_tags.get(monitor_id, set()))
        )

    def _window_intervals(self, window: MaintenanceWindow) -> list[Interval]:
        cached = self._intervals.get(window.id)
        if cached is None:
            assert self._since is not None and self._until is not None
            cached = occurrences(
                window, since=self._since, until=self._until + timedelta(microseconds=1)
            )
            self._intervals[window.id] = cached
        return cached

    def covers(self, *, team_id: int, monitor_id: int, at: datetime) -> bool:
        for scope in self._by_team.get(team_id, ()):
            if not self._covers_monitor(scope, monitor_id):
                continue
            if any(start <= at < end for start, end in self._window_intervals(scope.window)):
                return True
        return False


def monitors_in_maintenance(monitors: Iterable[Monitor], *, at: datetime | None = None) -> set[int]:
    """Ids of these monitors (all of whose teams are read in one query) in maintenance now."""
    at = at or timezone.now()
    monitors = list(monitors)
    calendar = MaintenanceCalendar.for_teams(
        {m.team_id for m in monitors}, since=at, until=at, monitor_ids=[m.id for m in monitors]
    )
    return {m.id for m in monitors if calendar.covers(team_id=m.team_id, monitor_id=m.id, at=at)}


@dataclass(frozen=True)
class ScheduledMaintenance:
    name: str
    starts_at: datetime
    ends_at: datetime
    monitor_ids: frozenset[int]  # of the monitors asked about, those it covers


def scheduled_for(
    monitors: Iterable[Monitor], *, since: datetime, days: int = UPCOMING_DAYS
) -> list[ScheduledMaintenance]:
    """Occurrences starting in the next ``days`` of the windows covering any of these
    monitors, soonest first (status pages: "Scheduled maintenance")."""
    monitors = list(monitors)
    until = since + timedelta(days=days)
    calendar = MaintenanceCalendar.for_teams(
        {m.team_id for m in monitors},
        since=since,
        until=until,
        monitor_ids=[m.id for m in monitors],
    )
    found = []
    for scope in calendar.scopes():
        covered = frozenset(m.id for m in monitors if calendar.covers_monitor(scope, m))
        if not covered:
            continue
        for start, end in occurrences(scope.window, since=since, until=until):
            if start > since:
                found.append(ScheduledMaintenance(scope.window.name, start, end, covered))
    return sorted(found, key=lambda s: (s.starts_at, s.name))


def windows_covering(monitor: Monitor) -> Q:
    """Windows whose scope includes ``monitor`` (a query filter; time not considered)."""
    return Q(team_id=monitor.team_id) & (
        Q(whole_team=True) | Q(monitors=monitor.id) | Q(tags__monitors=monitor.id)
    )


def maintenance_intervals(monitor: Monitor, *, since: datetime, until: datetime) -> list[Interval]:
    """The times in [since, until) when ``monitor`` was in maintenance, merged and clipped
    (reports: uptime and SLA with maintenance excluded). Scope as it is now."""
    windows = (
        MaintenanceWindow.objects.filter(windows_covering(monitor))
        .filter(Q(recurrence__gt="") | Q(starts_at__lt=until, ends_at__gt=since))
        .distinct()
    )
    spans = sorted(
        (max(start, since), min(end, until))
        for window in windows
        for start, end in occurrences(window, since=since, until=until)
    )
    merged: list[Interval] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap_seconds(start: datetime, end: datetime, intervals: Iterable[Interval]) -> float:
    """Seconds of [start, end) inside the (disjoint) ``intervals``."""
    return sum(max((min(end, b) - max(start, a)).total_seconds(), 0.0) for a, b in intervals)


# --- Writes ---------------------------------------------------------------------------------


def maintenance_window_validate(
    window: MaintenanceWindow, *, monitors: list[Monitor], tags: list[Tag]
) -> None:
    """Every rule of a window, whoever writes it (API, dashboard, config documents)."""
    errors: dict[str, list[str]] = defaultdict(list)
    one_off = window.starts_at is not None or window.ends_at is not None
    if one_off and window.recurrence:
        errors["recurrence"].append(
            "A window is either one-off (starts_at, ends_at) or recurring (recurrence, "
            "duration_minutes), not both."
        )
    elif one_off:
        if window.starts_at is None:
            errors["starts_at"].append("A one-off window needs starts_at.")
        if window.ends_at is None:
            errors["ends_at"].append("A one-off window needs ends_at.")
        if window.starts_at and window.ends_at and window.ends_at <= window.starts_at:
            errors["ends_at"].append("ends_at must be after starts_at.")
        if window.duration_minutes:
            errors["duration_minutes"].append(
                "duration_minutes is for recurring windows; a one-off window ends at ends_at."
            )
    elif window.recurrence:
        try:
            validate_recurrence(window.recurrence)
        except ValidationError as exc:
            errors["recurrence"].extend(exc.message_dict["recurrence"])
        if not window.duration_minutes:
            errors["duration_minutes"].append("A recurring window needs duration_minutes.")
        elif window.duration_minutes > MAX_DURATION_MINUTES:
            errors["duration_minutes"].append(f"At most {MAX_DURATION_MINUTES} minutes (31 days).")
    else:
        errors["starts_at"].append(
            "Give starts_at and ends_at (one-off) or recurrence and duration_minutes (recurring)."
        )
    try:
        parse_zone(window.timezone or "")
    except ValidationError as exc:
        errors["timezone"].extend(exc.message_dict["timezone"])
    if not (window.whole_team or monitors or tags):
        errors["monitors"].append("Choose monitors, tags, or whole_team: a window needs a scope.")
    if any(monitor.team_id != window.team_id for monitor in monitors):
        errors["monitors"].append("Monitors must belong to the window's team.")
    if any(tag.team_id != window.team_id for tag in tags):
        errors["tags"].append("Tags must belong to the window's team.")
    if errors:
        raise ValidationError(dict(errors))


def tags_named(*, team: Team, names: Iterable[str]) -> list[Tag]:
    """The team's tags with these names (the monitors API names tags); unknown names are a
    ``ValidationError`` keyed ``tags``."""
    names = list(dict.fromkeys(names))
    found = {tag.name: tag for tag in Tag.objects.filter(team=team, name__in=names)}
    missing = [name for name in names if name not in found]
    if missing:
        raise ValidationError({"tags": [f"No tag named {', '.join(map(repr, missing))} in team."]})
    return [found[name] for name in names]


@transaction.atomic
def maintenance_window_create(
    *,
    team: Team,
    name: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    recurrence: str = "",
    duration_minutes: int | None = None,
    timezone_name: str = "UTC",
    whole_team: bool = False,
    monitors: list[Monitor] | None = None,
    tags: list[Tag] | None = None,
    key: str = "",
    actor: User | None = None,
) -> MaintenanceWindow:
    window = MaintenanceWindow(
        team=team,
        key=key,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        recurrence=(recurrence or "").strip(),
        duration_minutes=duration_minutes,
        timezone=timezone_name or "UTC",
        whole_team=whole_team,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    maintenance_window_validate(window, monitors=monitors or [], tags=tags or [])
    assign_key(window, name=name, fallback="maintenance")
    window.save()
    window.monitors.set(monitors or [])
    window.tags.set(tags or [])
    audit_record(team=team, actor=actor, action="create", obj=window)
    return window


@transaction.atomic
def maintenance_window_update(
    *,
    window: MaintenanceWindow,
    monitors: list[Monitor] | None = None,
    tags: list[Tag] | None = None,
    actor: User | None = None,
    **fields,
) -> MaintenanceWindow:
    if "timezone_name" in fields:
        fields["timezone"] = fields.pop("timezone_name") or "UTC"
    for name, value in fields.items():
        setattr(window, name, value.strip() if name == "recurrence" and value else value)
    if window.recurrence is None:
        window.recurrence = ""
    scope_monitors = list(window.monitors.all()) if monitors is None else monitors
    scope_tags = list(window.tags.all()) if tags is None else tags
    maintenance_window_validate(window, monitors=scope_monitors, tags=scope_tags)
    assign_key(window, name=window.name, fallback="maintenance")
    window.save()
    if monitors is not None:
        window.monitors.set(monitors)
    if tags is not None:
        window.tags.set(tags)
    audit_record(team=window.team, actor=actor, action="update", obj=window)
    return window


@transaction.atomic
def maintenance_window_delete(*, window: MaintenanceWindow, actor: User | None = None) -> None:
    audit_record(team=window.team, actor=actor, action="delete", obj=window)
    window.delete()


def maintenance_start_now(
    *,
    team: Team,
    minutes: int,
    name: str = "",
    whole_team: bool = False,
    monitors: list[Monitor] | None = None,
    tags: list[Tag] | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> MaintenanceWindow:
    """A one-off window from now for ``minutes`` ("maintenance 30 min" in one click)."""
    if not 1 <= minutes <= MAX_START_NOW_MINUTES:
        raise ValidationError({"minutes": [f"Between 1 and {MAX_START_NOW_MINUTES} minutes."]})
    now = now or timezone.now()
    if not name:
        names = [m.name for m in monitors or []]
        subject = names[0] if len(names) == 1 else "team" if whole_team else "monitors"
        name = f"Maintenance of {subject} ({minutes} min)"[:100]
    return maintenance_window_create(
        team=team,
        name=name,
        starts_at=now,
        ends_at=now + timedelta(minutes=minutes),
        whole_team=whole_team,
        monitors=monitors,
        tags=tags,
        actor=actor,
    )


def maintenance_window_end_now(
    *, window: MaintenanceWindow, actor: User | None = None, now: datetime | None = None
) -> MaintenanceWindow:
    """End a one-off window now (a recurring one is edited or deleted instead)."""
    now = now or timezone.now()
    if window.is_recurring:
        raise ValidationError(
            {"detail": ["A recurring window cannot be ended now; edit or delete it."]}
        )
    if window.ends_at is not None and window.ends_at <= now:
        return window  # already over
    fields: dict = {"ends_at": now}
    if window.starts_at is not None and window.starts_at >= now:
        fields["starts_at"] = now - timedelta(microseconds=1)  # never started: keep end > start
    return maintenance_window_update(window=window, actor=actor, **fields)
