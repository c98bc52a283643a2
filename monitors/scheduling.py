"""Per-monitor schedules: claim the due monitors, advance their deadline, enqueue batches.

Every monitor carries ``interval`` and an indexed ``next_check_at``. Celery beat fires
``monitors.tasks.dispatch_due_checks`` every second; it runs ``dispatch_due_checks()``:

1. ``claim_due_monitors`` selects due monitors ``FOR UPDATE SKIP LOCKED`` (served by the
   partial index ``monitor_due_idx``) and, in the same transaction, moves each one's
   ``next_check_at`` forward. A second dispatcher running at the same moment skips the
   locked rows, and once the first commits the rows are no longer due: no duplicate check.
2. After the commit, the claims are sent in batches of ``CHECK_BATCH_SIZE`` monitors per
   message (``monitors.tasks.run_check_batch``) that expire one interval after the time they
   were scheduled for: a backlog drops stale checks, the next scheduled run replaces them.
   A crash between commit and send loses at most one check per monitor, never doubles one.

Why not one django-celery-beat ``PeriodicTask`` per monitor: its scheduler sends one task per
tick and queries and compares every entry each tick; at 10,000 rows it sends 22-70 tasks/s
on this machine, and 10,000 monitors at 30 s need 333/s.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitors.bulk_sql import bulk_set
from monitors.heartbeats import record_missed_deadlines
from monitors.models import Monitor, MonitorKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    monitor_id: int
    scheduled_for: datetime
    interval: int


def next_deadline(
    *,
    scheduled_for: datetime,
    interval: int,
    now: datetime,
    respread_max: int,
    rng: random.Random | None = None,
) -> tuple[bool, datetime]:
    """(check now?, next ``next_check_at``) for a monitor found due at ``now``.

    On time or a little late: check now and keep the phase (next = scheduled + interval), so
    a monitor's checks stay evenly spaced and dispatcher jitter does not drift them. More
    than one interval late (beat, broker or database were down): skip the missed run and
    re-spread the monitor over the next min(interval, respread_max) seconds, so a restart
    does not fire every overdue check in the same second.
    """
    step = timedelta(seconds=interval)
    if now - scheduled_for > step:
        spread = min(interval, respread_max)
        uniform = rng.uniform if rng is not None else random.uniform
        return False, now + timedelta(seconds=uniform(0, spread))
    following = scheduled_for + step
    if following <= now:  # exactly one interval late
        following = now + step
    return True, following


def claim_due_monitors(
    *,
    now: datetime | None = None,
    limit: int = 1000,
    respread_max: int | None = None,
    lookahead: float = 0.0,
) -> tuple[list[Claim], int]:
    """Claim up to ``limit`` monitors due by ``now + lookahead`` and advance their schedule.

    Returns what to check now, and how many monitors were due (overdue ones are re-spread,
    not checked), so the dispatcher knows whether another round may find more. Heartbeat
    monitors found due are not checked: their missed deadline is recorded as a DOWN result
    (``monitors.heartbeats.record_missed_deadlines``) and their deadline moves on.
    """
    now = now or timezone.now()
    respread_max = respread_max if respread_max is not None else settings.SCHEDULE_RESPREAD_MAX
    horizon = now + timedelta(seconds=lookahead)
    claims: list[Claim] = []
    with transaction.atomic():
        due = list(
            Monitor.objects.filter(is_active=True, next_check_at__lte=horizon)
            # A heartbeat's deadline is the last moment its ping may arrive: never early.
            .filter(~Q(kind=MonitorKind.HEARTBEAT) | Q(next_check_at__lte=now))
            .order_by("next_check_at")
            .select_for_update(skip_locked=True)
            .values_list("id", "next_check_at", "interval", "kind")[:limit]
        )
        advanced = []
        missed = {}
        for monitor_id, scheduled_for, interval, kind in due:
            assert scheduled_for is not None  # next_check_at__lte never matches NULL
            if kind == MonitorKind.HEARTBEAT:
                missed[monitor_id] = scheduled_for
                continue
            check_now, following = next_deadline(
                scheduled_for=scheduled_for, interval=interval, now=now, respread_max=respread_max
            )
            advanced.append((monitor_id, following))
            if check_now:
                claims.append(Claim(monitor_id, scheduled_for, interval))
        if missed:
            # Nothing to probe: the missed deadline is the failure, stored under our locks.
            advanced += record_missed_deadlines(missed, now=now)
        bulk_set(Monitor, advanced, ["next_check_at"])
    if len(due) > len(claims) + len(missed):
        logger.warning(
            "re-spread %d monitors more than one interval overdue",
            len(due) - len(claims) - len(missed),
        )
    return claims, len(due)


def batch_messages(claims: list[Claim], *, batch_size: int) -> list[tuple[list, datetime]]:
    """Group claims into (args, expires) per message; same-interval monitors share a batch
    so each batch expires exactly one interval after its earliest scheduled time."""
    messages = []
    ordered = sorted(claims, key=lambda c: (c.interval, c.scheduled_for))
    for interval, group in groupby(ordered, key=lambda c: c.interval):
        members = list(group)
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            items = [[c.monitor_id, c.scheduled_for.isoformat()] for c in chunk]
            expires = chunk[0].scheduled_for + timedelta(seconds=interval)
            messages.append((items, expires))
    return messages


def _send_batch(items: list, expires: datetime) -> None:
    from monitors.tasks import run_check_batch

    run_check_batch.apply_async(args=[items], expires=expires)


# The dispatcher also claims what falls due before its next tick (beat fires it every
# second), and the check batch starts each check at its scheduled time
# (results.checks_in_waves). Without it a check waited for the next tick: 0-1 s of lag on
# top of the queue, p99 2.1 s at 10,000 monitors (bench/RESULTS.md).
LOOKAHEAD_SECONDS = 2.0


def dispatch_due_checks(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    claim_limit: int | None = None,
    time_budget: float = 0.8,
    lookahead: float = LOOKAHEAD_SECONDS,
    send: Callable[[list, datetime], None] = _send_batch,
) -> int:
    """Claim every monitor due within ``lookahead`` seconds (in rounds of ``claim_limit``)
    and enqueue check batches.

    Stops after ``time_budget`` seconds so a huge backlog is worked off over several beat
    ticks instead of one long transaction. Returns the number of checks enqueued.
    ``send`` is replaceable so a benchmark can drive the dispatcher without a broker.
    """
    batch_size = batch_size or settings.CHECK_BATCH_SIZE
    claim_limit = claim_limit or settings.DISPATCH_CLAIM_LIMIT
    started = time.monotonic()
    total = 0
    while True:
        claims, found = claim_due_monitors(now=now, limit=claim_limit, lookahead=lookahead)
        for items, expires in batch_messages(claims, batch_size=batch_size):
            send(items, expires)
        total += len(claims)
        if found < claim_limit or time.monotonic() - started > time_budget:
            return total
