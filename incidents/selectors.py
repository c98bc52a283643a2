"""Reads for incidents."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery

from incidents.models import Incident
from monitors.models import CheckResult, CheckStatus

OPENING_CHECKS_LIMIT = 100  # failure_threshold is at most 100


def count_open_incidents() -> int:
    """Served by the partial unique index on open incidents."""
    return Incident.objects.filter(resolved_at__isnull=True).count()


def incident_opening_checks(incident: Incident) -> QuerySet[CheckResult]:
    """The checks of the failing run that opened ``incident``, oldest first.

    Results of that monitor from the first failure to the check that reached the threshold;
    empty once the monitor is deleted or the results are pruned.
    """
    if incident.monitor_id is None:
        return CheckResult.objects.none()
    return CheckResult.objects.filter(
        monitor_id=incident.monitor_id,
        checked_at__gte=incident.started_at,
        checked_at__lte=incident.opened_at,
    ).order_by("checked_at", "id")[:OPENING_CHECKS_LIMIT]


def with_opening_failures(incidents: QuerySet[Incident]) -> QuerySet[Incident]:
    """Annotates ``opening_failures``: the failed checks from the first failure to the one that
    reached the threshold, i.e. the threshold that opened it (``failure_count`` keeps counting
    while the incident is open). None once those results are pruned or the monitor deleted.
    """
    failures = (
        CheckResult.objects.filter(
            monitor_id=OuterRef("monitor_id"),
            checked_at__gte=OuterRef("started_at"),
            checked_at__lte=OuterRef("opened_at"),
        )
        .exclude(status=CheckStatus.UP)
        .order_by()
        .values("monitor_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return incidents.annotate(opening_failures=Subquery(failures, output_field=IntegerField()))
