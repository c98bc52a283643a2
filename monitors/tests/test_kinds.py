"""The tcp, dns and tls kinds against real servers on 127.0.0.1, and the guard under them."""

from __future__ import annotations

import socket

import pytest

from lib import outbound
from monitors.checker import run_check
from monitors.kinds import KINDS
from monitors.models import CheckPhase, CheckStatus, Monitor
from monitors.tests.kind_servers import DnsServer, EchoServer, TlsServer, self_signed_cert

BLOCK_LOOPBACK = ["169.254.0.0/16", "127.0.0.0/8"]


def monitor(kind: str, **fields) -> Monitor:
    return Monitor(**{"kind": kind, "name": kind, "timeout": 2.0, **fields})


@pytest.fixture
def echo():
    server = EchoServer(greeting=b"+OK ready\r\n").start()
    yield server
    server.stop()


@pytest.fixture
def dns_server():
    server = DnsServer(
        {
            ("app.test", "A"): ["10.0.0.1", "10.0.0.2"],
            ("app.test", "MX"): ["10 mail.app.test."],
            ("app.test", "TXT"): ['"v=spf1 -all"'],
            ("www.app.test", "CNAME"): ["app.test."],
        }
    )
    yield server
    server.stop()


@pytest.fixture
def certs(tmp_path):
    return {days: self_signed_cert(tmp_path, days=days) for days in (90, 5, -3)}


@pytest.fixture
def tls_server(certs):
    server = TlsServer(certs[90])
    yield server
    server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The guard ------------------------------------------------------------------------------


def test_a_raw_connection_to_a_blocked_network_is_refused_after_connecting(settings, echo):
    settings.BLOCKED_NETWORKS = BLOCK_LOOPBACK
    with pytest.raises(outbound.OutboundError) as raised:
        outbound.connect_tcp("localhost", echo.port, timeout=2)
    assert raised.value.phase == outbound.Phase.BLOCKED
    assert "127.0.0.1 is in a blocked network (127.0.0.0/8)" in raised.value.reason


def test_a_resolver_in_a_blocked_network_is_refused_before_any_query(settings, dns_server):
    settings.BLOCKED_NETWORKS = BLOCK_LOOPBACK
    checked = monitor(
        "dns", host="app.test", dns_record_type="A", dns_resolver=f"127.0.0.1:{dns_server.port}"
    )
    outcome = run_check(checked)
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.BLOCKED)
    assert dns_server.queries == 0


# --- tcp ------------------------------------------------------------------------------------


def test_tcp_connect_is_up_with_the_connect_time(echo):
    outcome = run_check(monitor("tcp", host="127.0.0.1", port=echo.port))
    assert outcome.status == CheckStatus.UP
    assert outcome.response_time_ms is not None
    assert outcome.reason.startswith(f"Connected to 127.0.0.1:{echo.port} in ")


def test_tcp_refused_is_an_error_in_the_connect_phase():
    port = closed_port()
    outcome = run_check(monitor("tcp", host="127.0.0.1", port=port))
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.CONNECT)
    assert outcome.reason == f"Connection refused by 127.0.0.1:{port}"


def test_tcp_sends_a_line_and_finds_the_expected_reply(echo):
    checked = monitor(
        "tcp",
        host="127.0.0.1",
        port=echo.port,
        send="PING 42",
        assertions=[{"type": "reply_contains", "value": "PING 42"}],
    )
    assert run_check(checked).status == CheckStatus.UP


def test_tcp_reads_the_greeting_when_nothing_is_sent(echo):
    checked = monitor(
        "tcp",
        host="127.0.0.1",
        port=echo.port,
        assertions=[{"type": "reply_contains", "value": "+OK"}],
    )
    assert run_check(checked).status == CheckStatus.UP


