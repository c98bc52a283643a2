"""The webhook receiver of a benchmark run: answers 204 and notes when each alert arrived.

It runs in a thread of the benchmark process, on 127.0.0.1 and a free port; the channel
the benchmark creates points at it, so an alert's arrival time here is the moment it was
delivered. For fault injection it also notes each alert's Idempotency-Key, its sequence
number (if the payload carries one) and the status it answered, and can be told to answer
``failing_status`` (an outage) or to take ``delay`` seconds (so faults hit mid-delivery).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
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
        with self.server.lock:
            self.server.alerts.append(alert)
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
