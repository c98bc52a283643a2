"""The icmp kind: real pings to 127.0.0.1 and ::1, the guard before any packet, the
verdict's table, and the socket the kernel allows (datagram in a namespace that permits it,
none for an unprivileged user where it does not)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import BLOCKED_ADDRESS
from monitors.checker import run_check
from monitors.kinds import KINDS
from monitors.kinds.icmp import IcmpSnapshot
from monitors.models import CheckPhase, CheckStatus, Monitor

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def pinged(**fields) -> Monitor:
    return Monitor(**{"kind": "icmp", "name": "ping", "timeout": 2.0, **fields})


class EchoRequestSniffer:
    """Every ICMP echo request this host sends, seen through a raw socket (root only)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)

    def destinations(self, *, within: float = 0.5) -> list[str]:
        seen, until = [], time.monotonic() + within
        while (remaining := until - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                packet = self.sock.recv(2048)
            except TimeoutError:
                break
            header = (packet[0] & 0x0F) * 4
            if packet[header] == 8:  # echo request
                seen.append(socket.inet_ntoa(packet[16:20]))
        return seen

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sniffer():
    watching = EchoRequestSniffer()
    yield watching
    watching.close()


# --- Real pings -----------------------------------------------------------------------------


def test_ping_to_loopback_is_up_with_loss_and_round_trips():
    outcome = run_check(pinged(host="127.0.0.1"))

    assert (outcome.status, outcome.phase) == (CheckStatus.UP, CheckPhase.NONE)
    assert outcome.reason.startswith("3/3 replies from 127.0.0.1, 0% loss, round trip min/avg/max")
    assert outcome.response_time_ms is not None


def test_ping_count_sets_the_number_of_echo_requests(sniffer):
    outcome = run_check(pinged(host="127.0.0.5", ping_count=5))

    assert outcome.reason.startswith("5/5 replies")
    assert sniffer.destinations().count("127.0.0.5") == 5


def test_ping_to_ipv6_loopback_is_up():
    outcome = run_check(pinged(host="::1", ping_count=1))
    assert outcome.status == CheckStatus.UP
    assert outcome.reason.startswith("1/1 replies from ::1")


def test_ping_assertions_hold_for_a_healthy_host():
    assertions = [
        {"type": "packet_loss_below", "value": 1},
        {"type": "rtt_below", "value": 500},
        {"type": "response_time_below", "value": 500},
        {"type": "condition", "value": "[IP] == 127.0.0.1"},
    ]
    assert run_check(pinged(host="127.0.0.1", assertions=assertions)).status == CheckStatus.UP


def test_round_trip_over_its_limit_is_down_in_the_assertion_phase():
    outcome = run_check(
        pinged(host="127.0.0.1", assertions=[{"type": "rtt_below", "value": 0.0001}])
    )
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.ASSERTION)
    assert outcome.reason.startswith("Assertion 1 failed: average round trip ")
    assert outcome.failed_assertion == {"type": "rtt_below", "value": 0.0001}


def test_a_blocked_host_is_refused_before_any_packet(sniffer):
    outcome = run_check(pinged(host=BLOCKED_ADDRESS))

    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.BLOCKED)
    assert outcome.reason.startswith(f"{BLOCKED_ADDRESS} is in a blocked network")
    run_check(pinged(host="127.0.0.3", ping_count=1))  # the sniffer sees what is sent
    seen = sniffer.destinations()
    assert "127.0.0.3" in seen
    assert BLOCKED_ADDRESS not in seen


def test_a_name_is_resolved_and_its_address_judged(settings):
    settings.BLOCKED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    outcome = run_check(pinged(host="localhost"))
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.BLOCKED)


# --- The verdict ----------------------------------------------------------------------------


def snapshot(received: int, sent: int = 4, avg: float = 20.0) -> IcmpSnapshot:
    return IcmpSnapshot("192.0.2.1", sent, received, 100 * (sent - received) / sent, 10, avg, 30)


