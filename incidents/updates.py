"""Incident updates: what the team says about an incident while it is handled.

Rules (README: "Incident updates")
----------------------------------
- Members with the editor role or above post updates (investigating, identified, monitoring,
  resolved, with a message of at most 5,000 characters) to their teams' incidents, open or
  resolved. Updates are kept in order and never edited: a correction is a new update.
- Each update is sent, after commit, to the incident's channels that ask for updates
  (``Channel.send_incident_updates``), as an "update" delivery with the usual idempotency,
  retries and dead letters (``notifications.tasks.notify_incident`` with the update's id).
- Posting "resolved" does not resolve the incident by itself: the monitor's recovery does
  (the state machine), so a monitor still failing keeps its incident open whatever is said.
  Only when the monitor is up already (it recovered, but the incident stayed open, or its
  checks are paused while up) does a "resolved" update close the incident
  (resolution "resolved by update"), announced as any resolution.
"""

from __future__ import annotations

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from incidents.models import (
    INCIDENT_UPDATE_MAX_LENGTH,
    Incident,
    IncidentEvent,
    IncidentUpdate,
    IncidentUpdateStatus,
    Resolution,
)
from incidents.services import incident_events_announce
from lib import task_names
from monitors.models import MonitorStatus

UPDATE_EVENT = "update"  # the delivery event (notifications.models.UPDATE_EVENT)


def incident_update_post(
    *, incident: Incident, status: str, message: str, author: User | None = None
) -> IncidentUpdate:
    message = (message or "").strip()
    errors: dict[str, list[str]] = {}
    if status not in IncidentUpdateStatus.values:
        errors["status"] = [f"One of {', '.join(IncidentUpdateStatus.values)}."]
    if not message:
        errors["message"] = ["Say what is happening."]
    elif len(message) > INCIDENT_UPDATE_MAX_LENGTH:
        errors["message"] = [f"At most {INCIDENT_UPDATE_MAX_LENGTH} characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("monitor")
            .get(pk=incident.pk)
        )
        update = IncidentUpdate.objects.create(
            incident=locked,
            status=status,
            message=message,
            author=author if author is not None and author.is_authenticated else None,
        )
        audit_record(team=locked.team, actor=author, action="update", obj=locked)
        resolved = _resolve_if_monitor_up(locked, status)
        transaction.on_commit(
            lambda: current_app.send_task(
                task_names.NOTIFY_INCIDENT, args=[locked.id, UPDATE_EVENT, update.id]
            )
        )
        if resolved:
            transaction.on_commit(
                lambda: incident_events_announce([(locked.id, IncidentEvent.RESOLVED)])
            )
    return update


def _resolve_if_monitor_up(incident: Incident, status: str) -> bool:
    monitor = incident.monitor
    if status != IncidentUpdateStatus.RESOLVED or not incident.is_open:
        return False
    if monitor is None or monitor.status != MonitorStatus.UP:
        return False  # still failing (or unknown): the monitor's recovery resolves it
    incident.resolved_at = timezone.now()
    incident.resolution = Resolution.UPDATE
    incident.save(update_fields=["resolved_at", "resolution"])
    return True
