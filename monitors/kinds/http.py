"""http: one request exactly as the monitor says, timed and judged.

Each check opens its own connection (a fresh session), so connect and TLS time are part of
the measured response time, as a user's first request would see them.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lib import outbound
from monitors.judge import ResponseSnapshot, Verdict, judge
from monitors.kinds.base import DeadlineExceeded, MonitorKind, cert_expiry

if TYPE_CHECKING:
    from monitors.models import Monitor

MAX_BODY = 1024 * 1024  # bytes of body read and judged; the rest is never downloaded
_CHUNK = 64 * 1024


def request_snapshot(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None,
    body: str,
    timeout: float,
    follow_redirects: bool,
    verify: bool,
    deadline: float,
) -> ResponseSnapshot:
    """One request through the guarded outbound layer, read up to ``MAX_BODY`` and the
    deadline: what the http kind and each step of the api kind judge."""
    started = time.perf_counter()
    response = outbound.fetch(
        method,
        url,
        headers=headers or None,
        data=body.encode() if body else None,
        timeout=(timeout, timeout),
        follow_redirects=follow_redirects,
        verify=verify,
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
                raise DeadlineExceeded
    finally:
        response.close()
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    first = response.history[0] if response.history else response
    return ResponseSnapshot(
        status_code=response.status_code,
        elapsed_ms=elapsed_ms,
        headers=dict(response.headers),
        body=b"".join(chunks)[:MAX_BODY],
        body_truncated=size > MAX_BODY,
        encoding=response.encoding,
        cert_expires_at=cert_expiry(getattr(first, "tls_cert_der", None)),
        is_https=urlsplit(url).scheme == "https",
        peer_address=getattr(first, "peer_address", None),  # the URL's host, as in Gatus
    )


class HttpKind(MonitorKind):
    name = "http"
    fields = frozenset({"url"})
    required = ("url",)

    def probe(self, monitor: Monitor, *, deadline: float) -> ResponseSnapshot:
        return request_snapshot(
            monitor.method,
            monitor.url,
            headers=monitor.headers,
            body=monitor.body,
            timeout=monitor.timeout,
            follow_redirects=monitor.follow_redirects,
            verify=monitor.verify_tls,
            deadline=deadline,
        )

    def verdict(self, monitor: Monitor, snapshot: ResponseSnapshot, *, now: datetime) -> Verdict:
        return judge(
            snapshot,
            expected_status=monitor.expected_status,
            assertions=monitor.assertions or [],
            now=now,
        )

    def describe(self, monitor: Monitor) -> str:
        return f"{monitor.method} {monitor.url}"
