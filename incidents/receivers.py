"""How incidents learn about monitor lifecycle changes without monitors importing incidents.

- Deleting a monitor resolves its open incident as "monitor deleted" (the incident stays,
  with ``monitor`` set to NULL and ``monitor_name`` kept).
- Resuming a paused monitor keeps its UP/DOWN state and open incident but restarts the
  counting (``services.monitor_state_restart``). Pausing needs nothing: evaluation ignores
  results while the monitor is paused, so its state is frozen.
"""

from __future__ import annotations

from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from incidents import services
from monitors.models import Monitor


@receiver(pre_delete, sender=Monitor, dispatch_uid="incidents_resolve_on_monitor_delete")
def resolve_incident_of_deleted_monitor(sender, instance: Monitor, **kwargs) -> None:
    # pre_delete runs inside the deleting transaction, before the rows go.
    services.incidents_resolve_for_deleted_monitor(monitor_id=instance.pk)


@receiver(pre_save, sender=Monitor, dispatch_uid="incidents_note_monitor_activity")
def note_previous_activity(sender, instance: Monitor, raw: bool, update_fields=None, **kwargs):
    # Only a save that may switch is_active from False to True needs the old value; that
    # one cheap read happens on API edits and resumes, not on the check engine's updates.
    if raw or instance._state.adding or not instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    instance._incidents_was_active = (
        Monitor.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    )


@receiver(post_save, sender=Monitor, dispatch_uid="incidents_restart_on_resume")
def restart_counting_on_resume(sender, instance: Monitor, created: bool, raw: bool, **kwargs):
    was_active = instance.__dict__.pop("_incidents_was_active", None)
    if not raw and was_active is False and instance.is_active:
        services.monitor_state_restart(monitor_id=instance.pk)
