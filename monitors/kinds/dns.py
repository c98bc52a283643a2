"""dns: ask a resolver for one record set of a name, with dnspython, and judge the answer.

The resolver is the monitor's ``dns_resolver`` (host or host:port) or the system's first
nameserver; either way its address passes the outbound guard before a datagram is sent
(``outbound.resolve_guarded``), and the query goes to that very address (UDP, TCP when
the answer is truncated). dnspython uses plain sockets, which gevent patches.

Without an ``rcode`` assertion a dns monitor expects NOERROR and at least one answer of the
type asked; with one, that assertion decides (a monitor may expect NXDOMAIN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from lib import outbound
from monitors.judge import MAX_REASON, Verdict, judge_assertions
from monitors.kinds.base import MonitorKind
from monitors.models import CheckPhase, CheckStatus
from monitors.validation import split_resolver

if TYPE_CHECKING:
    from monitors.models import Monitor


@dataclass(frozen=True)
class DnsSnapshot:
    elapsed_ms: int
    rcode: str
    answers: list[str] = field(default_factory=list)
    cert_expires_at: None = None
    status_code: None = None


def _system_resolver() -> tuple[str, int]:
    try:
        resolver = dns.resolver.get_default_resolver()
    except dns.resolver.NoResolverConfiguration as exc:
        raise outbound.OutboundError(
            outbound.Phase.DNS, "No system resolver configured; set the monitor's dns_resolver"
        ) from exc
    return str(resolver.nameservers[0]), resolver.port


def _answer_text(rdata) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:  # the record's strings, not its quoted zone form
        return b"".join(rdata.strings).decode(errors="replace")
    return rdata.to_text()


def _query(name: str, record_type: str, *, host: str, port: int, timeout: float):
    address = outbound.resolve_guarded(host, port)
    where = f"{host}:{port}"
    query = dns.message.make_query(name, record_type)
    try:
        response, _ = dns.query.udp_with_fallback(query, address, timeout=timeout, port=port)
    except dns.exception.Timeout as exc:
        raise outbound.OutboundError(
            outbound.Phase.TIMEOUT, f"No answer from resolver {where} within {timeout:g}s"
        ) from exc
    except ConnectionRefusedError as exc:
        raise outbound.OutboundError(
            outbound.Phase.CONNECT, f"Resolver {where} refused the query"
        ) from exc
    except (OSError, dns.exception.DNSException) as exc:
        raise outbound.OutboundError(
            outbound.Phase.REQUEST, f"Query to resolver {where} failed: {exc}"
        ) from exc
    return response


class DnsKind(MonitorKind):
    name = "dns"
    fields = frozenset({"host", "dns_record_type", "dns_resolver"})
    required = ("host", "dns_record_type")

    def probe(self, monitor: Monitor, *, deadline: float) -> DnsSnapshot:
        if monitor.dns_resolver:
            host, port = split_resolver(monitor.dns_resolver)
        else:
            host, port = _system_resolver()
        started = time.perf_counter()
        response = _query(
            monitor.host, monitor.dns_record_type, host=host, port=port, timeout=monitor.timeout
        )
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        wanted = dns.rdatatype.from_text(monitor.dns_record_type)
        # Sorted: an answer set has no order, and reasons should not flap with it.
        answers = sorted(
            _answer_text(rdata)
            for rrset in response.answer
            if rrset.rdtype == wanted
            for rdata in rrset
        )
        return DnsSnapshot(elapsed_ms, dns.rcode.to_text(response.rcode()), answers)

    def verdict(self, monitor: Monitor, snapshot: DnsSnapshot, *, now: datetime) -> Verdict:
        assertions = monitor.assertions or []
        asked = f"{monitor.dns_record_type} {monitor.host}"
        if not any(isinstance(spec, dict) and spec.get("type") == "rcode" for spec in assertions):
            if snapshot.rcode != "NOERROR":
                return Verdict(CheckStatus.DOWN, CheckPhase.STATUS, f"{snapshot.rcode} for {asked}")
            if not snapshot.answers:
                return Verdict(CheckStatus.DOWN, CheckPhase.ASSERTION, f"No records for {asked}")
        found = ", ".join(snapshot.answers) or "no records"
        return judge_assertions(snapshot, assertions, now=now) or Verdict(
            CheckStatus.UP, CheckPhase.NONE, f"{snapshot.rcode} {asked}: {found}"[:MAX_REASON]
        )

    def describe(self, monitor: Monitor) -> str:
        at = f" @{monitor.dns_resolver}" if monitor.dns_resolver else ""
        return f"dns {monitor.dns_record_type} {monitor.host}{at}"
