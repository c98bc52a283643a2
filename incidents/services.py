"""Writes for incidents: evaluate check results, acknowledge, and the monitor lifecycle hooks.

Exactly once, by construction rather than by luck:

- Evaluations of one monitor are serialized by a row lock on its ``MonitorState``; the state,
  the incident and ``Monitor.status`` change in one transaction.
- A result not newer than the last one evaluated changes no state (``state_machine.is_stale``),
  so a redelivered or retried evaluation is a no-op. A stale failure that falls inside an
  incident (evaluated late, after a newer result) is still counted in its ``failure_count``,
  recounted from the stored results so that a redelivery cannot count it twice.
- The partial unique constraint ``incident_one_open_per_monitor`` lets the database refuse a
  second open incident whatever the code does; that refusal is handled as "already open".
- Notifications are sent after commit, one message per incident event, by task name
  (``notifications.tasks.notify_incident``; delivery is idempotent per incident, channel and
  event). If the worker dies or the broker refuses between commit and send, the retried
  evaluation finds its results stale and re-sends the events those results caused.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from celery import current_app
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from incidents import signals
from incidents.models import Incident, IncidentEvent, MonitorState, Resolution
from incidents.state_machine import (
    FailureRecorded,
    IncidentOpened,
    IncidentResolved,
    Memory,
    Observation,
    Thresholds,
    run,
)
from lib import task_names
from monitors.bulk_sql import bulk_set
from monitors.models import CheckResult, CheckStatus, Monitor, MonitorStatus

logger = logging.getLogger(__name__)

MEMORY_FIELDS = [
    "state",
    "consecutive_failures",
    "consecutive_successes",
    "last_result_at",
    "failing_since",
    "failing_cause",
    "recovering_since",
]


Announcement = tuple[int, IncidentEvent]  # (incident id, event)


class IncidentAlreadyResolved(Exception):
    """Only an open incident can be acknowledged."""


@dataclass
class Evaluation:
    """What one ``evaluate_check_results`` call did, for logs, tests and the task result."""

    results: int = 0  # results found (deleted monitors' results are gone)
    evaluated: int = 0  # applied to a monitor's state
    stale: int = 0  # not newer than the last evaluated result: ignored
    paused: int = 0  # the monitor is paused: ignored
    announcements: list[Announcement] = field(default_factory=list)
    replayed: list[Announcement] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "results": self.results,
            "evaluated": self.evaluated,
            "stale": self.stale,
            "paused": self.paused,
            "announced": [[i, str(e)] for i, e in self.announcements],
            "replayed": [[i, str(e)] for i, e in self.replayed],
        }


# --- Evaluation -----------------------------------------------------------------------------


def evaluate_check_results(result_ids: Iterable[int]) -> Evaluation:
    """Feed stored check results to their monitors' state machines, in one transaction."""
    ids = sorted({int(result_id) for result_id in result_ids})
    rows = CheckResult.objects.filter(id__in=ids).values_list(
        "id", "monitor_id", "checked_at", "status", "reason"
    )
    observations: dict[int, list[Observation]] = defaultdict(list)
    for check_id, monitor_id, checked_at, status, reason in rows:
        observations[monitor_id].append(
            Observation(checked_at, status == CheckStatus.UP, reason, check_id)
        )
    evaluation = Evaluation(results=sum(len(obs) for obs in observations.values()))
    if not observations:
        return evaluation

    with transaction.atomic():
        states = _lock_states(observations)
        stale_ids: list[int | None] = []
        changed: list[MonitorState] = []
        for monitor_id, state in states.items():
            if _evaluate_monitor(state, observations[monitor_id], evaluation, stale_ids):
                changed.append(state)
        # One UPDATE each for the states and the monitors' status mirror, whatever the batch
        # size (bulk_update's CASE expressions cost more CPU than the evaluation itself).
        bulk_set(
            MonitorState,
            [[s.monitor_id, *(getattr(s, name) for name in MEMORY_FIELDS)] for s in changed],
            MEMORY_FIELDS,
        )
        bulk_set(
            Monitor,
            [[s.monitor_id, s.state] for s in changed if s.monitor.status != s.state],
            ["status"],
        )
        if stale_ids:
            evaluation.replayed = _announcements_caused_by(stale_ids)
        if evaluation.announcements or evaluation.replayed:
            announcements, replayed = list(evaluation.announcements), list(evaluation.replayed)
            transaction.on_commit(lambda: _announce(announcements, replayed=replayed))
    return evaluation


def _lock_states(observations: dict[int, list[Observation]]) -> dict[int, MonitorState]:
    """Lock the states of these monitors in monitor id order, creating missing rows first.

    Creating first and then locking everything in one ordered query means two overlapping
    evaluations take their locks in the same order and cannot deadlock each other.
    ``INSERT ... ON CONFLICT DO NOTHING`` makes the creation safe when two evaluations of a
    new monitor race. The states of deleted monitors are simply not found.
    """
    monitor_ids = sorted(observations)
    known = set(
        MonitorState.objects.filter(monitor_id__in=monitor_ids).values_list("monitor_id", flat=True)
    )
    missing = [monitor_id for monitor_id in monitor_ids if monitor_id not in known]
    if missing:
        existing = Monitor.objects.filter(id__in=missing).values_list("id", flat=True)
        MonitorState.objects.bulk_create(
            [MonitorState(monitor_id=monitor_id) for monitor_id in existing],
            ignore_conflicts=True,
        )
    locked = (
        MonitorState.objects.select_for_update(of=("self",))
        .select_related("monitor")
        .filter(monitor_id__in=monitor_ids)
        .order_by("monitor_id")
    )
    return {state.monitor_id: state for state in locked}


