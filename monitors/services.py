"""Writes for monitors: create, update, pause, resume, delete (each one audited).

Every writer (API, dashboard, admin, ``manage.py monitors``, demo setup) comes through here,
so each write is validated by the model (``Monitor.full_clean``) and keeps the schedule
consistent: an active monitor always has a ``next_check_at`` (a database constraint too).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from copy import copy
from datetime import datetime, timedelta
from typing import Any

from cronsim import CronSimError
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_changes, audit_record, audit_snapshot
from accounts.models import Team, User
from monitors import quotas
from monitors.keys import assign_key
from monitors.kinds.heartbeat import deadline_of
from monitors.models import Monitor, MonitorKind, Tag, TeamVariable
from monitors.validation import clean_tag_names, validate_channels_team

# A resumed (or re-activated) monitor is checked within this many seconds.
RESUME_WITHIN = 5


def first_check_at(interval: int, *, now: datetime | None = None) -> datetime:
    """Spread first checks over the interval so 10,000 new monitors don't all fire at :00."""
    now = now or timezone.now()
    return now + timedelta(seconds=random.uniform(0, interval))


# A heartbeat's schedule: changing any of these moves its deadline.
HEARTBEAT_SCHEDULE_FIELDS = ("interval", "cron", "tz", "grace")
# What a heartbeat monitor gets unless it says otherwise: one missed run is an outage (a job
# that missed its run has failed; there is no flaky network to debounce).
HEARTBEAT_DEFAULTS = {"failure_threshold": 1}


def heartbeat_deadline(monitor: Monitor, *, after: datetime | None = None) -> datetime:
    """A heartbeat monitor's deadline as if it had pinged at ``after`` (default: now): a new
    or resumed one has a whole run to report. A schedule that does not validate gets "now";
    ``full_clean`` refuses it with the field's message before anything is saved."""
    after = after or timezone.now()
    try:
        return deadline_of(monitor, after=after)
    except (CronSimError, LookupError, ValueError, TypeError, OverflowError):
        return after


