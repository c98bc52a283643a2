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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from celery import current_app
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from incidents import dependencies, flapping, signals
from incidents.maintenance import MaintenanceCalendar
from incidents.models import Incident, IncidentEvent, MonitorState, Resolution, Suppression
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
    # Dependencies (incidents.dependencies), settled after the states are stored:
    opened: dict[int, int] = field(default_factory=dict)  # monitor id -> incident it opened
    cleared: dict[int, int | None] = field(default_factory=dict)  # parent id -> its check id
    still_failing: dict[int, int | None] = field(default_factory=dict)  # monitor -> check id
    suppressed: list[int] = field(default_factory=list)  # incidents opened suppressed
    released: list[int] = field(default_factory=list)  # incidents no longer suppressed

    def as_dict(self) -> dict:
        return {
            "results": self.results,
            "evaluated": self.evaluated,
            "stale": self.stale,
            "paused": self.paused,
            "announced": [[i, str(e)] for i, e in self.announcements],
            "replayed": [[i, str(e)] for i, e in self.replayed],
            "suppressed": self.suppressed,
            "released": self.released,
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
        _mark_maintenance(states, observations)
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
        _settle_dependencies(evaluation)
        if stale_ids:
            evaluation.replayed = _announcements_caused_by(stale_ids)
        # Released incidents send their "opened" message now; it is not a new event.
        evaluation.replayed += [(i, IncidentEvent.OPENED) for i in evaluation.released]
        if evaluation.announcements or evaluation.replayed:
            announcements, replayed = list(evaluation.announcements), list(evaluation.replayed)
            # Incidents opened suppressed owe no message: in an outage behind a gateway that
            # spares a notify task per child (notifications would find nothing owed).
            held = {(i, IncidentEvent.OPENED) for i in evaluation.suppressed}
            transaction.on_commit(lambda: _announce(announcements, replayed=replayed, held=held))
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


def _mark_maintenance(
    states: dict[int, MonitorState], observations: dict[int, list[Observation]]
) -> None:
    """Flag the results made during a maintenance window of their monitor (in place).

    One query for the whole batch (the windows of its teams around its results' times),
    whatever its size; teams without windows cost nothing more.
    """
    moments = [o.checked_at for obs in observations.values() for o in obs]
    calendar = MaintenanceCalendar.for_teams(
        {state.monitor.team_id for state in states.values()},
        since=min(moments),
        until=max(moments),
        monitor_ids=list(states),
    )
    if not calendar:
        return
    for monitor_id, state in states.items():
        observations[monitor_id] = [
            replace(o, in_maintenance=True)
            if calendar.covers(
                team_id=state.monitor.team_id, monitor_id=monitor_id, at=o.checked_at
            )
            else o
            for o in observations[monitor_id]
        ]


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
    flap_before = flap_memory_of(state)
    flap, policy = flap_before, flap_policy_of(monitor)
    for event in events:
        # The events never feed back into the machine, so acting on them after the whole
        # run is the same as acting after each result.
        if isinstance(event, FailureRecorded):
            _record_failure(monitor.id, event)
            evaluation.still_failing[monitor.id] = event.check_id
            continue
        at = event.opened_at if isinstance(event, IncidentOpened) else event.resolved_at
        flap, stable_again, verdict = flapping.on_change(flap, policy, at)
        if stable_again:
            _flapping_ended(monitor.id, at, evaluation)
        if isinstance(event, IncidentOpened):
            incident_id = _open_incident(
                monitor, event, held_for_flapping=verdict != flapping.Verdict.NOTIFY
            )
            if incident_id is not None:
                evaluation.announcements.append((incident_id, IncidentEvent.OPENED))
                if verdict == flapping.Verdict.NOTIFY:
                    evaluation.opened[monitor.id] = incident_id
        else:
            incident_id = _resolve_incident(monitor.id, event)
            if incident_id is not None:
                evaluation.announcements.append((incident_id, IncidentEvent.RESOLVED))
        if incident_id is not None and verdict == flapping.Verdict.STARTED:
            _flapping_started(incident_id, at, evaluation)
    if memory.last_result_at is not None:
        flap, stable_again = flapping.settle(flap, policy, memory.last_result_at)
        if stable_again:
            _flapping_ended(monitor.id, memory.last_result_at, evaluation)
    if flap != flap_before:
        store_flap_memory(state, flap)  # rare (state changes only): saved on its own
    if _down_or_failing(before) and not _down_or_failing(memory):
        newest = max(observations, key=lambda observation: observation.checked_at)
        evaluation.cleared[monitor.id] = newest.check_id
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


def _down_or_failing(memory: Memory) -> bool:
    """Whether a monitor in this state holds its dependents' alerts (incidents.dependencies)."""
    return memory.state == MonitorStatus.DOWN or memory.consecutive_failures > 0


def _settle_dependencies(evaluation: Evaluation) -> None:
    """Suppress the incidents just opened under a down parent; release those whose parents
    are all up again. After the states of the batch are stored, so a parent and its child
    evaluated in one batch see each other's new state."""
    evaluation.suppressed = dependencies.suppress_opened(evaluation.opened)
    candidates = dependencies.children_of(evaluation.cleared) if evaluation.cleared else {}
    if evaluation.still_failing:
        for monitor_id in dependencies.suppressed_open(evaluation.still_failing):
            candidates.setdefault(monitor_id, evaluation.still_failing[monitor_id])
    evaluation.released = dependencies.release_cleared(candidates)


def flap_memory_of(state: MonitorState) -> flapping.FlapMemory:
    changes = tuple(datetime.fromisoformat(moment) for moment in state.recent_changes or ())
    return flapping.FlapMemory(changes, state.flapping_since)


def flap_policy_of(monitor: Monitor) -> flapping.FlapPolicy:
    return flapping.FlapPolicy(
        threshold=monitor.flap_threshold, window=timedelta(minutes=monitor.flap_window_minutes)
    )


def store_flap_memory(state: MonitorState, memory: flapping.FlapMemory) -> None:
    state.recent_changes = [moment.isoformat() for moment in memory.changes]
    state.flapping_since = memory.flapping_since
    state.save(update_fields=["recent_changes", "flapping_since"])


def _flapping_started(incident_id: int, at: datetime, evaluation: Evaluation) -> None:
    """The change on this incident started the flapping: one "flapping" message goes out
    instead of that change's own (an incident opening is held from its creation; a
    resolution at ``flapping_started_at`` is not sent, see notifications.services)."""
    Incident.objects.filter(id=incident_id).update(flapping_started_at=at)
    evaluation.announcements.append((incident_id, IncidentEvent.FLAPPING))


def _flapping_ended(monitor_id: int, at: datetime, evaluation: Evaluation) -> None:
    """Stable for the window: one "stable again" message on the monitor's latest incident,
    which says the current state. An incident still open and held for the flapping is
    released, so its resolution will be sent."""
    incident = Incident.objects.filter(monitor_id=monitor_id).order_by("-opened_at", "-id").first()
    if incident is None:
        return
    incident.flapping_ended_at = at
    fields = ["flapping_ended_at"]
    if incident.is_open and incident.is_suppressed and incident.suppression == Suppression.FLAPPING:
        incident.released_at = at
        fields.append("released_at")
    incident.save(update_fields=fields)
    evaluation.announcements.append((incident.id, IncidentEvent.STABLE))


def _open_incident(
    monitor: Monitor, event: IncidentOpened, *, held_for_flapping: bool = False
) -> int | None:
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
    if held_for_flapping:
        incident.suppression = Suppression.FLAPPING
        incident.suppressed_reason = "suppressed: the monitor is flapping"
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
        Q(opening_check_id__in=check_ids)
        | Q(resolving_check_id__in=check_ids)
        | Q(released_by_check_id__in=check_ids)
    ).values_list("id", "opening_check_id", "resolving_check_id", "released_by_check_id")
    ids = set(check_ids)
    announcements: list[Announcement] = []
    for incident_id, opening, resolving, releasing in sorted(found):
        if opening in ids or releasing in ids:
            announcements.append((incident_id, IncidentEvent.OPENED))
        if resolving in ids:
            announcements.append((incident_id, IncidentEvent.RESOLVED))
    return announcements


def _announce(
    announcements: list[Announcement],
    *,
    replayed: list[Announcement] | None = None,
    held: set[Announcement] | None = None,
) -> None:
    """After commit: the metrics hook for new events, then one notification message each.

    Replayed events (from a redelivered evaluation) are sent to notifications again, which
    drop duplicates, but not counted again. ``held`` events are counted, not sent.
    """
    for incident_id, event in announcements:
        signals.incident_changed.send_robust(sender=Incident, incident_id=incident_id, event=event)
    for incident_id, event in [*announcements, *(replayed or [])]:
        if held and (incident_id, event) in held:
            continue
        current_app.send_task(task_names.NOTIFY_INCIDENT, args=[incident_id, str(event)])


def incident_events_announce(announcements: list[Announcement]) -> None:
    """``_announce`` for other incident writers (``incidents.updates``), after their commit."""
    _announce(announcements)


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