def _evaluate_monitor(
    state: MonitorState,
    observations: list[Observation],
    evaluation: Evaluation,
    stale_ids: list[int | None],
) -> bool:
    """Apply one monitor's new results under its lock; returns whether it needs saving."""
    monitor = state.monitor
    if not monitor.is_active:
        # Paused: the state is frozen. Results of checks already under way when the monitor
        # was paused are dropped, and on resume counting starts afresh (see receivers).
        evaluation.paused += len(observations)
        return False
    thresholds = Thresholds(
        failure=max(1, monitor.failure_threshold), success=max(1, monitor.success_threshold)
    )
    before = memory_of(state)
    memory, events, stale = run(before, observations, thresholds)
    evaluation.evaluated += len(observations) - len(stale)
    evaluation.stale += len(stale)
    stale_ids.extend(observation.check_id for observation in stale)
    for event in events:
        # The events never feed back into the machine, so acting on them after the whole
        # run is the same as acting after each result.
        if isinstance(event, IncidentOpened):
            incident_id = _open_incident(monitor, event)
            if incident_id is not None:
                evaluation.announcements.append((incident_id, IncidentEvent.OPENED))
        elif isinstance(event, FailureRecorded):
            _record_failure(monitor.id, event)
        elif isinstance(event, IncidentResolved):
            incident_id = _resolve_incident(monitor.id, event)
            if incident_id is not None:
                evaluation.announcements.append((incident_id, IncidentEvent.RESOLVED))
    # After the events: the recount includes this run's in-order failures, already counted.
    late_failures = [o.checked_at for o in stale if not o.is_success]
    if late_failures and memory.last_result_at is not None:
        _count_late_failures(monitor.id, late_failures, evaluated_until=memory.last_result_at)
    if memory == before and monitor.status == memory.state:
        return False
    # Saved by the caller, with ``Monitor.status``: the user-visible mirror of the state,
    # read by lists and filters without a join.
    store_memory(state, memory)
    return True


def memory_of(state: MonitorState) -> Memory:
    return Memory(
        state=MonitorStatus(state.state),
        consecutive_failures=state.consecutive_failures,
        consecutive_successes=state.consecutive_successes,
        last_result_at=state.last_result_at,
        failing_since=state.failing_since,
        failing_cause=state.failing_cause,
        recovering_since=state.recovering_since,
    )


def store_memory(state: MonitorState, memory: Memory) -> None:
    """Copy ``memory`` onto the model (the caller saves it)."""
    state.state = memory.state.value
    state.consecutive_failures = memory.consecutive_failures
    state.consecutive_successes = memory.consecutive_successes
    state.last_result_at = memory.last_result_at
    state.failing_since = memory.failing_since
    state.failing_cause = memory.failing_cause[:500]
    state.recovering_since = memory.recovering_since


def _open_incident(monitor: Monitor, event: IncidentOpened) -> int | None:
    incident = Incident(
        team_id=monitor.team_id,
        monitor=monitor,
        monitor_name=monitor.name[:200],
        started_at=event.started_at,
        opened_at=event.opened_at,
        cause=event.cause[:500],
        last_reason=event.last_reason[:500],
        failure_count=event.failure_count,
        opening_check_id=event.check_id,
    )
    try:
        with transaction.atomic():  # a savepoint: the outer transaction survives a refusal
            incident.save()
    except IntegrityError:
        # The database refused a second open incident for this monitor: its state row was
        # reset (deleted, edited) while an incident stayed open. That incident carries on
        # and receives the failures; nothing new is announced.
        logger.warning("monitor %s already has an open incident; keeping it", monitor.id)
        _record_failure(monitor.id, FailureRecorded(event.opened_at, event.last_reason, None))
        return None
    return incident.id


def _record_failure(monitor_id: int, event: FailureRecorded) -> None:
    Incident.objects.open_of(monitor_id).update(
        failure_count=F("failure_count") + 1, last_reason=event.reason[:500]
    )


