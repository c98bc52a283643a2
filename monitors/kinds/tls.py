"""tls: connect, handshake, and inspect the certificate, without HTTP.

For endpoints that are not HTTP: IMAPS, LDAPS, databases behind TLS, and SMTP upgraded with
STARTTLS (``starttls="smtp"``). With ``verify_tls`` the handshake itself checks the chain
and the host name (``tls_server_name`` or the host), and a failure is an ERROR in phase
tls; without it, any certificate is read, and only its dates and the assertions judge it.
The expiry is stored like an https check's (``cert_expires_at``), so the same metrics and
lists show it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509

from lib import outbound
from monitors.judge import MAX_REASON, Verdict, judge_assertions
from monitors.kinds.base import MonitorKind, target_port
from monitors.models import CheckPhase, CheckStatus, StartTls

if TYPE_CHECKING:
    from monitors.models import Monitor

_SMTP_LAST_LINE = re.compile(rb"(?:^|\r?\n)(\d{3}) [^\n]*\r?\n$")
MAX_SMTP_REPLY = 16 * 1024


@dataclass(frozen=True)
class TlsSnapshot:
    elapsed_ms: int
    cert_expires_at: datetime
    subject: str
    issuer: str
    status_code: None = None


def _smtp_reply(connection: outbound.Connection) -> tuple[str, str]:
    """The code and text of one (possibly multi-line) SMTP reply."""
    received = b""
    while len(received) < MAX_SMTP_REPLY:
        chunk = connection.receive(MAX_SMTP_REPLY)
        if not chunk:
            break
        received += chunk
        last = _SMTP_LAST_LINE.search(received)
        if last:
            return last.group(1).decode(), received.decode(errors="replace").strip()
    raise outbound.OutboundError(
        outbound.Phase.TLS, f"STARTTLS: no SMTP reply from {connection.where}"
    )


def smtp_starttls(connection: outbound.Connection) -> None:
    """RFC 3207: greeting, EHLO, STARTTLS; the handshake follows on the same connection."""
    for command, wanted in (
        (None, "220"),
        (b"EHLO healthmon\r\n", "250"),
        (b"STARTTLS\r\n", "220"),
    ):
        if command:
            connection.send(command)
        code, text = _smtp_reply(connection)
        if code != wanted:
            said = text.splitlines()[-1] if text else code
            raise outbound.OutboundError(
                outbound.Phase.TLS, f"STARTTLS refused by {connection.where}: {said}"[:MAX_REASON]
            )


_STARTTLS: dict[str, Callable[[outbound.Connection], None]] = {StartTls.SMTP: smtp_starttls}


class TlsKind(MonitorKind):
    name = "tls"
    fields = frozenset({"host", "port", "tls_server_name", "starttls"})
    required = ("host", "port")

    def probe(self, monitor: Monitor, *, deadline: float) -> TlsSnapshot:
        server_name = monitor.tls_server_name or monitor.host
        upgrade = _STARTTLS.get(monitor.starttls)
        started = time.perf_counter()
        connection = outbound.connect_tcp(
            monitor.host,
            target_port(monitor),
            timeout=monitor.timeout,
            tls=upgrade is None,
            verify=monitor.verify_tls,
            server_name=server_name,
        )
        try:
            if upgrade is not None:
                upgrade(connection)
                connection.start_tls(server_name=server_name, verify=monitor.verify_tls)
        finally:
            connection.close()
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        try:
            cert = x509.load_der_x509_certificate(connection.tls_cert_der or b"")
        except ValueError as exc:
            raise outbound.OutboundError(
                outbound.Phase.TLS, f"{connection.where} sent no readable certificate"
            ) from exc
        return TlsSnapshot(
            elapsed_ms,
            cert.not_valid_after_utc,
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
        )

    def verdict(self, monitor: Monitor, snapshot: TlsSnapshot, *, now: datetime) -> Verdict:
        expiry = f"{snapshot.cert_expires_at:%Y-%m-%d}"
        if snapshot.cert_expires_at <= now:
            return Verdict(CheckStatus.DOWN, CheckPhase.TLS, f"TLS certificate expired on {expiry}")
        days = (snapshot.cert_expires_at - now).total_seconds() / 86400
        summary = (
            f"Certificate {snapshot.subject or '(no subject)'} issued by {snapshot.issuer}, "
            f"expires {expiry} (in {days:.0f} days)"
        )
        return judge_assertions(snapshot, monitor.assertions or [], now=now) or Verdict(
            CheckStatus.UP, CheckPhase.NONE, summary[:MAX_REASON]
        )

    def describe(self, monitor: Monitor) -> str:
        via = f" (STARTTLS {monitor.starttls})" if monitor.starttls else ""
        return f"tls {monitor.host}:{monitor.port}{via}"
