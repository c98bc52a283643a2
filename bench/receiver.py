"""The webhook receiver of a benchmark run: answers 204 and notes when each alert arrived.

It runs in a thread of the benchmark process, on 127.0.0.1 and a free port; the channel
the benchmark creates points at it, so an alert's arrival time here is the moment it was
delivered. For fault injection it also notes each alert's Idempotency-Key, its sequence
number (if the payload carries one) and the status it answered, and can be told to answer
``failing_status`` (an outage) or to take ``delay`` seconds (so faults hit mid-delivery).

An alert whose sender hung up before the answer (its worker was killed, or Celery cancelled
its task, while the receiver was still taking its time) is noted as ``answered=False``: the
receiver got the bytes, but the sender never learned of a 2xx, so it must send again, with
the same Idempotency-Key. A receiver that acts on a key once (as the README asks) sees that
alert once; the fault-injection counts do not call the second arrival a duplicate.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Alert:
    received_at: float  # unix time
    event: str  # "incident.opened", ...
    monitor_id: int | None
    incident_id: int | None
    key: str = ""  # the Idempotency-Key header
    sequence: int | None = None  # per incident, where the payload gives one
    status: int = 204  # what this receiver answered
    answered: bool = True  # the sender was still there to read the answer


def _hung_up(connection: socket.socket) -> bool:
    """Whether the client closed its end: readable with nothing to read (EOF), or reset.
    Alert senders do not pipeline requests, so readable here means EOF."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        received_at = time.time()
        with self.server.lock:
            self.server.arrivals += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.server.failing_status or 204
        key = self.headers.get("Idempotency-Key", "")
        try:
            payload = json.loads(body)
            incident = payload.get("incident") or {}
            alert = Alert(
                received_at,
                str(payload.get("event")),
                (payload.get("monitor") or {}).get("id"),
                incident.get("id"),
                key,
                payload.get("sequence", incident.get("sequence")),
                status,
            )
        except (ValueError, AttributeError):
            alert = Alert(received_at, "unparsable", None, None, key, None, status)
        if self.server.delay:
            time.sleep(self.server.delay)
            if _hung_up(self.connection):
                alert = replace(alert, answered=False)
        with self.server.lock:
            self.server.alerts.append(alert)
        if not alert.answered:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.alerts = []
        self.server.failing_status = None
        self.server.arrivals = 0  # requests received, answered or not yet
        self.server.delay = 0.0
        self.server.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def fail_with(self, status: int | None) -> None:
        """Answer ``status`` to every alert from now on (None: back to 204)."""
        self.server.failing_status = status

    def slow_down(self, seconds: float) -> None:
        self.server.delay = seconds

    @property
    def arrivals(self) -> int:
        with self.server.lock:
            return self.server.arrivals

    def alerts(self) -> list[Alert]:
        with self.server.lock:
            return list(self.server.alerts)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
