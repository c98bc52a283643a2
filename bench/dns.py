"""A tiny authoritative DNS server for the benchmark: every ``*.bench.test`` is 127.0.0.1.

With ``bench.scale --dns`` each monitor gets its own host name (``m<i>.bench.test``) and the
check worker resolves every one of them with a real DNS query (c-ares, no cache) against
this server, so the resolver's cost for thousands of distinct hosts is part of the figures.
gevent's c-ares resolver takes server addresses without a port, so this binds port 53 on
127.0.0.2 (needs root, or CAP_NET_BIND_SERVICE) and leaves the system's resolver alone.

    python -m bench.dns [--address 127.0.0.2]       # prints READY, answers until SIGTERM
"""

from __future__ import annotations

import argparse
import signal
import socket
import struct

ZONE = b"bench.test"
ANSWER_ADDRESS = socket.inet_aton("127.0.0.1")
TTL = 60


def _question(packet: bytes) -> tuple[bytes, int, int]:
    """(lower-case name, qtype, end offset of the question) of a query."""
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length])
        offset += 1 + length
    qtype = struct.unpack("!H", packet[offset + 1 : offset + 3])[0]
    return b".".join(labels).lower(), qtype, offset + 5


def answer(packet: bytes) -> bytes | None:
    """The response to one query: A 127.0.0.1 for the zone, no data for other types,
    NXDOMAIN for names outside it. None for what is not a plain query."""
    if len(packet) < 17:
        return None
    (ident,) = struct.unpack("!H", packet[:2])
    try:
        name, qtype, end = _question(packet)
    except (IndexError, struct.error):
        return None
    question = packet[12:end]
    in_zone = name == ZONE or name.endswith(b"." + ZONE)
    if not in_zone:
        return struct.pack("!HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
    if qtype != 1:  # AAAA and the rest: the name exists, with no such record
        return struct.pack("!HHHHHH", ident, 0x8580, 1, 0, 0, 0) + question
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + ANSWER_ADDRESS
    return struct.pack("!HHHHHH", ident, 0x8580, 1, 1, 0, 0) + question + record


def serve(address: str, port: int = 53) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        sock.close()

    signal.signal(signal.SIGTERM, stop)
    print(f"READY {address}:{port}", flush=True)
    while not stopping:
        try:
            packet, client = sock.recvfrom(512)
        except OSError:
            break
        response = answer(packet)
        if response is not None:
            sock.sendto(response, client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=53)
    args = parser.parse_args()
    serve(args.address, args.port)


if __name__ == "__main__":
    main()
