"""Writes for monitors: create, update, pause, resume; each keeps the schedule consistent."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from monitors.models import Monitor, Tag


def first_check_at(interval: int, *, now: datetime | None = None) -> datetime:
    """Spread first checks over the interval so 10,000 new monitors don't all fire at :00."""
    now = now or timezone.now()
    return now + timedelta(seconds=random.uniform(0, interval))


def _set_tags(monitor: Monitor, names: list[str]) -> None:
    existing = {tag.name: tag for tag in Tag.objects.filter(team=monitor.team_id, name__in=names)}
    missing = [Tag(team_id=monitor.team_id, name=name) for name in names if name not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
    monitor.tags.set(Tag.objects.filter(team=monitor.team_id, name__in=names))


@transaction.atomic
def monitor_create(
    *, team: Team, tags: list[str] | None = None, channels: list | None = None, **fields: Any
) -> Monitor:
    monitor = Monitor(team=team, **fields)
    if monitor.next_check_at is None:
        monitor.next_check_at = first_check_at(monitor.interval)
    monitor.full_clean(exclude=["url"])  # the API validates URLs more strictly than Django
    monitor.save()  # notifications attaches the team's default channels (post_save)
    if tags:
        _set_tags(monitor, tags)
    if channels is not None:
        monitor.channels.set(channels)  # explicit channels replace the defaults
    return monitor


@transaction.atomic
def monitor_update(
    *, monitor: Monitor, tags: list[str] | None = None, channels: list | None = None, **fields: Any
) -> Monitor:
    old_interval = monitor.interval
    for name, value in fields.items():
        setattr(monitor, name, value)
    if "next_check_at" not in fields and monitor.interval < old_interval and monitor.next_check_at:
        # A shorter interval takes effect now rather than after the old, longer wait.
        monitor.next_check_at = min(
            monitor.next_check_at, timezone.now() + timedelta(seconds=monitor.interval)
        )
    monitor.save()
    if tags is not None:
        _set_tags(monitor, tags)
    if channels is not None:
        monitor.channels.set(channels)
    return monitor


def monitor_pause(*, monitor: Monitor) -> Monitor:
    monitor.is_active = False
    monitor.save(update_fields=["is_active", "updated_at"])
    return monitor


def monitor_resume(*, monitor: Monitor) -> Monitor:
    if not monitor.is_active:
        monitor.is_active = True
        monitor.next_check_at = first_check_at(min(monitor.interval, 5))
        monitor.save(update_fields=["is_active", "next_check_at", "updated_at"])
    return monitor
