"""ICMP echo (ping) for icmp monitors, the destination judged by ``lib.outbound``'s guard.

Why no library: icmplib and ping3 are each a few hundred lines around what is done here in
fifty, and the guard must judge the very address the echo requests go to.

Which socket: an unprivileged ICMP datagram socket (``SOCK_DGRAM, IPPROTO_ICMP``, as icmplib
with ``privileged=False`` and ping3 use) wherever the kernel allows it: Linux does for the
groups in ``net.ipv4.ping_group_range`` (many distributions ship "0 2147483647"; a bare
kernel or a container ships "1 0", nobody). The kernel then picks the echo identifier and
delivers only this socket's replies. A worker that may open raw sockets (root, or
CAP_NET_RAW) falls back to ``SOCK_RAW``; workers should not run as root, so production wants
the sysctl. ``unavailable_reason()`` says what to change when neither is allowed; it tries
once per process and remembers.

Pings go out ``interval`` apart and replies are collected until every ping is answered or the
deadline passes; a reply that arrives after the next ping was sent still counts, as with
ping(8). Plain sockets, so gevent's patched ones make it cooperative in the worker.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass
from functools import lru_cache

from lib import outbound

_ECHO = {socket.AF_INET: (8, 0), socket.AF_INET6: (128, 129)}  # request, reply types
_PROTOCOL = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
MAX_REPLY = 1500


@dataclass(frozen=True)
class PingResult:
    address: str
    sent: int
    round_trips_ms: tuple[float, ...]  # one per answered ping

    @property
    def packet_loss(self) -> float:
        """Percent of the pings that got no reply."""
        return 100.0 * (self.sent - len(self.round_trips_ms)) / self.sent


@lru_cache(maxsize=1)
def _socket_type() -> int | None:
    for sock_type in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, sock_type, socket.IPPROTO_ICMP).close()
        except OSError:
            continue
        return sock_type
    return None


def unavailable_reason() -> str | None:
    """Why this process cannot ping, in words an operator can act on; None when it can."""
    if _socket_type() is not None:
        return None
    return (
        "icmp monitors need unprivileged ICMP sockets: set net.ipv4.ping_group_range to a "
        f"range that includes group {os.getgid()} (e.g. sysctl -w "
        'net.ipv4.ping_group_range="0 2147483647") where healthmon runs'
    )


def where(host: str, address: str) -> str:
    """The target as reasons name it: the host, and the address it resolved to if other."""
    return host if host == address else f"{host} ({address})"


def _checksum(packet: bytes) -> int:
    if len(packet) % 2:
        packet += b"\0"
    total: int = sum(struct.unpack(f"!{len(packet) // 2}H", packet))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo_request(
    family: socket.AddressFamily, identifier: int, sequence: int, payload: bytes
) -> bytes:
    request_type = _ECHO[family][0]
    header = _HEADER.pack(request_type, 0, 0, identifier, sequence)
    # The kernel fills in ICMPv6 checksums (they cover the addresses) and the datagram
    # socket's; a raw IPv4 socket sends what it is given.
    checksum = _checksum(header + payload) if family == socket.AF_INET else 0
    return _HEADER.pack(request_type, 0, checksum, identifier, sequence) + payload


class _Echoes:
    """The echo requests of one ping run on one socket, and the replies matched to them."""

    def __init__(self, sock: socket.socket, family: socket.AddressFamily, raw: bool) -> None:
        self.sock, self.family, self.raw = sock, family, raw
        self.identifier = int.from_bytes(os.urandom(2), "big")
        self.payload = os.urandom(16)  # tells our replies apart from another check's
        self.sent_at: dict[int, float] = {}
        self.round_trips: dict[int, float] = {}

    def send(self, sequence: int, address: str) -> None:
        packet = _echo_request(self.family, self.identifier, sequence, self.payload)
        self.sock.sendto(packet, (address, 0))
        self.sent_at[sequence] = time.perf_counter()

    def collect(self, *, until: float, wanted: int | None) -> None:
        """Read replies until ``until`` (monotonic), or until ``wanted`` are answered."""
        while wanted is None or len(self.round_trips) < wanted:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(MAX_REPLY)
            except TimeoutError:
                return
            except OSError:
                continue  # an ICMP error queued for an earlier packet; keep listening
            received_at = time.perf_counter()
            sequence = self._answered(data)
            if sequence in self.sent_at and sequence not in self.round_trips:
                self.round_trips[sequence] = (received_at - self.sent_at[sequence]) * 1000

    def _answered(self, data: bytes) -> int | None:
        """The sequence number ``data`` answers, or None when it is not a reply to these
        pings (a raw socket sees every ICMP packet of the host, our own requests too)."""
        if self.raw and self.family == socket.AF_INET:
            data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets receive the IP header
        if len(data) < _HEADER.size:
            return None
        reply_type, _, _, reply_id, sequence = _HEADER.unpack_from(data)
        sequence = int(sequence)
        if reply_type != _ECHO[self.family][1] or data[_HEADER.size :] != self.payload:
            return None
        if self.raw and reply_id != self.identifier:  # a datagram socket's is the kernel's
            return None
        return sequence


def ping(host: str, *, count: int, interval: float, deadline: float) -> PingResult:
    """Send ``count`` echo requests to ``host``, ``interval`` seconds apart, and wait for
    the replies until ``deadline`` (monotonic). Raises ``OutboundError`` where no ping can
    be sent: blocked (before any packet), dns, connect."""
    address = outbound.resolve_guarded(host, 0)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock_type = _socket_type()
    if sock_type is None:
        raise outbound.OutboundError(
            outbound.Phase.REQUEST, unavailable_reason() or "", permanent=True
        )
    with socket.socket(family, sock_type, _PROTOCOL[family]) as sock:
        echoes = _Echoes(sock, family, raw=sock_type == socket.SOCK_RAW)
        for sequence in range(count):
            try:
                echoes.send(sequence, address)
            except OSError as exc:
                raise outbound.OutboundError(
                    outbound.Phase.CONNECT, f"Cannot ping {where(host, address)}: {exc.strerror}"
                ) from exc
            if sequence < count - 1:
                echoes.collect(until=min(deadline, time.monotonic() + interval), wanted=None)
        echoes.collect(until=deadline, wanted=count)
    round_trips = echoes.round_trips
    return PingResult(address, count, tuple(round_trips[s] for s in sorted(round_trips)))
