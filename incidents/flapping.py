"""Flapping: a monitor that changes state too often is announced once, then kept quiet.

Pure, like the state machine: the memory is stored on ``MonitorState`` (``recent_changes``,
``flapping_since``) and ``incidents.services`` folds each state change (an incident opened
or resolved) through ``on_change``, then calls ``settle`` with the newest check's time.

Rules (per monitor: ``flap_threshold`` K, ``flap_window_minutes`` W; K = 0 disables)
- A change is counted at the check that made it (``opened_at`` / ``resolved_at``).
- More than K changes within the last W minutes: the monitor is flapping. The change that
  crossed the threshold is announced as one "flapping" message instead of its own.
- While flapping, changes are recorded (incidents open and resolve) but not announced.
- Flapping ends when the newest change is W minutes old: one "stable again" message that
  says the current state. The next change after that is counted afresh.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    threshold: int  # more than this many changes within the window is flapping; 0: never
    window: timedelta

    @property
    def enabled(self) -> bool:
        return self.threshold > 0


@dataclass(frozen=True, slots=True)
class FlapMemory:
    changes: tuple[datetime, ...] = ()  # the recent changes, oldest first
    flapping_since: datetime | None = None

    @property
    def is_flapping(self) -> bool:
        return self.flapping_since is not None

    @property
    def last_change(self) -> datetime | None:
        return self.changes[-1] if self.changes else self.flapping_since


class Verdict(enum.Enum):
    NOTIFY = "notify"  # announce the change as usual
    STARTED = "started"  # this change started the flapping: announce "flapping" instead
    QUIET = "quiet"  # flapping: record, do not announce


def settle(memory: FlapMemory, policy: FlapPolicy, now: datetime) -> tuple[FlapMemory, bool]:
    """End the flapping if the monitor has been stable for the window (or flapping was
    disabled); returns the memory and whether the flapping ended now."""
    if not memory.is_flapping:
        return memory, False
    last = memory.last_change
    if not policy.enabled or (last is not None and last <= now - policy.window):
        return FlapMemory(), True
    return memory, False


def on_change(
    memory: FlapMemory, policy: FlapPolicy, at: datetime
) -> tuple[FlapMemory, bool, Verdict]:
    """Count one state change at ``at``; returns the memory, whether a flapping period ended
    just before this change (stable for the window), and what to do with the change."""
    memory, ended = settle(memory, policy, at)
    if not policy.enabled:
        return FlapMemory(), ended, Verdict.NOTIFY
    recent = tuple(moment for moment in memory.changes if moment > at - policy.window)
    # Only the last K + 1 are ever needed to decide "more than K".
    changes = (*recent, at)[-(policy.threshold + 1) :]
    if memory.is_flapping:
        return FlapMemory(changes, memory.flapping_since), ended, Verdict.QUIET
    if len(changes) > policy.threshold:
        return FlapMemory(changes, at), ended, Verdict.STARTED
    return FlapMemory(changes, None), ended, Verdict.NOTIFY