def _count_late_failures(
    monitor_id: int, failed_at: list[datetime], *, evaluated_until: datetime
) -> None:
    """Count stale failures in the incidents whose span holds them.

    Under load a later result can be evaluated before an earlier one (an end-to-end run saw
    DOWN, DOWN, UP evaluated before the third DOWN): the earlier one is stale and
    must not move the state, but it is still a failed check between the incident's start
    and its resolution. Incrementing cannot tell a late first arrival from a redelivery, so
    the count is recomputed from the stored results of the span, up to the last result
    evaluated (anything later is counted by its own evaluation): idempotent. GREATEST keeps
    the count from going down once the span's oldest results are past their retention.
    Runs under the monitor's state lock, like every other write of ``failure_count``.
    """
    spans = Q()
    for at in failed_at:
        spans |= Q(started_at__lte=at) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
    incidents = Incident.objects.filter(monitor_id=monitor_id).filter(spans)
    for incident_id, started_at, resolved_at in incidents.values_list(
        "id", "started_at", "resolved_at"
    ):
        failures = CheckResult.objects.filter(
            monitor_id=monitor_id, checked_at__gte=started_at, checked_at__lte=evaluated_until
        ).exclude(status=CheckStatus.UP)
        if resolved_at is not None:
            failures = failures.filter(checked_at__lt=resolved_at)
        Incident.objects.filter(id=incident_id).update(
            failure_count=Greatest(F("failure_count"), failures.count())
        )


def _resolve_incident(monitor_id: int, event: IncidentResolved) -> int | None:
    incident = Incident.objects.open_of(monitor_id).first()
    if incident is None:
        return None  # resolved by hand or deleted meanwhile: nothing to announce
    incident.resolved_at = event.resolved_at
    incident.resolution = Resolution.RECOVERED
    incident.resolving_check_id = event.check_id
    incident.save(update_fields=["resolved_at", "resolution", "resolving_check_id"])
    return incident.id


def _announcements_caused_by(check_ids: list[int | None]) -> list[Announcement]:
    """The incident events these (already evaluated) results caused, in order."""
    found = Incident.objects.filter(
        Q(opening_check_id__in=check_ids) | Q(resolving_check_id__in=check_ids)
    ).values_list("id", "opening_check_id", "resolving_check_id")
    ids = set(check_ids)
    announcements: list[Announcement] = []
    for incident_id, opening, resolving in sorted(found):
        if opening in ids:
            announcements.append((incident_id, IncidentEvent.OPENED))
        if resolving in ids:
            announcements.append((incident_id, IncidentEvent.RESOLVED))
    return announcements


def _announce(
    announcements: list[Announcement], *, replayed: list[Announcement] | None = None
) -> None:
    """After commit: the metrics hook for new events, then one notification message each.

    Replayed events (from a redelivered evaluation) are sent to notifications again, which
    drop duplicates, but not counted again.
    """
    for incident_id, event in announcements:
        signals.incident_changed.send_robust(sender=Incident, incident_id=incident_id, event=event)
    for incident_id, event in [*announcements, *(replayed or [])]:
        current_app.send_task(task_names.NOTIFY_INCIDENT, args=[incident_id, str(event)])


# --- Acknowledgement ------------------------------------------------------------------------


def incident_acknowledge(*, incident: Incident, user: User) -> Incident:
    """Mark an open incident as being handled by ``user``; acknowledging twice is a no-op."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.resolved_at is not None:
            raise IncidentAlreadyResolved("This incident is already resolved.")
        if locked.acknowledged_at is not None:
            return locked  # the first acknowledgement stands and was already announced
        locked.acknowledged_by = user
        locked.acknowledged_at = timezone.now()
        locked.save(update_fields=["acknowledged_by", "acknowledged_at"])
        audit_record(team=locked.team, actor=user, action="acknowledge", obj=locked)
        transaction.on_commit(lambda: _announce([(locked.id, IncidentEvent.ACKNOWLEDGED)]))
    return locked


# --- Monitor lifecycle (called from incidents.receivers) -------------------------------------


def incidents_resolve_for_deleted_monitor(*, monitor_id: int) -> list[int]:
    """Resolve the open incident of a monitor being deleted, inside the deleting transaction.

    Locking the monitor's state first waits for an evaluation in flight, so an incident it
    opens is seen here and resolved too, never left open with its monitor gone.
    """
    with transaction.atomic():
        list(MonitorState.objects.select_for_update().filter(monitor_id=monitor_id))
        open_ids = list(Incident.objects.open_of(monitor_id).values_list("id", flat=True))
        if open_ids:
            Incident.objects.filter(id__in=open_ids).update(
                resolved_at=timezone.now(), resolution=Resolution.MONITOR_DELETED
            )
            announcements = [(incident_id, IncidentEvent.RESOLVED) for incident_id in open_ids]
            transaction.on_commit(lambda: _announce(announcements))
    return open_ids


def monitor_state_restart(*, monitor_id: int, at: datetime | None = None) -> None:
    """On resume: keep UP/DOWN (and an open incident) but start counting afresh.

    Runs interrupted by the pause are dropped, and results of checks made before ``at`` (in
    flight while paused) are treated as stale.
    """
    at = at or timezone.now()
    with transaction.atomic():
        MonitorState.objects.bulk_create(
            [MonitorState(monitor_id=monitor_id)], ignore_conflicts=True
        )
        state = MonitorState.objects.select_for_update().get(monitor_id=monitor_id)
        memory = memory_of(state)
        last = memory.last_result_at
        store_memory(
            state,
            Memory(
                state=memory.state,
                last_result_at=at if last is None or last < at else last,
            ),
        )
        state.save(update_fields=MEMORY_FIELDS)
