"""One HTTP check: send the request exactly as the monitor says, time it, judge it.

``run_check(monitor)`` is the single code path used by the check batches, ``check-now`` in
the API and ``manage.py check_monitor``. It never raises for anything the target does: every
failure becomes an outcome with a status, the phase that failed and a readable reason.

Each check opens its own connection (a fresh session), so connect and TLS time are part of
the measured response time, as a user's first request would see them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from django.utils import timezone

from lib import outbound, redaction
from lib.redaction import redact
from monitors.judge import MAX_REASON, ResponseSnapshot, Verdict, judge
from monitors.models import CheckPhase, CheckStatus, Monitor

MAX_BODY = 1024 * 1024  # bytes of body read and judged; the rest is never downloaded
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class CheckOutcome:
    """What one check found; becomes a ``CheckResult`` row."""

    checked_at: datetime
    status: str
    phase: str = CheckPhase.NONE
    reason: str = ""
    status_code: int | None = None
    response_time_ms: int | None = None
    cert_expires_at: datetime | None = None
    failed_assertion: dict | None = None

    @property
    def is_up(self) -> bool:
        return self.status == CheckStatus.UP


class _DeadlineExceeded(Exception):
    """The whole check ran past the monitor's timeout."""


def _gevent_patched() -> bool:
    # A gevent.Timeout only fires if the hub runs, i.e. in the monkey-patched worker.
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a runtime dependency
        return False
    return monkey.is_module_patched("socket")


def cert_expiry(der: bytes | None) -> datetime | None:
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return None


def _fetch(monitor: Monitor, deadline: float) -> ResponseSnapshot:
    started = time.perf_counter()
    response = outbound.fetch(
        monitor.method,
        monitor.url,
        headers=monitor.headers or None,
        data=monitor.body.encode() if monitor.body else None,
        timeout=(monitor.timeout, monitor.timeout),
        follow_redirects=monitor.follow_redirects,
        verify=monitor.verify_tls,
    )
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                break
            if time.monotonic() > deadline:
                raise _DeadlineExceeded
    finally:
        response.close()
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    first = response.history[0] if response.history else response
    body = b"".join(chunks)
    return ResponseSnapshot(
        status_code=response.status_code,
        elapsed_ms=elapsed_ms,
        headers=dict(response.headers),
        body=body[:MAX_BODY],
        body_truncated=size > MAX_BODY,
        encoding=response.encoding,
        cert_expires_at=cert_expiry(getattr(first, "tls_cert_der", None)),
        is_https=urlsplit(monitor.url).scheme == "https",
        peer_address=getattr(first, "peer_address", None),  # the URL's host, as in Gatus
    )


def run_check(monitor: Monitor, *, now: datetime | None = None) -> CheckOutcome:
    """Check ``monitor`` once. Never raises for the target's behaviour."""
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
        timer = gevent.Timeout(monitor.timeout + 0.5, _DeadlineExceeded)
        timer.start()
    try:
        snapshot = _fetch(monitor, deadline)
    except outbound.OutboundError as exc:
        # A timeout is its own status; every other failure to get an answer is an error.
        status = CheckStatus.TIMEOUT if exc.phase == outbound.Phase.TIMEOUT else CheckStatus.ERROR
        reason = redact(exc.reason, secrets)[:MAX_REASON]
        return CheckOutcome(checked_at, status, CheckPhase(exc.phase), reason)
    except _DeadlineExceeded:
        reason = f"No complete response within {monitor.timeout:g}s"
        return CheckOutcome(checked_at, CheckStatus.TIMEOUT, CheckPhase.TIMEOUT, reason)
    finally:
        if timer is not None:
            timer.close()
    verdict: Verdict = judge(
        snapshot,
        expected_status=monitor.expected_status,
        assertions=monitor.assertions or [],
        now=timezone.now(),
    )
    return CheckOutcome(
        checked_at=checked_at,
        status=verdict.status,
        phase=verdict.phase,
        reason=verdict.reason,
        status_code=snapshot.status_code,
        response_time_ms=snapshot.elapsed_ms,
        cert_expires_at=snapshot.cert_expires_at,
        failed_assertion=verdict.failed_assertion,
    )