def test_tcp_reply_without_the_expected_text_is_down_in_the_assertion_phase(echo):
    checked = monitor(
        "tcp",
        host="127.0.0.1",
        port=echo.port,
        send="PING",
        timeout=1.0,
        assertions=[{"type": "reply_contains", "value": "PONG"}],
    )
    outcome = run_check(checked)
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.ASSERTION)
    assert "does not contain 'PONG'" in outcome.reason
    assert outcome.failed_assertion == {"type": "reply_contains", "value": "PONG"}


def test_tcp_over_tls_reads_the_certificate_expiry(tls_server):
    checked = monitor("tcp", host="127.0.0.1", port=tls_server.port, use_tls=True, verify_tls=False)
    outcome = run_check(checked)
    assert outcome.status == CheckStatus.UP
    assert outcome.reason.endswith(" ms") and "over TLS" in outcome.reason
    assert outcome.cert_expires_at is not None


def test_tcp_over_tls_with_verification_refuses_a_self_signed_certificate(tls_server):
    checked = monitor("tcp", host="127.0.0.1", port=tls_server.port, use_tls=True)
    outcome = run_check(checked)
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.TLS)
    assert "self-signed certificate" in outcome.reason


# --- dns ------------------------------------------------------------------------------------


def dns_monitor(server: DnsServer, record_type: str = "A", name: str = "app.test", **fields):
    return monitor(
        "dns",
        host=name,
        dns_record_type=record_type,
        dns_resolver=f"127.0.0.1:{server.port}",
        **fields,
    )


def test_dns_answers_are_up_and_listed(dns_server):
    outcome = run_check(dns_monitor(dns_server))
    assert outcome.status == CheckStatus.UP
    assert outcome.reason == "NOERROR A app.test: 10.0.0.1, 10.0.0.2"
    assert outcome.status_code is None


@pytest.mark.parametrize(
    ("record_type", "assertion", "up"),
    [
        ("A", {"type": "answer_contains", "value": "10.0.0.2"}, True),
        ("A", {"type": "answer_contains", "value": "10.0.0.9"}, False),
        ("A", {"type": "answer_equals", "value": ["10.0.0.2", "10.0.0.1"]}, True),
        ("A", {"type": "answer_equals", "value": ["10.0.0.1"]}, False),
        ("A", {"type": "answer_matches", "value": r"^10\.0\.0\.\d+$"}, True),
        ("A", {"type": "answer_matches", "value": r"^10\.0\.0\.1$"}, False),
        ("MX", {"type": "answer_contains", "value": "10 MAIL.app.test"}, True),
        ("TXT", {"type": "answer_equals", "value": ["v=spf1 -all"]}, True),
        ("A", {"type": "response_time_below", "value": 1000}, True),
    ],
)
def test_dns_assertions_judge_the_answer_set(dns_server, record_type, assertion, up):
    outcome = run_check(dns_monitor(dns_server, record_type, assertions=[assertion]))
    assert outcome.is_up is up, outcome.reason


def test_dns_cname_answers_with_the_target(dns_server):
    outcome = run_check(dns_monitor(dns_server, "CNAME", name="www.app.test"))
    assert outcome.reason == "NOERROR CNAME www.app.test: app.test."


def test_dns_nxdomain_is_down_in_the_status_phase(dns_server):
    outcome = run_check(dns_monitor(dns_server, name="gone.test"))
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.STATUS)
    assert outcome.reason == "NXDOMAIN for A gone.test"


def test_dns_rcode_assertion_can_expect_nxdomain(dns_server):
    checked = dns_monitor(
        dns_server, name="gone.test", assertions=[{"type": "rcode", "value": "NXDOMAIN"}]
    )
    assert run_check(checked).status == CheckStatus.UP


def test_dns_name_without_records_of_the_type_is_down(dns_server):
    outcome = run_check(dns_monitor(dns_server, "AAAA"))
    assert (outcome.status, outcome.reason) == (CheckStatus.DOWN, "No records for AAAA app.test")


