"""The heartbeat ping endpoint: ``/ping/<uuid>`` plus ``/start``, ``/fail`` and ``/<exit code>``.

Jobs call it from cron lines and CI steps (``curl -fsS -m 10 --retry 3 <ping URL>``), so it
must be cheap and unconditional: GET, POST or HEAD, no login, no CSRF token, no session and no
cookie; the body's first 10 KiB are kept on the result. A token that matches no heartbeat
monitor is a 404, a paused monitor's ping is answered but not recorded (the answer says so).

``PingEndpoint`` wraps the WSGI application (healthmon/wsgi.py) and answers these paths before
Django builds a request: Django's handler and middleware stack cost ~2.8 ms of CPU per ping,
more than the ping's own work (bench/heartbeat.py measures both). It also keeps the thread's
database connection from one ping to the next, for up to ``HOLD_SECONDS``, where a Django
request gives it back to the pool at its end: taking one from the pool and handing it back
cost ~0.4 ms of CPU, a quarter of a ping. A Django request on the same thread gives it back
as usual (``close_old_connections`` at its start), and an error gives it back at once, so a
connection broken by a database restart is not used twice. ``ping_view`` is the same endpoint
as a Django view, for the URL conf (the development server and the test client, which do not
go through healthmon/wsgi.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from monitors.heartbeats import MAX_PING_BODY, PingAnswer, parse_signal, record_ping

logger = logging.getLogger(__name__)

PATH = re.compile(r"^/ping/([0-9a-fA-F-]{32,36})(?:/([a-z0-9]{1,5}))?/?$")
METHODS = ("GET", "POST", "HEAD")

_ANSWERS = {
    PingAnswer.RECORDED: (200, "OK\n"),
    PingAnswer.PAUSED: (200, "OK, but the monitor is paused: ping not recorded\n"),
    PingAnswer.NOT_FOUND: (404, "No heartbeat monitor has this ping URL\n"),
}


def answer_ping(method: str, path: str, read_body: Callable[[int], bytes]) -> tuple[int, str]:
    """(status, text) for one request to a ping path. ``read_body(n)`` reads at most n bytes."""
    if method not in METHODS:
        return 405, "Use GET, POST or HEAD\n"
    match = PATH.match(path)
    parsed = parse_signal(match.group(2) or "") if match else None
    if match is None or parsed is None:
        return 404, "Not a ping URL\n"
    try:
        token = uuid.UUID(match.group(1))
    except ValueError:
        return 404, "Not a ping URL\n"
    signal, exit_code = parsed
    body = read_body(MAX_PING_BODY) if method == "POST" else b""
    recorded = record_ping(token=token, signal=signal, exit_code=exit_code, body=body)
    return _ANSWERS[recorded.answer]


class PingEndpoint:
    """WSGI middleware: ``/ping/...`` answered here, everything else passed to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/ping/"):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            status, text = answer_ping(method, path, _body_reader(environ))
        except Exception:
            # The database or the broker is down: the job's curl --retry tries again.
            logger.exception("ping %s failed", path[:48])
            status, text = 503, "Ping not recorded, try again\n"
            connection.close()
        else:
            _release_if_held_too_long()
        body = text.encode()
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
        if status == 405:
            headers.append(("Allow", ", ".join(METHODS)))
        start_response(f"{status} {_REASONS[status]}", headers)
        return [] if method == "HEAD" else [body]


# How long a web thread keeps its database connection between pings (see the module's doc).
HOLD_SECONDS = 30.0
_held = threading.local()


def _release_if_held_too_long() -> None:
    now = time.monotonic()
    since = getattr(_held, "since", None)
    if since is None or getattr(_held, "connection", None) is not connection.connection:
        _held.since, _held.connection = now, connection.connection
    elif now - since > HOLD_SECONDS:
        connection.close()  # back to the pool, which renews connections past their lifetime
        _held.since = _held.connection = None


_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def _body_reader(environ: dict[str, Any]) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        # Without a length (chunked), read up to the limit; the server discards the rest.
        size = min(length, limit) if length > 0 else limit
        if length <= 0 and "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return b""
        return stream.read(size)

    return read


@csrf_exempt
def ping_view(request: HttpRequest, path: str = "") -> HttpResponse:
    """The same endpoint through Django's URL conf (development server, test client)."""
    status, text = answer_ping(
        request.method or "GET", request.path_info, lambda limit: request.read(limit)
    )
    response = HttpResponse(
        "" if request.method == "HEAD" else text,
        status=status,
        content_type="text/plain; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    if status == 405:
        response["Allow"] = ", ".join(METHODS)
    return response
