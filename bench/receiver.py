"""The webhook receiver of a benchmark run: answers 204 and notes when each alert arrived.

It runs in a thread of the benchmark process, on 127.0.0.1 and a free port; the channel
the benchmark creates points at it, so an alert's arrival time here is the moment it was
delivered.
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        received_at = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload = json.loads(body)
            alert = Alert(
                received_at,
                str(payload.get("event")),
                (payload.get("monitor") or {}).get("id"),
                (payload.get("incident") or {}).get("id"),
            )
        except (ValueError, AttributeError):
            alert = Alert(received_at, "unparsable", None, None)
        with self.server.lock:
            self.server.alerts.append(alert)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.alerts = []
        self.server.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def alerts(self) -> list[Alert]:
        with self.server.lock:
            return list(self.server.alerts)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
