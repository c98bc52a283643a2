"""Real servers on 127.0.0.1 for delivery tests: an HTTP receiver and an SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int

    def json(self) -> dict:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        """The README's verification recipe, verbatim."""
        timestamp = self.headers["Healthmon-Timestamp"]
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", self.headers["Healthmon-Signature"])


@dataclass
class Receiver:
    """An HTTP server that answers each request with the next planned response.

    ``plan`` is a list of ``(status, headers)``; when it runs out, ``default`` answers.
    ``plan_by_event`` holds such lists per ``Healthmon-Event`` and is consulted first.
    """

    plan: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    plan_by_event: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    default: tuple[int, dict[str, str]] = (200, {})
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, event: str | None = None) -> tuple[int, dict[str, str]]:
        with self._lock:
            planned = self.plan_by_event.get(event or "")
            if planned:
                return planned.pop(0)
            return self.plan.pop(0) if self.plan else self.default

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    @property
    def successes(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.answered < 300]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers = receiver.answer(self.headers.get("Healthmon-Event"))
            receiver.record(Received(self.path, dict(self.headers), body, time.monotonic(), status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    return Handler


def start_receiver(receiver: Receiver) -> Callable[[], None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


class SmtpSink:
    """aiosmtpd handler: keeps messages; refuses recipients listed in ``refuse``."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    # aiosmtpd's controller needs a concrete port to probe its own readiness.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_smtp(sink: SmtpSink) -> Controller:
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller
