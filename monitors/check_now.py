"""Check-now: a check asked for by a person, queued to the check workers, never run in the web.

Run inside the web request, ten check-now calls to a slow target tied up the web threads and
made other users' requests take 22 s. So the API, the dashboard and the admin all call
``check_now_request``, which records a ``CheckNowRequest`` row and queues ``run_check_now``;
a check worker runs the check through the same path as scheduled checks (``run_check`` ->
``store_outcomes``: the CheckResult row, the monitor's ``last_*`` fields, one evaluation
message) and links the stored result to the request, where the client finds it.

A team may have ``CHECK_NOW_MAX_CONCURRENT_PER_TEAM`` requests unfinished at once, counted
from the rows (shared by every web process, like the database). A request whose worker died
stops counting when its lease ends, so a crash cannot hold a slot for good.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Team, User
from lib import task_names
from monitors.checker import run_check, team_variables_for
from monitors.kinds.heartbeat import PASSIVE
from monitors.models import CheckNowRequest, Monitor, MonitorKind
from monitors.results import release_connection, store_outcomes

logger = logging.getLogger(__name__)

# A check-now not started by a worker within this many seconds is dropped from the queue (its
# message expires): a backlog must not run checks that nobody waits for any more.
START_WITHIN_SECONDS = 30

# Storing the result and linking it to the request, after the check itself.
STORE_SECONDS = 5


class CheckNowRefused(Exception):
    """A check-now that cannot be queued; the message says why."""


class NothingToCheck(CheckNowRefused):
    """A passive monitor (heartbeat): its job's pings are its checks."""


class CheckNowLimitReached(CheckNowRefused):
    """The team already has its maximum of check-now requests running."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Your team has reached its limit of {limit} check-now requests running at "
            f"once (CHECK_NOW_MAX_CONCURRENT_PER_TEAM); try again when one has finished."
        )
        self.limit = limit


def check_now_lease() -> timedelta:
    """How long an unfinished request counts as pending: queued, then the longest check."""
    return timedelta(seconds=START_WITHIN_SECONDS + settings.MONITOR_MAX_TIMEOUT + STORE_SECONDS)


def check_now_is_pending(request: CheckNowRequest, *, now: datetime | None = None) -> bool:
    """Unfinished and within its lease: the result may still come."""
    now = now or timezone.now()
    return request.finished_at is None and request.requested_at > now - check_now_lease()


def _running_for_team(team_id: int, *, now: datetime) -> int:
    return CheckNowRequest.objects.filter(
        monitor__team_id=team_id,
        finished_at__isnull=True,
        requested_at__gt=now - check_now_lease(),
    ).count()


def check_now_request(*, monitor: Monitor, requested_by: User | None) -> CheckNowRequest:
    """Queue a check of ``monitor`` on the check workers; raise ``CheckNowLimitReached``
    when the monitor's team has its maximum of check-now requests unfinished, and
    ``NothingToCheck`` for a heartbeat monitor."""
    if monitor.kind == MonitorKind.HEARTBEAT:
        raise NothingToCheck(PASSIVE)
    limit = settings.CHECK_NOW_MAX_CONCURRENT_PER_TEAM
    now = timezone.now()
    with transaction.atomic():
        # The team row lock makes count-then-insert one step: two web processes cannot both
        # see the last free slot. It is held for two small queries.
        Team.objects.select_for_update().filter(id=monitor.team_id).first()
        if _running_for_team(monitor.team_id, now=now) >= limit:
            raise CheckNowLimitReached(limit)
        request = CheckNowRequest.objects.create(
            monitor=monitor, requested_by=requested_by, requested_at=now
        )
        expires = now + timedelta(seconds=START_WITHIN_SECONDS)
        transaction.on_commit(
            lambda: current_app.send_task(
                task_names.RUN_CHECK_NOW, args=[str(request.id)], expires=expires
            )
        )
    return request


def check_now_run(*, request_id: uuid.UUID | str) -> CheckNowRequest | None:
    """The worker's side: check the requested monitor, store the result, link it.

    Returns None when there is nothing to do: the request (or its monitor) is gone, already
    answered (a redelivered message), or past its lease (nobody is waiting).
    """
    request = CheckNowRequest.objects.select_related("monitor").filter(id=request_id).first()
    if request is None or not check_now_is_pending(request):
        return None
    monitor = request.monitor
    variables = team_variables_for([monitor]).get(monitor.team_id, {})
    release_connection()  # no database connection held while the target answers
    outcome = run_check(monitor, team_variables=variables)
    with transaction.atomic():
        locked = CheckNowRequest.objects.select_for_update().filter(id=request.id).first()
        if locked is None or locked.finished_at is not None:
            return None
        stored = store_outcomes([(request.monitor, request.requested_at, outcome)])
        locked.result = stored[0] if stored else None
        locked.failed_assertion = outcome.failed_assertion
        locked.finished_at = timezone.now()
        locked.save(update_fields=["result", "failed_assertion", "finished_at"])
    logger.info(
        "check-now %s of monitor %s: %s",
        locked.id,
        request.monitor_id,
        outcome.status,
        extra={"monitor_id": request.monitor_id, "check_status": outcome.status},
    )
    return locked
