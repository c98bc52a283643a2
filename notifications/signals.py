"""Receivers connected in ``NotificationsConfig.ready``.

- Every Celery task that fails for good is dead-lettered (``task_failure``).
- A new monitor gets its team's default channels (``post_save`` of ``Monitor``): the
  monitors app must not know notifications, so the link is made from this side.
"""

from __future__ import annotations

import logging

from celery import Task

from monitors.models import Monitor
from notifications import deadletters
from notifications.services import monitor_attach_default_channels

logger = logging.getLogger(__name__)


def record_dead_letter(
    sender: Task | None = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: list | tuple | None = None,
    kwargs: dict | None = None,
    einfo=None,
    **_,
) -> None:
    if sender is None or sender.name not in deadletters.DEAD_LETTERED_TASKS:
        return
    try:
        deadletters.dead_letter_record(
            task_name=sender.name,
            task_id=task_id or "",
            args=args or [],
            kwargs=kwargs or {},
            exception=exception or Exception("unknown error"),
            traceback=str(einfo.traceback) if einfo is not None else "",
            attempts=(sender.request.retries or 0) + 1,
        )
    except Exception:
        # Celery would log and swallow it too; say clearly what was not recorded.
        logger.exception("could not dead-letter failed task %s [%s]", sender.name, task_id)


def attach_default_channels(sender, instance: Monitor, created: bool, raw: bool = False, **_):
    if created and not raw:  # raw: loaddata replays rows as they were
        monitor_attach_default_channels(monitor=instance)
