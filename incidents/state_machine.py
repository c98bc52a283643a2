"""The threshold state machine: one check result in, the monitor's next state and events out.

Pure: no database, no clock, no network, so every edge is covered by a table in milliseconds
(``incidents/tests/test_state_machine.py``). ``incidents.services`` loads a monitor's
``MonitorState`` under a row lock, folds the new results through ``run`` (``transition`` in
``checked_at`` order), stores the memory and acts on the events.

Rules
-----
- ``UNKNOWN`` is a monitor with no verdict yet (new). Its first success makes it ``UP``
  at once: there is no incident to resolve, so nothing needs debouncing and no one is told.
  ``failure_threshold`` consecutive failures make it ``DOWN`` and open an incident, exactly as
  from ``UP``: a monitor created against a broken endpoint alerts.
- ``UP``/``UNKNOWN`` -> ``DOWN`` after ``failure_threshold`` consecutive failures; the incident
  starts at the first failure of that run and its cause is that failure's reason.
- ``DOWN`` -> ``UP`` after ``success_threshold`` consecutive successes; the incident is
  resolved at the first success of that run, so its duration is the downtime observed
  (first failing check to first passing check), whatever the thresholds.
- A run shorter than its threshold (a blip) changes nothing visible; the next result of the
  other kind starts counting again from zero.
- A result not newer than the last one evaluated (``checked_at <= last_result_at``) is stale:
  a redelivered message, or a slow batch overtaken by a newer one. It changes nothing here;
  ``run`` returns it, and ``incidents.services`` still counts a stale failure in the
  incident whose span holds it (its failure_count is every failed check of the span).
- A failure made during a maintenance window (``Observation.in_maintenance``) is counted but
  opens no incident, even past the threshold: the first failure after the window opens it
  (started at the first failure of the run). An incident already open is not affected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

# The monitor's status is the machine's state: one enum, stored as is in ``MonitorState`` and
# mirrored on ``Monitor.status`` (an enum import only; the machine still touches no database).
from monitors.models import MonitorStatus


@dataclass(frozen=True, slots=True)
class Memory:
    """What the machine remembers between results (stored in ``MonitorState``)."""

    state: MonitorStatus = MonitorStatus.UNKNOWN
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_result_at: datetime | None = None
    failing_since: datetime | None = None  # first failure of the current failure run
    failing_cause: str = ""  # and its reason
    recovering_since: datetime | None = None  # first success of the current success run


@dataclass(frozen=True, slots=True)
class Observation:
    """One check result as the machine sees it. ``check_id`` is carried into events only."""

    checked_at: datetime
    is_success: bool
    reason: str = ""
    check_id: int | None = None
    in_maintenance: bool = False  # made during a maintenance window covering the monitor


@dataclass(frozen=True, slots=True)
class Thresholds:
    failure: int
    success: int

    def __post_init__(self) -> None:
        if self.failure < 1 or self.success < 1:
            raise ValueError(f"thresholds must be at least 1, got {self}")


@dataclass(frozen=True, slots=True)
class IncidentOpened:
    started_at: datetime  # the first failing check of the run
    opened_at: datetime  # the check that reached the threshold
    cause: str
    failure_count: int
    last_reason: str
    check_id: int | None


@dataclass(frozen=True, slots=True)
class FailureRecorded:
    """A failing check while the incident is already open."""

    checked_at: datetime
    reason: str
    check_id: int | None


@dataclass(frozen=True, slots=True)
class IncidentResolved:
    resolved_at: datetime  # the first passing check of the recovering run
    check_id: int | None  # the check that reached the success threshold


Event = IncidentOpened | FailureRecorded | IncidentResolved


def is_stale(memory: Memory, observation: Observation) -> bool:
    return memory.last_result_at is not None and observation.checked_at <= memory.last_result_at


def transition(
    memory: Memory, observation: Observation, thresholds: Thresholds
) -> tuple[Memory, tuple[Event, ...]]:
    """Apply one result; returns the new memory and what happened (often nothing)."""
    if is_stale(memory, observation):
        return memory, ()
    if observation.is_success:
        return _on_success(memory, observation, thresholds)
    return _on_failure(memory, observation, thresholds)


def _on_failure(
    memory: Memory, observation: Observation, thresholds: Thresholds
) -> tuple[Memory, tuple[Event, ...]]:
    starts_run = memory.consecutive_failures == 0
    new = replace(
        memory,
        consecutive_failures=memory.consecutive_failures + 1,
        consecutive_successes=0,
        last_result_at=observation.checked_at,
        failing_since=observation.checked_at if starts_run else memory.failing_since,
        failing_cause=observation.reason if starts_run else memory.failing_cause,
        recovering_since=None,  # a failure ends any recovering run
    )
    if memory.state == MonitorStatus.DOWN:
        # Still down (perhaps after a blip of success): the open incident counts it.
        event = FailureRecorded(observation.checked_at, observation.reason, observation.check_id)
        return new, (event,)
    if new.consecutive_failures >= thresholds.failure and not observation.in_maintenance:
        opened = IncidentOpened(
            # Always set within a failure run; the fallback only satisfies the type.
            started_at=new.failing_since or observation.checked_at,
            opened_at=observation.checked_at,
            cause=new.failing_cause,
            failure_count=new.consecutive_failures,
            last_reason=observation.reason,
            check_id=observation.check_id,
        )
        return replace(new, state=MonitorStatus.DOWN), (opened,)
    return new, ()


def _on_success(
    memory: Memory, observation: Observation, thresholds: Thresholds
) -> tuple[Memory, tuple[Event, ...]]:
    down = memory.state == MonitorStatus.DOWN
    new = replace(
        memory,
        consecutive_failures=0,
        consecutive_successes=memory.consecutive_successes + 1,
        last_result_at=observation.checked_at,
        failing_since=None,  # a success ends any failure run
        failing_cause="",
        # Only a recovery needs to remember where its run began: that is when it resolves.
        recovering_since=(memory.recovering_since or observation.checked_at) if down else None,
    )
    if memory.state == MonitorStatus.UNKNOWN:
        return replace(new, state=MonitorStatus.UP), ()
    if down and new.consecutive_successes >= thresholds.success:
        resolved = IncidentResolved(
            resolved_at=new.recovering_since or observation.checked_at,  # set while down
            check_id=observation.check_id,
        )
        return replace(new, state=MonitorStatus.UP, recovering_since=None), (resolved,)
    return new, ()


class Run(NamedTuple):
    memory: Memory  # after the last result
    events: list[Event]  # in the order they happened
    stale: list[Observation]  # ignored: not newer than the last result evaluated before them


def run(memory: Memory, observations: list[Observation], thresholds: Thresholds) -> Run:
    """Apply results in ``checked_at`` order (the order they happened, not arrived)."""
    events: list[Event] = []
    stale: list[Observation] = []
    for observation in sorted(observations, key=lambda o: (o.checked_at, o.check_id or 0)):
        if is_stale(memory, observation):
            stale.append(observation)
            continue
        memory, new_events = transition(memory, observation, thresholds)
        events.extend(new_events)
    return Run(memory, events, stale)
