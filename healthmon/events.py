"""Domain events turned into metrics and log lines, in the process where they happen.

The apps leave hook points and know nothing of Prometheus:
- ``monitors.hooks.checks_stored``, sent once per stored batch;
- ``incidents.signals.incident_changed`` (after commit, once per new event);
- ``notifications.hooks.delivery_attempted`` and ``dead_lettered``.
The receivers are connected in ``HealthmonConfig.ready``. Every log line carries the ids a
reader needs to find the rows (monitor_id, incident_id, delivery_id) as JSON fields.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction

from lib import metrics

check_logger = logging.getLogger("healthmon.events.checks")
incident_logger = logging.getLogger("healthmon.events.incidents")
delivery_logger = logging.getLogger("healthmon.events.notifications")


def _never_raises(receiver: Callable[..., None]) -> Callable[..., None]:
    """Counting and logging must never fail a delivery or an evaluation: some hooks are sent
    with ``Signal.send``, where a receiver's exception would propagate into the task."""

    @functools.wraps(receiver)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            receiver(*args, **kwargs)
        except Exception:
            logging.getLogger(__name__).exception("metrics receiver %s failed", receiver.__name__)

    return wrapper


def checks_stored(sender=None, *, results: Sequence[Any], **kwargs) -> None:
    """A batch of ``CheckResult`` rows was saved (inside its transaction): count and log
    them once it commits, so a rolled-back batch is neither counted nor reported."""
    results = list(results)
    if results:
        transaction.on_commit(lambda: _checks_committed(results), robust=True)


@_never_raises
def _checks_committed(results: list[Any]) -> None:
    metrics.record_checks(results)
    for result in results:
        # Failures are events worth a line each; successes would be a line per check per
        # monitor per interval, so they are only logged at DEBUG.
        level = logging.DEBUG if result.status == "up" else logging.INFO
        if not check_logger.isEnabledFor(level):
            continue
        check_logger.log(
            level,
            "check of monitor %s: %s%s",
            result.monitor_id,
            result.status,
            f" ({result.reason})" if result.reason else "",
            extra={
                "monitor_id": result.monitor_id,
                "check_id": result.id,
                "check_status": result.status,
                "status_code": result.status_code,
                "response_time_ms": result.response_time_ms,
                "phase": result.phase or None,
            },
        )


@_never_raises
def incident_changed(sender=None, *, incident_id: int, event: str, **kwargs) -> None:
    """``incidents.signals.incident_changed``: opened, resolved or acknowledged."""
    if event == "opened":
        metrics.record_incident_opened()
    elif event == "resolved":
        metrics.record_incident_resolved()
    monitor_id = team_id = None
    if sender is not None:
        row = sender.objects.filter(id=incident_id).values_list("monitor_id", "team_id").first()
        if row:
            monitor_id, team_id = row
    incident_logger.info(
        "incident %s %s (monitor %s)",
        incident_id,
        event,
        monitor_id,
        extra={
            "incident_id": incident_id,
            "incident_event": event,
            "monitor_id": monitor_id,
            "team_id": team_id,
        },
    )


@_never_raises
def delivery_attempted(
    sender=None, *, delivery: Any, outcome: str, duration_ms: int | None = None, **kwargs
) -> None:
    """``notifications.hooks.delivery_attempted``: after each attempt is recorded."""
    kind = delivery.channel_kind
    metrics.record_notification(
        kind=kind,
        outcome=str(outcome),
        duration_seconds=duration_ms / 1000 if duration_ms is not None else None,
    )
    delivery_logger.log(
        logging.INFO if str(outcome) == "delivered" else logging.WARNING,
        "delivery %s (%s, incident %s %s): %s",
        delivery.id,
        kind,
        delivery.incident_id,
        delivery.event,
        outcome,
        extra={
            "delivery_id": delivery.id,
            "incident_id": delivery.incident_id,
            "channel_kind": kind,
            "incident_event": delivery.event,
            "outcome": str(outcome),
            "duration_ms": duration_ms,
            "attempt": delivery.attempts,
            "response_code": delivery.response_code,
        },
    )


@_never_raises
def dead_lettered(sender=None, *, dead_letter: Any, created: bool = True, **kwargs) -> None:
    """``notifications.hooks.dead_lettered``: a task failed for good (logged there)."""
    if created:
        metrics.record_dead_letter(task=dead_letter.task_name)


def connect() -> None:
    from incidents.signals import incident_changed as incident_signal
    from monitors import hooks as monitor_hooks
    from notifications import hooks

    monitor_hooks.checks_stored.connect(
        checks_stored, dispatch_uid="healthmon.events.checks_stored"
    )

    incident_signal.connect(incident_changed, dispatch_uid="healthmon.events.incident_changed")
    hooks.delivery_attempted.connect(
        delivery_attempted, dispatch_uid="healthmon.events.delivery_attempted"
    )
    hooks.dead_lettered.connect(dead_lettered, dispatch_uid="healthmon.events.dead_lettered")
