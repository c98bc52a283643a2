"""A draft check: the monitor form's "Test now", run once before the monitor is saved.

It runs where every check runs, on a check worker (a check in the web request is what once
stalled everybody's pages, see monitors/check_now.py): ``draft_check_request`` stores the
validated draft as a ``DraftCheck`` row (encrypted: headers may be credentials) and queues
``run_draft_check``; the worker builds an unsaved ``Monitor`` from it, runs it through
``run_check`` as any check, and stores for the page what a person needs to fix the form:
status, time, code, reason, a body excerpt and each assertion's own verdict (a scheduled
check stops at the first failure). Nothing is stored as a check result and no incident
follows: the monitor does not exist yet.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Team, User
from lib import task_names
from lib.redaction import redact
from monitors.assertions import parse_assertion
from monitors.check_now import (
    START_WITHIN_SECONDS,
    STORE_SECONDS,
    CheckNowLimitReached,
    NothingToCheck,
)
from monitors.checker import run_check
from monitors.kinds.heartbeat import PASSIVE
from monitors.models import DraftCheck, Monitor, MonitorKind
from monitors.results import release_connection

logger = logging.getLogger(__name__)

# The monitor fields a check reads; everything else in the form (name, schedule, tags,
# channels) does not change what one check sees.
CHECK_FIELDS = (
    "kind",
    "url",
    "method",
    "expected_status",
    "headers",
    "body",
    "follow_redirects",
    "verify_tls",
    "timeout",
    "assertions",
    "host",
    "port",
    "ping_count",
    "use_tls",
    "send",
    "dns_record_type",
    "dns_resolver",
    "tls_server_name",
    "starttls",
    "steps",
)
EXCERPT_CHARS = 600


def draft_check_lease() -> timedelta:
    return timedelta(seconds=START_WITHIN_SECONDS + settings.MONITOR_MAX_TIMEOUT + STORE_SECONDS)


def draft_check_request(*, team: Team, requested_by: User, fields: dict[str, Any]) -> DraftCheck:
    """Queue one check of the validated monitor ``fields`` (the form's serializer output);
    ``CheckNowLimitReached`` when the team has its maximum of draft checks unfinished,
    ``NothingToCheck`` for a heartbeat (passive: its job's pings are its checks)."""
    if fields.get("kind") == MonitorKind.HEARTBEAT:
        raise NothingToCheck(PASSIVE)
    config = {name: fields[name] for name in CHECK_FIELDS if name in fields}
    limit = settings.CHECK_NOW_MAX_CONCURRENT_PER_TEAM
    now = timezone.now()
    with transaction.atomic():
        Team.objects.select_for_update().filter(id=team.id).first()  # count-then-insert
        running = DraftCheck.objects.filter(
            team=team, finished_at__isnull=True, requested_at__gt=now - draft_check_lease()
        ).count()
        if running >= limit:
            raise CheckNowLimitReached(limit)
        draft = DraftCheck.objects.create(
            team=team, requested_by=requested_by, requested_at=now, config=config
        )
        expires = now + timedelta(seconds=START_WITHIN_SECONDS)
        transaction.on_commit(
            lambda: current_app.send_task(
                task_names.RUN_DRAFT_CHECK, args=[str(draft.id)], expires=expires
            )
        )
    return draft


def draft_check_state(draft: DraftCheck, *, now: datetime | None = None) -> str:
    """ "done", "pending" or "expired" (the worker never answered within the lease)."""
    if draft.finished_at is not None:
        return "done"
    now = now or timezone.now()
    return "pending" if draft.requested_at > now - draft_check_lease() else "expired"


def _excerpt(snapshot: Any, secrets: list[str]) -> str:
    """The start of what the target answered, in the words of its kind."""
    if snapshot is None:
        return ""
    if hasattr(snapshot, "text"):
        text = snapshot.text
    elif hasattr(snapshot, "reply"):
        text = snapshot.reply
    elif hasattr(snapshot, "answers"):
        text = f"{snapshot.rcode}: " + ", ".join(snapshot.answers)
    elif hasattr(snapshot, "subject"):
        text = f"subject {snapshot.subject}, issuer {snapshot.issuer}"
    elif hasattr(snapshot, "packet_loss"):
        text = (
            f"{snapshot.received}/{snapshot.sent} replies, "
            f"rtt {snapshot.rtt_min_ms:.1f}/{snapshot.rtt_avg_ms:.1f}/{snapshot.rtt_max_ms:.1f} ms"
        )
    else:
        return ""
    text = redact(text, secrets)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def assertion_report(assertions: list[dict], snapshot: Any, *, now: datetime) -> list[dict]:
    """Each assertion with ``passed`` and, when it failed, ``reason``; without a snapshot
    (no answer) none could be judged: ``passed`` is None."""
    report = []
    for spec in assertions:
        entry: dict[str, Any] = {"assertion": spec, "passed": None, "reason": ""}
        if snapshot is not None:
            try:
                why = parse_assertion(spec).failure(snapshot, now)
            except ValidationError as exc:
                why = exc.messages[0]
            entry["passed"] = why is None
            entry["reason"] = why or ""
        report.append(entry)
    return report


def draft_check_run(*, draft_id: uuid.UUID | str) -> DraftCheck | None:
    """The worker's side; None when there is nothing to do (gone, answered, expired)."""
    draft = DraftCheck.objects.filter(id=draft_id).first()
    if draft is None or draft_check_state(draft) != "pending":
        return None
    config = dict(draft.config)
    monitor = Monitor(team_id=draft.team_id, name="draft", **config)
    release_connection()  # no database connection held while the target answers
    outcome = run_check(monitor, keep_snapshot=True)
    secrets = [str(v) for v in (monitor.headers or {}).values()]
    report = {
        "status": outcome.status,
        "phase": outcome.phase,
        "reason": outcome.reason,
        "status_code": outcome.status_code,
        "response_time_ms": outcome.response_time_ms,
        "checked_at": outcome.checked_at.isoformat(),
        "excerpt": _excerpt(outcome.snapshot, secrets),
        "assertions": assertion_report(
            monitor.assertions or [], outcome.snapshot, now=outcome.checked_at
        ),
    }
    updated = DraftCheck.objects.filter(id=draft.id, finished_at__isnull=True).update(
        finished_at=timezone.now(), outcome=report, config={}
    )
    if updated != 1:  # a redelivered message answered it first
        return None
    draft.outcome, draft.config = report, {}
    logger.info("draft check %s: %s", draft.id, outcome.status)
    return draft
