"""Per-team quotas on monitors: how many a team has, and how many checks a second they cost.

One user made 1,500 monitors at 30 s in 40 s: a team must not be able to take the whole probe
fleet. ``TEAM_MAX_MONITORS`` and ``TEAM_MAX_CHECKS_PER_SECOND`` (0 = unlimited) are checked by
``Monitor.clean()``, so the API, the dashboard, the admin and the CLI refuse with the same
words (a 400 in the API); the services call ``lock_team`` first, so two concurrent writes of
one team are checked one after the other and cannot both take the last slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import FloatField, Sum, Value
from django.db.models.functions import Cast

from accounts.models import Team

if TYPE_CHECKING:
    from monitors.models import Monitor


def lock_team(team_id: int) -> None:
    """Serialise the quota-checked writes of one team until the transaction ends."""
    list(Team.objects.select_for_update().filter(pk=team_id).values_list("pk", flat=True))


def _checks_per_second(monitors) -> float:
    # Heartbeats cost the probes nothing: they are pinged, not checked.
    rate = (
        monitors.filter(is_active=True)
        .exclude(kind="heartbeat")
        .aggregate(rate=Sum(Value(1.0) / Cast("interval", FloatField())))["rate"]
    )
    return rate or 0.0


def _own_rate(monitor: Monitor) -> float:
    if monitor.kind == "heartbeat":
        return 0.0
    if not monitor.is_active or not monitor.interval or monitor.interval <= 0:
        return 0.0
    return 1 / monitor.interval


def _refuse(message: str) -> None:
    raise ValidationError(message)  # not about one field: "non_field_errors" in the API


def validate_monitor_quotas(monitor: Monitor) -> None:
    """Refuse a new monitor past ``TEAM_MAX_MONITORS``, and a write that raises the team's
    checks per second past ``TEAM_MAX_CHECKS_PER_SECOND`` (a team already over a lowered
    limit may still rename, pause or slow its monitors)."""
    if monitor.team_id is None:
        return
    others = type(monitor).objects.filter(team_id=monitor.team_id).exclude(pk=monitor.pk)
    max_monitors = settings.TEAM_MAX_MONITORS
    if monitor._state.adding and max_monitors:
        count = others.count()
        if count >= max_monitors:
            _refuse(
                f"This team has {count} monitors, its limit (TEAM_MAX_MONITORS) is "
                f"{max_monitors}: delete monitors before adding another."
            )
    max_rate = settings.TEAM_MAX_CHECKS_PER_SECOND
    new_rate = _own_rate(monitor)
    if not max_rate or not new_rate:
        return
    stored = type(monitor).objects.filter(pk=monitor.pk).first() if monitor.pk else None
    old_rate = _own_rate(stored) if stored is not None else 0.0
    others_rate = _checks_per_second(others)
    # The epsilon keeps float rounding (1,500 x 1/30) from refusing a team exactly at its limit.
    if new_rate > old_rate and others_rate + new_rate > max_rate + 1e-9:
        _refuse(
            f"This team's active monitors make {others_rate + old_rate:.2f} checks per second; "
            f"this would make {others_rate + new_rate:.2f}, over its limit "
            f"(TEAM_MAX_CHECKS_PER_SECOND) of {max_rate:g}: use longer intervals or pause "
            "monitors."
        )
