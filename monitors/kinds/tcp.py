"""tcp: connect to host:port (optionally over TLS), optionally send a line and read the reply.

The response time is the connect time (with the TLS handshake when ``use_tls``): what a
client of the service waits before it can talk. The reply is only read when a
``reply_contains`` assertion needs it, until every expected string has arrived, the peer
closes, ``MAX_REPLY`` bytes or the deadline: a reply cut short is judged as it stands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lib import outbound
from monitors.judge import Verdict, judge_assertions
from monitors.kinds.base import MonitorKind, cert_expiry, target_port
from monitors.models import CheckPhase, CheckStatus

if TYPE_CHECKING:
    from monitors.models import Monitor

MAX_REPLY = 64 * 1024


@dataclass(frozen=True)
class TcpSnapshot:
    elapsed_ms: int
    reply: str = ""
    cert_expires_at: datetime | None = None
    status_code: None = None


def send_line(text: str) -> bytes:
    """``send`` as it goes on the wire: one line, CRLF-terminated unless it ends in one."""
    return (text if text.endswith("\n") else text + "\r\n").encode()


def _read_reply(connection: outbound.Connection, expected: list[str], deadline: float) -> str:
    received = b""
    while len(received) < MAX_REPLY:
        text = received.decode(errors="replace")
        if all(value in text for value in expected):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection.sock.settimeout(remaining)
        try:
            chunk = connection.receive(MAX_REPLY - len(received))
        except outbound.OutboundError:
            break  # a timeout or reset mid-reply: judge what arrived
        if not chunk:
            break
        received += chunk
    return received.decode(errors="replace")


class TcpKind(MonitorKind):
    name = "tcp"
    fields = frozenset({"host", "port", "use_tls", "tls_server_name", "send"})
    required = ("host", "port")

    def probe(self, monitor: Monitor, *, deadline: float) -> TcpSnapshot:
        started = time.perf_counter()
        connection = outbound.connect_tcp(
            monitor.host,
            target_port(monitor),
            timeout=monitor.timeout,
            tls=monitor.use_tls,
            verify=monitor.verify_tls,
            server_name=monitor.tls_server_name or None,
        )
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        expected = [
            spec["value"]
            for spec in monitor.assertions or []
            if isinstance(spec, dict) and spec.get("type") == "reply_contains"
        ]
        try:
            if monitor.send:
                connection.send(send_line(monitor.send))
            reply = _read_reply(connection, expected, deadline) if expected else ""
        finally:
            connection.close()
        return TcpSnapshot(elapsed_ms, reply, cert_expiry(connection.tls_cert_der))

    def verdict(self, monitor: Monitor, snapshot: TcpSnapshot, *, now: datetime) -> Verdict:
        over_tls = " over TLS" if monitor.use_tls else ""
        return judge_assertions(snapshot, monitor.assertions or [], now=now) or Verdict(
            CheckStatus.UP,
            CheckPhase.NONE,
            f"Connected to {monitor.host}:{monitor.port}{over_tls} in {snapshot.elapsed_ms} ms",
        )

    def describe(self, monitor: Monitor) -> str:
        scheme = "tcp+tls" if monitor.use_tls else "tcp"
        return f"{scheme} {monitor.host}:{monitor.port}"
