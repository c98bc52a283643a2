"""Local targets of the monitor kinds that are not HTTP, for ``bench.kinds``: one asyncio
process (so it stays cheap beside the stack) on 127.0.0.1, free ports:

    tcp   an echo server: every line received is sent back, until the client closes
    tls   a TLS server with a self-signed certificate for localhost and 127.0.0.1 (made at
          start with the tests' ``self_signed_cert``); it handshakes, then waits for the
          client to close
    dns   UDP, answered by ``bench.dns.answer``: every ``*.bench.test`` is A 127.0.0.1

HTTP and the api kind's login flow are ``bench.target``; ICMP is the kernel's.

    python -m bench.kind_targets --cert-dir DIR   # prints READY {"tcp": p, "tls": p, "dns": p}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
from pathlib import Path

from bench.dns import answer
from monitors.tests.kind_servers import self_signed_cert


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class HandshakeProtocol(asyncio.Protocol):
    """asyncio has done the handshake when this sees the connection; it only waits for the
    client to close (a tls check closes right after reading the certificate)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        pass


class DnsProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        response = answer(data)
        if response is not None:
            self.transport.sendto(response, addr)


def _quiet(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # A client that closes mid-handshake (or resets) is not the target's problem to report.
    if not isinstance(context.get("exception"), (OSError, ssl.SSLError)):
        loop.default_exception_handler(context)


async def serve(cert_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_cert(cert_dir, days=90))
    tcp = await loop.create_server(EchoProtocol, "127.0.0.1", 0, backlog=4096)
    tls = await loop.create_server(HandshakeProtocol, "127.0.0.1", 0, ssl=context, backlog=4096)
    dns_transport, _ = await loop.create_datagram_endpoint(DnsProtocol, local_addr=("127.0.0.1", 0))
    ports = {
        "tcp": tcp.sockets[0].getsockname()[1],
        "tls": tls.sockets[0].getsockname()[1],
        "dns": dns_transport.get_extra_info("sockname")[1],
    }
    print(f"READY {json.dumps(ports)}", flush=True)
    await stop
    tcp.close()
    tls.close()
    dns_transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cert-dir", required=True, type=Path)
    args = parser.parse_args()
    args.cert_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.cert_dir))


if __name__ == "__main__":
    main()
