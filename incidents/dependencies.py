"""Monitor dependencies: a child's incident opens suppressed while a parent is down.

Rules
-----
- A monitor depends on up to ``MAX_PARENTS`` monitors of its own team, never on itself, and
  never in a cycle (``find_cycle``; the error names the cycle).
- A parent "is down" while its state is DOWN (an open incident) or it is in a failure run not
  yet confirmed (``consecutive_failures > 0``): when a gateway and its APIs fail together,
  the APIs' checks often confirm before the gateway's, and the gateway's failing run is
  enough to know who is to blame.
- A child's incident that opens while a parent is down is suppressed ("suppressed: gateway
  is down"): recorded, sent nowhere. A child that went down while its parents were up
  alerts normally: it was not known to be caused by them.
- When no parent of a child is down any more (the parent recovered, or its failure run
  ended without an incident) and the child is still down, its incident is released: its
  "opened" message goes out then. A child that recovered meanwhile resolves silently.
  Released on the parent's evaluation, and again at each failing check of the child (so a
  release missed by a race with the parent's evaluation happens at the child's next check).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from incidents.models import Incident, MonitorDependency, Suppression
from monitors.models import Monitor, MonitorStatus
from monitors.quotas import lock_team

MAX_PARENTS = 20

# --- Validation (pure core) -----------------------------------------------------------------


def find_cycle(edges: Mapping[int, Iterable[int]], child: int, parents: Iterable[int]) -> list[int]:
    """The cycle that ``child`` depending on ``parents`` would close, as monitor ids from
    ``child`` back to ``child`` ([] if none). ``edges`` maps a monitor to its parents (the
    child's current parents are ignored: they are being replaced)."""
    for parent in sorted(set(parents)):
        path = _path(edges, start=parent, goal=child, seen=set())
        if path:
            return [child, *path]
    return []


def _path(edges: Mapping[int, Iterable[int]], *, start: int, goal: int, seen: set[int]) -> list:
    """A path of parent links from ``start`` to ``goal`` (depth first, iterative)."""
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        for parent in sorted(edges.get(node, ()), reverse=True):
            if parent == goal or parent not in seen:
                stack.append((parent, [*path, parent]))
    return []


def validate_dependencies(*, team_id: int | None, monitor: Monitor | None, parents: list) -> None:
    """Raise ``ValidationError({"depends_on": ...})`` unless ``monitor`` (None or unsaved
    for a new one) may depend on ``parents`` (Monitor objects)."""
    problems: list[str] = []
    if len(parents) > MAX_PARENTS:
        problems.append(f"A monitor may depend on at most {MAX_PARENTS} monitors.")
    if any(parent.team_id != team_id for parent in parents):
        problems.append("A monitor can only depend on monitors of its own team.")
    own_id = monitor.pk if monitor is not None else None
    if own_id is not None and any(parent.pk == own_id for parent in parents):
        problems.append("A monitor cannot depend on itself.")
    if not problems and own_id is not None and team_id is not None and parents:
        edges: dict[int, set[int]] = defaultdict(set)
        rows = MonitorDependency.objects.filter(child__team_id=team_id).exclude(child_id=own_id)
        for child_id, parent_id in rows.values_list("child_id", "parent_id"):
            edges[child_id].add(parent_id)
        cycle = find_cycle(edges, own_id, [parent.pk for parent in parents])
        if cycle:
            names = dict(Monitor.objects.filter(id__in=cycle).values_list("id", "name"))
            names[own_id] = monitor.name if monitor is not None else str(own_id)
            chain = " → ".join(names.get(i, str(i)) for i in cycle)
            problems.append(f"These dependencies would make a cycle: {chain}.")
    if problems:
        raise ValidationError({"depends_on": problems})


# --- Writes ---------------------------------------------------------------------------------


@transaction.atomic
def monitor_set_dependencies(
    *, monitor: Monitor, parents: list[Monitor], actor: User | None = None
) -> None:
    """Make ``monitor`` depend on exactly ``parents``. The team lock serializes dependency
    edits of a team, so two edits cannot close a cycle together."""
    lock_team(monitor.team_id)
    validate_dependencies(team_id=monitor.team_id, monitor=monitor, parents=parents)
    wanted = {parent.pk for parent in parents}
    current = set(monitor.parent_links.values_list("parent_id", flat=True))
    if wanted == current:
        return
    MonitorDependency.objects.filter(child=monitor).exclude(parent_id__in=wanted).delete()
    MonitorDependency.objects.bulk_create(
        [MonitorDependency(child=monitor, parent_id=pk) for pk in sorted(wanted - current)],
        ignore_conflicts=True,
    )
    audit_record(
        team=monitor.team,
        actor=actor,
        action="update",
        obj=monitor,
        changes={"depends_on": {"old": sorted(current), "new": sorted(wanted)}},
    )


# --- Reads ----------------------------------------------------------------------------------


def parent_ids(monitor_id: int) -> list[int]:
    return list(
        MonitorDependency.objects.filter(child_id=monitor_id)
        .order_by("parent_id")
        .values_list("parent_id", flat=True)
    )


def dependents_count(monitor_id: int) -> int:
    """How many active monitors depend on this one (named in its "opened" message)."""
    return MonitorDependency.objects.filter(parent_id=monitor_id, child__is_active=True).count()


def down_parents(child_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """For each of these monitors with a parent that is down (or failing), one such parent:
    ``{child_id: (parent_id, reason)}``, the parent first by name."""
    down = Q(parent__state__state=MonitorStatus.DOWN) | Q(parent__state__consecutive_failures__gt=0)
    rows = (
        MonitorDependency.objects.filter(down, child_id__in=list(child_ids), parent__is_active=True)
        .order_by("child_id", "parent__name", "parent_id")
        .values_list("child_id", "parent_id", "parent__name", "parent__state__state")
    )
    found: dict[int, tuple[int, str]] = {}
    for child_id, parent_id, name, state in rows:
        if child_id not in found:
            verb = "is down" if state == MonitorStatus.DOWN else "is failing"
            found[child_id] = (parent_id, f"suppressed: {name} {verb}"[:300])
    return found


# --- Evaluation (called by incidents.services inside the evaluating transaction) --------------


def suppress_opened(opened: Mapping[int, int]) -> list[int]:
    """Suppress the just opened incidents (``{monitor_id: incident_id}``) of monitors with a
    parent down; returns their ids."""
    if not opened:
        return []
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for monitor_id, (parent_id, reason) in down_parents(opened).items():
        groups[(parent_id, reason)].append(opened[monitor_id])
    for (parent_id, reason), incident_ids in groups.items():
        Incident.objects.filter(id__in=incident_ids).update(
            suppression=Suppression.DEPENDENCY, suppressed_reason=reason, suppressed_by=parent_id
        )
    return sorted(i for ids in groups.values() for i in ids)


def children_of(parent_check_ids: Mapping[int, int | None]) -> dict[int, int | None]:
    """The children of these parents, each with the check id of its parent's evaluation."""
    rows = MonitorDependency.objects.filter(parent_id__in=list(parent_check_ids)).values_list(
        "child_id", "parent_id"
    )
    return {child_id: parent_check_ids[parent_id] for child_id, parent_id in rows}


def release_cleared(candidates: Mapping[int, int | None]) -> list[int]:
    """Release the open, dependency-suppressed incidents of these monitors (``{monitor_id:
    check id that releases it}``) whose parents are all up; returns the released ids.

    SKIP LOCKED: an incident locked by its own monitor's evaluation is left to that
    evaluation (or the next check), rather than risking a deadlock between the two.
    """
    if not candidates:
        return []
    rows = list(
        Incident.objects.select_for_update(skip_locked=True)
        .filter(
            monitor_id__in=list(candidates),
            resolved_at__isnull=True,
            suppression=Suppression.DEPENDENCY,
            released_at__isnull=True,
        )
        .order_by("id")
        .values_list("id", "monitor_id")
    )
    if not rows:
        return []
    blocked = down_parents(monitor_id for _, monitor_id in rows)
    by_check: dict[int | None, list[int]] = defaultdict(list)
    for incident_id, monitor_id in rows:
        if monitor_id not in blocked:
            by_check[candidates[monitor_id]].append(incident_id)
    now = timezone.now()
    for check_id, incident_ids in by_check.items():
        Incident.objects.filter(id__in=incident_ids).update(
            released_at=now, released_by_check_id=check_id
        )
    return sorted(i for ids in by_check.values() for i in ids)


def suppressed_open(monitor_ids: Iterable[int]) -> list[int]:
    """Which of these monitors have an open incident still suppressed by a dependency."""
    return list(
        Incident.objects.filter(
            monitor_id__in=list(monitor_ids),
            resolved_at__isnull=True,
            suppression=Suppression.DEPENDENCY,
            released_at__isnull=True,
        ).values_list("monitor_id", flat=True)
    )