def test_dns_resolver_that_never_answers_is_a_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        checked = monitor(
            "dns",
            host="app.test",
            dns_record_type="A",
            dns_resolver=f"127.0.0.1:{silent.getsockname()[1]}",
            timeout=0.5,
        )
        outcome = run_check(checked)
    assert (outcome.status, outcome.phase) == (CheckStatus.TIMEOUT, CheckPhase.TIMEOUT)


# --- tls ------------------------------------------------------------------------------------


def test_tls_reports_subject_issuer_and_expiry(tls_server, certs):
    outcome = run_check(monitor("tls", host="127.0.0.1", port=tls_server.port, verify_tls=False))
    assert outcome.status == CheckStatus.UP
    assert outcome.reason.startswith("Certificate CN=localhost issued by CN=localhost, expires ")
    assert outcome.reason.endswith("(in 90 days)")
    assert outcome.cert_expires_at is not None


def test_tls_certificate_expiring_too_soon_is_down(tls_server, certs):
    tls_server.use(certs[5])
    checked = monitor(
        "tls",
        host="127.0.0.1",
        port=tls_server.port,
        verify_tls=False,
        assertions=[{"type": "cert_valid_days", "value": 14}],
    )
    outcome = run_check(checked)
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.ASSERTION)
    assert "minimum 14" in outcome.reason


def test_tls_expired_certificate_is_down_even_without_verification(tls_server, certs):
    tls_server.use(certs[-3])
    outcome = run_check(monitor("tls", host="127.0.0.1", port=tls_server.port, verify_tls=False))
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.TLS)
    assert outcome.reason.startswith("TLS certificate expired on ")


def test_tls_verification_refuses_an_untrusted_chain(tls_server):
    outcome = run_check(monitor("tls", host="localhost", port=tls_server.port))
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.TLS)
    assert "self-signed certificate" in outcome.reason


def test_tls_after_smtp_starttls(certs):
    server = TlsServer(certs[90], smtp=True)
    try:
        checked = monitor(
            "tls", host="127.0.0.1", port=server.port, starttls="smtp", verify_tls=False
        )
        outcome = run_check(checked)
    finally:
        server.stop()
    assert outcome.status == CheckStatus.UP, outcome.reason
    assert "(in 90 days)" in outcome.reason


def test_smtp_server_refusing_starttls_is_a_tls_error_quoting_it(certs):
    server = TlsServer(certs[90], smtp=True)
    server.refuse_starttls = True
    try:
        checked = monitor("tls", host="127.0.0.1", port=server.port, starttls="smtp")
        outcome = run_check(checked)
    finally:
        server.stop()
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.TLS)
    assert outcome.reason.endswith("454 4.7.0 TLS not available")


# --- describe -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "described"),
    [
        ({"kind": "http", "url": "https://a.test/h"}, "GET https://a.test/h"),
        ({"kind": "tcp", "host": "db", "port": 5432}, "tcp db:5432"),
        ({"kind": "tcp", "host": "db", "port": 6380, "use_tls": True}, "tcp+tls db:6380"),
        ({"kind": "dns", "host": "a.test", "dns_record_type": "MX"}, "dns MX a.test"),
        (
            {"kind": "dns", "host": "a.test", "dns_record_type": "A", "dns_resolver": "1.1.1.1"},
            "dns A a.test @1.1.1.1",
        ),
        (
            {"kind": "tls", "host": "mx", "port": 587, "starttls": "smtp"},
            "tls mx:587 (STARTTLS smtp)",
        ),
        ({"kind": "icmp", "host": "gw"}, "icmp gw (3 pings)"),
        ({"kind": "icmp", "host": "gw", "ping_count": 10}, "icmp gw (10 pings)"),
    ],
)
def test_each_kind_describes_its_target_in_one_line(fields, described):
    assert Monitor(**fields).target == described
    assert KINDS[fields["kind"]].describe(Monitor(**fields)) == described
