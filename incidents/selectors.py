"""Reads for incidents."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import Incident
from monitors.models import CheckResult

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