@pytest.mark.parametrize(
    ("received", "assertions", "status", "reason"),
    [
        (4, [], "up", "4/4 replies from 192.0.2.1, 0% loss, round trip min/avg/max "
         "10.000/20.000/30.000 ms"),
        (1, [], "up", "1/4 replies from 192.0.2.1, 75% loss, round trip min/avg/max "
         "10.000/20.000/30.000 ms"),
        (3, [{"type": "packet_loss_below", "value": 50}], "up", None),
        (2, [{"type": "packet_loss_below", "value": 50}], "down",
         "Assertion 1 failed: packet loss 50%, limit 50%"),
        (4, [{"type": "rtt_below", "value": 20}], "down",
         "Assertion 1 failed: average round trip 20.000 ms, limit 20 ms"),
        (4, [{"type": "response_time_below", "value": 25}], "up", None),
        (4, [{"type": "condition", "value": "[RESPONSE_TIME] < 10"}], "down",
         "Assertion 1 failed: [RESPONSE_TIME] (20) < 10"),
    ],
)  # fmt: skip
def test_verdict_table(received, assertions, status, reason):
    verdict = KINDS["icmp"].verdict(
        pinged(host="192.0.2.1", assertions=assertions), snapshot(received), now=NOW
    )
    assert verdict.status == status
    if reason is not None:
        assert verdict.reason == reason


# --- Which socket the kernel allows ---------------------------------------------------------

# Settings for a child process (DEBUG: no production SECRET_KEY needed); loopback allowed.
NAMESPACE_ENV = {**os.environ, "DEBUG": "true", "BLOCKED_NETWORKS": "169.254.169.254/32"}
PROBE = (
    "import time; from lib import icmp; "
    "print(icmp._socket_type() == __import__('socket').SOCK_DGRAM, icmp.unavailable_reason()); "
    "print(len(icmp.ping('127.0.0.1', count=2, interval=0.05, "
    "deadline=time.monotonic() + 1).round_trips_ms))"
)


def test_an_unprivileged_datagram_socket_pings_where_ping_group_range_allows_it():
    # A throwaway network namespace with its own sysctl: the host's stays as it is.
    script = (
        'ip link set lo up && sysctl -qw net.ipv4.ping_group_range="0 2147483647" && '
        f'exec {sys.executable} -c "{PROBE}"'
    )
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        cwd=ROOT, env=NAMESPACE_ENV,
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.stdout.split("\n")[:2] == ["True None", "2"], done.stderr


SILENT = (
    "import django; django.setup(); "
    "from monitors.checker import run_check; from monitors.models import Monitor; "
    "o = run_check(Monitor(kind='icmp', host='{host}', timeout=1, ping_count=2)); "
    "print(o.status, o.phase, o.reason, sep='|')"
)


@pytest.mark.parametrize(
    ("route", "result"),
    [
        # Looped back onto lo but not a local address: dropped, never answered.
        ("198.18.0.0/24 dev lo", "timeout|timeout|No reply from 198.18.0.2 to 2 pings within 1s"),
        ("unreachable 198.18.0.0/24", "error|connect|Cannot ping 198.18.0.2: No route to host"),
    ],
    ids=["silent", "unreachable"],
)
def test_a_host_that_never_answers_is_a_timeout_and_one_out_of_reach_an_error(route, result):
    # In a throwaway network namespace, so no packet leaves this test's own loopback.
    script = (
        f"ip link set lo up && ip route add {route} && "
        f'exec {sys.executable} -c "{SILENT.format(host="198.18.0.2")}"'
    )
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        cwd=ROOT, env=NAMESPACE_ENV,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout.strip() == result, done.stderr


def test_a_process_allowed_no_icmp_socket_is_told_which_sysctl_to_set():
    assert shutil.which("setpriv"), "setpriv (util-linux) runs the probe as nobody"
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", "from lib import icmp; print(icmp.unavailable_reason())"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.stdout.strip() == (
        "icmp monitors need unprivileged ICMP sockets: set net.ipv4.ping_group_range to a "
        'range that includes group 65534 (e.g. sysctl -w net.ipv4.ping_group_range="0 '
        '2147483647") where healthmon runs'
    ), done.stderr
