"""One check of any kind: probe the target exactly as the monitor says, time it, judge it.

``run_check(monitor)`` is the single code path used by the check batches, ``check-now`` in
the API and ``manage.py check_monitor``. It never raises for anything the target does: every
failure becomes an outcome with a status, the phase that failed and a readable reason. What
differs between kinds (http, tcp, dns, tls) is one class each in ``monitors.kinds``, found
with a dict lookup on ``monitor.kind``.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.utils import timezone

from lib import outbound, redaction
from lib.redaction import redact
from monitors.judge import MAX_REASON
from monitors.kinds import KINDS
from monitors.kinds.base import CheckOutcome, DeadlineExceeded
from monitors.kinds.http import MAX_BODY
from monitors.models import CheckPhase, CheckStatus, Monitor

__all__ = ["MAX_BODY", "CheckOutcome", "run_check"]


def _gevent_patched() -> bool:
    # A gevent.Timeout only fires if the hub runs, i.e. in the monkey-patched worker.
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a runtime dependency
        return False
    return monkey.is_module_patched("socket")


def run_check(
    monitor: Monitor, *, now: datetime | None = None, keep_snapshot: bool = False
) -> CheckOutcome:
    """Check ``monitor`` once. Never raises for the target's behaviour. ``keep_snapshot``
    leaves what the probe saw on the outcome (for a draft check's report)."""
    kind = KINDS[monitor.kind]
    checked_at = now or timezone.now()
    deadline = time.monotonic() + monitor.timeout
    secrets = list(monitor.headers.values()) if monitor.headers else []
    # Header values often are credentials: unloggable in this process (Celery's failure
    # traceback, a library's warning), and never quoted in a reason viewers can read.
    redaction.remember(secrets)
    timer = None
    if _gevent_patched():
        import gevent

        # Read timeouts apply per socket read; a server trickling bytes could otherwise
        # stretch a check far past its timeout. Soft time limits don't exist on gevent.
        timer = gevent.Timeout(monitor.timeout + 0.5, DeadlineExceeded)
        timer.start()
    try:
        return kind.run(
            monitor, checked_at=checked_at, deadline=deadline, keep_snapshot=keep_snapshot
        )
    except outbound.OutboundError as exc:
        # A timeout is its own status; every other failure to get an answer is an error.
        status = CheckStatus.TIMEOUT if exc.phase == outbound.Phase.TIMEOUT else CheckStatus.ERROR
        reason = redact(exc.reason, secrets)[:MAX_REASON]
        return CheckOutcome(checked_at, status, CheckPhase(exc.phase), reason)
    except DeadlineExceeded:
        reason = f"No complete response within {monitor.timeout:g}s"
        return CheckOutcome(checked_at, CheckStatus.TIMEOUT, CheckPhase.TIMEOUT, reason)
    finally:
        if timer is not None:
            timer.close()
