"""The dead-letter store: every Celery task that fails for good is kept here, replayable.

Recorded from Celery's ``task_failure`` signal (see ``signals.py``), which fires once per
task when it raises for the last time: its retries ran out, or the error was not one to
retry. Only the tasks in ``DEAD_LETTERED_TASKS`` are kept: their work is owed to someone
and nothing else would do it again (an evaluation, an alert). Periodic, self-replacing
tasks (the dispatcher, check batches, sweeps, rollups) are not: their next run replaces a
failed one, so during a database outage they would only pile up as noise, and replaying
them later would run stale work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from celery import current_app
from celery.utils import uuid
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from incidents.models import Incident
from lib import task_names
from notifications.hooks import dead_letter_replayed, dead_lettered
from notifications.models import DeadLetter, Delivery
from notifications.transports import redact, transport_for

logger = logging.getLogger(__name__)

DEAD_LETTERED_TASKS = frozenset(
    {
        task_names.EVALUATE_CHECK_RESULTS,
        task_names.NOTIFY_INCIDENT,
        task_names.DELIVER_NOTIFICATION,
    }
)


def _argument(args: list, kwargs: dict, position: int, name: str):
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


def _delivery_context(args: list, kwargs: dict) -> dict:
    delivery = (
        Delivery.objects.select_related("channel", "incident")
        .filter(id=_argument(args, kwargs, 0, "delivery_id"))
        .first()
    )
    if delivery is None:
        return {}
    secrets = transport_for(delivery.channel).secret_values() if delivery.channel else []
    return {"delivery": delivery, "team_id": delivery.incident.team_id, "secrets": secrets}


def _incident_context(args: list, kwargs: dict) -> dict:
    incident_id = _argument(args, kwargs, 0, "incident_id")
    team_id = Incident.objects.filter(id=incident_id).values_list("team_id", flat=True).first()
    return {"team_id": team_id}


# Which team a failed task worked for (so the team sees it in the API), and which secrets
# to scrub from its error and traceback.
CONTEXT: dict[str, Callable[[list, dict], dict]] = {
    task_names.DELIVER_NOTIFICATION: _delivery_context,
    task_names.NOTIFY_INCIDENT: _incident_context,
}


def _as_json(value: object) -> object:
    # Arguments arrive from JSON messages, but an eagerly applied task may hold anything.
    return json.loads(json.dumps(value, default=repr))


def dead_letter_record(
    *,
    task_name: str,
    task_id: str,
    args: list | tuple,
    kwargs: dict,
    exception: BaseException,
    traceback: str,
    attempts: int,
    now: datetime | None = None,
) -> DeadLetter:
    """Keep a task that failed for good; the same task id failing again updates its row."""
    now = now or timezone.now()
    args, kwargs = _as_json(list(args or [])), _as_json(dict(kwargs or {}))
    try:
        context = CONTEXT.get(task_name, lambda a, k: {})(args, kwargs)
    except Exception:  # the context is a nicety; the dead letter itself must be written
        logger.exception("could not load the context of failed task %s [%s]", task_name, task_id)
        context = {}
    secrets = context.get("secrets", [])
    delivery = context.get("delivery")
    fields = {
        "task_name": task_name,
        "args": args,
        "kwargs": kwargs,
        "exception_type": type(exception).__name__,
        "error": redact(str(exception) or repr(exception), secrets)[:2000],
        "traceback": redact(traceback or "", secrets),
        "attempts": attempts,
        "last_failed_at": now,
        "delivery": delivery,
        "team_id": context.get("team_id"),
    }
    with transaction.atomic():
        dead_letter, created = DeadLetter.objects.select_for_update().get_or_create(
            task_id=task_id, defaults={**fields, "first_failed_at": now}
        )
        if not created:
            for name, value in fields.items():
                setattr(dead_letter, name, value)
            dead_letter.save()
        if delivery is not None:
            Delivery.objects.dead_letter(delivery.id)
    logger.warning(
        "dead-lettered %s [%s] after %d attempt(s): %s",
        task_name,
        task_id,
        attempts,
        dead_letter.error[:300],
    )
    dead_lettered.send(DeadLetter, dead_letter=dead_letter, created=created)
    return dead_letter


@dataclass(frozen=True)
class LostAlert:
    """Whose alert a notification dead letter lost: read from its delivery (one channel) or,
    for a failed fan-out, from its incident (every channel of that monitor: ``channel`` None).
    """

    incident_id: int
    monitor_id: int | None
    monitor_name: str
    event: str = ""
    channel_id: int | None = None
    channel_name: str = ""
    channel_kind: str = ""

    def describe(self) -> str:
        channel = (
            f"{self.channel_name} ({self.channel_kind})" if self.channel_name else "every channel"
        )
        event = f"{self.event} " if self.event else ""
        return f"{event}alert for {self.monitor_name} (incident {self.incident_id}) to {channel}"


def lost_alerts(letters: Iterable[DeadLetter]) -> dict[int, LostAlert]:
    """The lost alert of each notification dead letter, by dead-letter id (two queries)."""
    letters = list(letters)
    delivery_ids = {d.delivery_id for d in letters if d.delivery_id}
    fan_outs = {  # notify_incident(incident_id, event)
        d.id: (
            _argument(d.args, d.kwargs, 0, "incident_id"),
            _argument(d.args, d.kwargs, 1, "event"),
        )
        for d in letters
        if d.task_name == task_names.NOTIFY_INCIDENT
    }
    deliveries = Delivery.objects.select_related("incident").in_bulk(delivery_ids)
    incidents = Incident.objects.in_bulk([i for i, _ in fan_outs.values() if isinstance(i, int)])
    alerts = {}
    for letter in letters:
        delivery = deliveries.get(letter.delivery_id)
        if delivery is not None:
            alerts[letter.id] = LostAlert(
                incident_id=delivery.incident_id,
                monitor_id=delivery.incident.monitor_id,
                monitor_name=delivery.incident.monitor_name,
                event=delivery.event,
                channel_id=delivery.channel_id,
                channel_name=delivery.channel_name,
                channel_kind=delivery.channel_kind,
            )
        elif letter.id in fan_outs and fan_outs[letter.id][0] in incidents:
            incident_id, event = fan_outs[letter.id]
            incident = incidents[incident_id]
            alerts[letter.id] = LostAlert(
                incident_id=incident.id,
                monitor_id=incident.monitor_id,
                monitor_name=incident.monitor_name,
                event=str(event or ""),
            )
    return alerts


class AlreadyReplayed(Exception):
    """The dead letter was replayed before; a second replay would deliver twice."""


def _enqueue(dead_letter: DeadLetter) -> None:
    # Through the registered task when this process knows it (it honours eager mode and
    # per-task options), else by name: the broker routes it to its queue like any other.
    task = current_app.tasks.get(dead_letter.task_name)
    options = {"task_id": dead_letter.replay_task_id}
    if task is not None:
        task.apply_async(args=dead_letter.args, kwargs=dead_letter.kwargs, **options)
    else:
        current_app.send_task(
            dead_letter.task_name, args=dead_letter.args, kwargs=dead_letter.kwargs, **options
        )


def _enqueue_or_release(dead_letter: DeadLetter) -> None:
    try:
        _enqueue(dead_letter)
    except Exception:
        # The broker refused it: undo the claim so that the dead letter can be replayed
        # later, instead of looking replayed while nothing runs.
        with transaction.atomic():
            DeadLetter.objects.filter(
                id=dead_letter.id, replay_task_id=dead_letter.replay_task_id
            ).update(replayed_at=None, replayed_by=None, replay_task_id="")
            if dead_letter.delivery_id:
                Delivery.objects.undo_replay(dead_letter.delivery_id)
        raise
    logger.info("replayed dead letter %s as task %s", dead_letter.id, dead_letter.replay_task_id)
    dead_letter_replayed.send(DeadLetter, dead_letter=dead_letter)


def dead_letter_replay(
    *, dead_letter_id: int, user: User | None = None, now: datetime | None = None
) -> DeadLetter:
    """Run a dead-lettered task again, at most once per dead letter.

    The conditional UPDATE on ``replayed_at`` is the guard: of two concurrent replays (two
    admins, a double click, ``replay --all`` twice) exactly one goes through; the other gets
    ``AlreadyReplayed``. If the replay fails again, that is a new dead letter (new task id).
    The task is enqueued after commit, so the worker finds the delivery claimable.
    Raises ``DeadLetter.DoesNotExist`` for an unknown id.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = DeadLetter.objects.filter(id=dead_letter_id, replayed_at__isnull=True).update(
            replayed_at=now, replayed_by=user, replay_task_id=uuid()
        )
        dead_letter = DeadLetter.objects.get(id=dead_letter_id)
        if claimed != 1:
            raise AlreadyReplayed(
                f"Dead letter {dead_letter_id} was already replayed at "
                f"{dead_letter.replayed_at:%Y-%m-%d %H:%M:%S} UTC."
            )
        audit_record(team=dead_letter.team, actor=user, action="replay", obj=dead_letter)
        if dead_letter.delivery_id:
            # Make the delivery claimable again (the task's claim skips dead rows).
            Delivery.objects.replay(dead_letter.delivery_id, now=now)
        transaction.on_commit(lambda: _enqueue_or_release(dead_letter))
    return dead_letter
