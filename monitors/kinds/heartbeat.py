"""heartbeat: passive. The monitored job pings; a missed deadline is the failure.

Nothing is probed: ``run`` is never called by the dispatcher (monitors/heartbeats.py records
pings and missed deadlines). This class validates the schedule, describes it, and computes it:
the pure functions below are the whole schedule math, tested by tables.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from lib import outbound
from monitors.judge import Verdict
from monitors.kinds.base import MonitorKind

if TYPE_CHECKING:
    from monitors.models import Monitor

PASSIVE = (
    "heartbeat monitors are passive: the job pings its URL, and a missed deadline is the "
    "failure; there is nothing to check now"
)


# --- The schedule (pure) ---------------------------------------------------------------------


def expected_after(moment: datetime, *, interval: int, cron: str, tz: str) -> datetime:
    """When the next ping is expected, the job having last reported at ``moment``.

    A cron schedule is evaluated in the monitor's zone, so ``0 3 * * *`` in Europe/Paris is
    3:00 local time on both sides of a DST change (a time the clock skips runs at the first
    minute after the gap, cronsim's rule, as cron's).
    """
    if not cron:
        return moment + timedelta(seconds=interval)
    from cronsim import CronSim

    local = moment.astimezone(zoneinfo.ZoneInfo(tz))
    # cronsim works in whole minutes and returns the first match strictly after its start.
    return next(CronSim(cron, local)).astimezone(UTC)


def deadline_after(moment: datetime, *, interval: int, cron: str, tz: str, grace: int) -> datetime:
    """The deadline (``next_check_at``) after a ping at ``moment``: expected time + grace."""
    return expected_after(moment, interval=interval, cron=cron, tz=tz) + timedelta(seconds=grace)


def deadline_of(monitor: Monitor, *, after: datetime) -> datetime:
    return deadline_after(
        after, interval=monitor.interval, cron=monitor.cron, tz=monitor.tz, grace=monitor.grace
    )


def following_deadline(
    *, missed: datetime, now: datetime, interval: int, cron: str, tz: str, grace: int
) -> datetime:
    """The deadline after ``missed`` passed unpinged: one expected run later, in phase with
    the schedule; from ``now`` if the dispatcher was so late that it has passed too."""
    step = timedelta(seconds=grace)
    following = deadline_after(missed - step, interval=interval, cron=cron, tz=tz, grace=grace)
    if following <= now:
        following = deadline_after(now - step, interval=interval, cron=cron, tz=tz, grace=grace)
    return following


def describe_schedule(monitor: Monitor) -> str:
    if monitor.cron:
        return f"cron '{monitor.cron}' {monitor.tz}, grace {monitor.grace}s"
    return f"every {monitor.interval}s, grace {monitor.grace}s"


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def missed_reason(*, last_ping_at: datetime | None, deadline: datetime, grace: int) -> str:
    expected = deadline - timedelta(seconds=grace)
    since = f"since {_moment(last_ping_at)}" if last_ping_at else "yet"
    return f"No ping {since}: expected at {_moment(expected)} (+{grace}s grace)"


class HeartbeatKind(MonitorKind):
    name = "heartbeat"
    fields = frozenset({"cron", "tz", "grace"})
    required = ()

    def validate(self, monitor: Monitor) -> None:
        errors: dict[str, list[str]] = {}
        try:
            super().validate(monitor)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if monitor.assertions:
            errors["assertions"] = ["heartbeat monitors have no assertions: a ping is the check."]
        if errors:
            raise ValidationError(errors)

    def probe(self, monitor: Monitor, *, deadline: float) -> Any:
        raise outbound.OutboundError(outbound.Phase.REQUEST, PASSIVE, permanent=True)

    def verdict(self, monitor: Monitor, snapshot: Any, *, now: datetime) -> Verdict:
        raise NotImplementedError(PASSIVE)

    def describe(self, monitor: Monitor) -> str:
        return f"heartbeat {describe_schedule(monitor)}"