def _set_tags(monitor: Monitor, names: list[str]) -> None:
    existing = {tag.name: tag for tag in Tag.objects.filter(team=monitor.team_id, name__in=names)}
    missing = [Tag(team_id=monitor.team_id, name=name) for name in names if name not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
    monitor.tags.set(Tag.objects.filter(team=monitor.team_id, name__in=names))


def _validate_relations(
    monitor: Monitor, tags: Iterable[str] | None, channels: list | None
) -> list[str] | None:
    """Clean tag names and check channels belong to the monitor's team, keyed by field."""
    if channels:
        validate_channels_team(team_id=monitor.team_id, channels=channels)
    if tags is None:
        return None
    try:
        return clean_tag_names(tags)
    except ValidationError as exc:
        raise ValidationError({"tags": exc.messages}) from None


def _save_relations(monitor: Monitor, tags: list[str] | None, channels: list | None) -> None:
    if tags is not None:
        _set_tags(monitor, tags)
    if channels is not None:
        monitor.channels.set(channels)  # explicit channels replace the defaults


@transaction.atomic
def monitor_create(
    *,
    team: Team,
    tags: Iterable[str] | None = None,
    channels: list | None = None,
    next_check_at: datetime | None = None,
    actor: User | None = None,
    **fields: Any,
) -> Monitor:
    """Validate and save a new monitor; raises ``ValidationError`` keyed by field."""
    if fields.get("kind") == MonitorKind.HEARTBEAT:
        fields = {**HEARTBEAT_DEFAULTS, **fields}
    monitor = Monitor(team=team, **fields)
    if monitor.kind == MonitorKind.HEARTBEAT:
        monitor.ping_token = uuid.uuid4()  # the ping URL's secret part: random, unguessable
        monitor.next_check_at = next_check_at or heartbeat_deadline(monitor)
    else:
        monitor.next_check_at = next_check_at or first_check_at(monitor.interval)
    quotas.lock_team(team.pk)  # full_clean checks the team's quotas
    assign_key(monitor, name=monitor.name, fallback="monitor")
    monitor.full_clean(exclude=["key"])  # assign_key checked it, with its field's name
    tag_names = _validate_relations(monitor, tags, channels)
    monitor.save()  # notifications attaches the team's default channels (post_save)
    _save_relations(monitor, tag_names, channels)
    audit_record(team=team, actor=actor, action="create", obj=monitor)
    return monitor


def _reschedule(
    monitor: Monitor, *, old_interval: int, was_active: bool, fields: dict[str, Any]
) -> None:
    deadline_given = fields.get("next_check_at") is not None
    if monitor.kind == MonitorKind.HEARTBEAT:
        _reschedule_heartbeat(monitor, was_active=was_active, fields=fields)
    elif monitor.is_active and not was_active and not deadline_given:
        monitor.next_check_at = first_check_at(min(monitor.interval, RESUME_WITHIN))
    elif monitor.is_active and monitor.next_check_at is None:
        # No deadline given (as for a new monitor): the scheduler picks one.
        monitor.next_check_at = first_check_at(monitor.interval)
    elif not deadline_given and monitor.interval < old_interval and monitor.next_check_at:
        # A shorter interval takes effect now rather than after the old, longer wait.
        monitor.next_check_at = min(
            monitor.next_check_at, timezone.now() + timedelta(seconds=monitor.interval)
        )


def _refresh_engine_fields(monitor: Monitor) -> None:
    """Pings write the monitor all the time: save() must not put back a deadline or last
    ping read before one (that could report a run missed that was not). Locked until commit,
    so a ping waits for this write and then moves the deadline itself."""
    names = [*Monitor.ENGINE_FIELDS, "next_check_at"]
    fresh = Monitor.objects.select_for_update().filter(pk=monitor.pk).values(*names).first()
    for name, value in (fresh or {}).items():
        setattr(monitor, name, value)


def _reschedule_heartbeat(monitor: Monitor, *, was_active: bool, fields: dict[str, Any]) -> None:
    if fields.get("next_check_at") is not None or not monitor.is_active:
        return
    if not was_active or monitor.next_check_at is None:
        monitor.next_check_at = heartbeat_deadline(monitor)
    elif any(name in fields for name in HEARTBEAT_SCHEDULE_FIELDS):
        # A new schedule counts from the last ping (healthchecks does the same): a job
        # already late for it is reported at once.
        monitor.next_check_at = heartbeat_deadline(monitor, after=monitor.last_ping_at)


@transaction.atomic
def monitor_update(
    *,
    monitor: Monitor,
    tags: Iterable[str] | None = None,
    channels: list | None = None,
    actor: User | None = None,
    **fields: Any,
) -> Monitor:
    """Validate and save changes to ``monitor`` (as stored: its old values matter)."""
    if monitor.kind == MonitorKind.HEARTBEAT and monitor.pk is not None:
        _refresh_engine_fields(monitor)
    old_interval, was_active = monitor.interval, monitor.is_active
    before = audit_snapshot(monitor)
    for name, value in fields.items():
        setattr(monitor, name, value)
    _reschedule(monitor, old_interval=old_interval, was_active=was_active, fields=fields)
    quotas.lock_team(monitor.team_id)  # full_clean checks the team's quotas
    assign_key(monitor, name=monitor.name, fallback="monitor")
    monitor.full_clean(exclude=["key"])
    tag_names = _validate_relations(monitor, tags, channels)
    monitor.save()
    _save_relations(monitor, tag_names, channels)
    changes = audit_changes(before, audit_snapshot(monitor))
    audit_record(team=monitor.team, actor=actor, action="update", obj=monitor, changes=changes)
    return monitor


@transaction.atomic
def monitor_pause(*, monitor: Monitor, actor: User | None = None) -> Monitor:
    monitor.is_active = False
    monitor.save(update_fields=["is_active", "updated_at"])
    audit_record(team=monitor.team, actor=actor, action="pause", obj=monitor)
    return monitor


@transaction.atomic
def monitor_resume(*, monitor: Monitor, actor: User | None = None) -> Monitor:
    """Start checking again; raises ``ValidationError`` past the team's checks-per-second."""
    if not monitor.is_active:
        quotas.lock_team(monitor.team_id)
        resumed = copy(monitor)
        resumed.is_active = True
        quotas.validate_monitor_quotas(resumed)
        monitor.is_active = True
        if monitor.kind == MonitorKind.HEARTBEAT:
            monitor.next_check_at = heartbeat_deadline(monitor)
        else:
            monitor.next_check_at = first_check_at(min(monitor.interval, RESUME_WITHIN))
        monitor.save(update_fields=["is_active", "next_check_at", "updated_at"])
    audit_record(team=monitor.team, actor=actor, action="resume", obj=monitor)
    return monitor


@transaction.atomic
def monitor_delete(*, monitor: Monitor, actor: User | None = None) -> None:
    """Delete a monitor (incidents resolves its open incident in the same transaction)."""
    audit_record(team=monitor.team, actor=actor, action="delete", obj=monitor)
    monitor.delete()


# --- Team variables (secrets used as {{name}} by api monitors) --------------------------------


@transaction.atomic
def variable_create(
    *, team: Team, name: str, value: str, actor: User | None = None
) -> TeamVariable:
    """Validate and save a team variable; raises ``ValidationError`` keyed by field. The
    audit entry names the variable, never its value (an encrypted field)."""
    variable = TeamVariable(team=team, name=name, value=value)
    variable.full_clean()
    variable.save()
    audit_record(team=team, actor=actor, action="create", obj=variable)
    return variable


@transaction.atomic
def variable_update(
    *, variable: TeamVariable, actor: User | None = None, **fields: Any
) -> TeamVariable:
    before = audit_snapshot(variable)
    for name, value in fields.items():
        setattr(variable, name, value)
    variable.full_clean()
    variable.save()
    changes = audit_changes(before, audit_snapshot(variable))  # the value: "changed"
    audit_record(team=variable.team, actor=actor, action="update", obj=variable, changes=changes)
    return variable


@transaction.atomic
def variable_delete(*, variable: TeamVariable, actor: User | None = None) -> None:
    """Delete a variable; a monitor still using it fails its step with "unknown variable"."""
    audit_record(team=variable.team, actor=actor, action="delete", obj=variable)
    variable.delete()
