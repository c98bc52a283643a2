"""A fast local HTTP target for the benchmark: the endpoints 10,000 monitors check.

It must never be the bottleneck, so it is a bare asyncio ``Protocol`` (no framework, no
per-request objects beyond a bytes slice) and can pre-fork several processes accepting on
one listening socket. Routes:

    /m/<anything>       200 JSON (or 500 for --failure-rate of requests), after --latency-ms
    /flip/<anything>    200 until flipped down, then 500: times down -> alert
    /login              POST {"user", "password": LOGIN_PASSWORD} -> {"token": ...}, else 401
    /orders             with "Authorization: Bearer <a token /login gave>": 200 JSON, else
                        401 (the two steps of the api monitors of bench.kinds)
    /_control/down      flip every /flip/ path to failing (any process; state is shared)
    /_control/up        and back
    /_stats             {"requests": n, "flipped": bool}

Run ``python -m bench.target --port 0`` and read ``READY port=<n>`` from stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import secrets
import signal
import socket
import sys
import time
from ctypes import c_double, c_longlong

OK_BODY = json.dumps({"status": "ok", "version": 3}).encode()
FAIL_BODY = b"internal error"
MAX_HEAD = 16 * 1024
LOGIN_PASSWORD = "bench-password"  # noqa: S105 - a local test server's
ORDERS_BODY = json.dumps({"count": 2, "orders": [{"id": 1}, {"id": 2}]}).encode()
DENIED_BODY = json.dumps({"error": "log in first"}).encode()
# Tokens are signed, not stored, so every forked process accepts every other's (the key
# is made before the fork).
TOKEN_KEY = secrets.token_bytes(16)


def _signature(nonce: str) -> str:
    return hashlib.blake2b(nonce.encode(), key=TOKEN_KEY, digest_size=12).hexdigest()


def issue_token() -> str:
    nonce = secrets.token_hex(8)
    return f"{nonce}.{_signature(nonce)}"


def token_valid(token: str) -> bool:
    nonce, _, signature = token.partition(".")
    return bool(nonce) and secrets.compare_digest(signature, _signature(nonce))


def _response(status: int, body: bytes, content_type: str, keep_alive: bool) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}[
        status
    ]
    return (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode() + body


def login_flow(path: bytes, head: bytes, body: bytes) -> tuple[int, bytes, str]:
    """(status, body, content type) of ``/login`` and ``/orders``."""
    if path == b"/login":
        try:
            password = json.loads(body or b"{}").get("password")
        except (ValueError, AttributeError):
            password = None
        if password != LOGIN_PASSWORD:
            return 401, DENIED_BODY, "application/json"
        return 200, json.dumps({"token": issue_token()}).encode(), "application/json"
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            scheme, _, token = value.strip().decode(errors="replace").partition(" ")
            if scheme == "Bearer" and token_valid(token):
                return 200, ORDERS_BODY, "application/json"
    return 401, DENIED_BODY, "application/json"


class Shared:
    """State shared by every forked process: the flip switch and request counters."""

    def __init__(self, processes: int) -> None:
        self.flipped = multiprocessing.RawValue(c_double, 0.0)  # unix time flipped, 0 = up
        self.requests = multiprocessing.RawArray(c_longlong, processes)


class TargetProtocol(asyncio.Protocol):
    def __init__(self, server: TargetServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = self.buffer[:end]
            length = 0
            lowered = head.lower()
            at = lowered.find(b"\r\ncontent-length:")
            if at >= 0:
                line_end = lowered.find(b"\r\n", at + 2)
                length = int(lowered[at + 17 : line_end if line_end > 0 else None].strip())
            if len(self.buffer) < end + 4 + length:
                return  # wait for the body
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.handle(head, body, keep_alive=b"connection: close" not in lowered)

    def handle(self, head: bytes, body: bytes = b"", *, keep_alive: bool) -> None:
        request_line = head.split(b"\r\n", 1)[0]
        parts = request_line.split(b" ")
        path = parts[1] if len(parts) > 1 else b"/"
        server = self.server
        server.count()
        if path.startswith(b"/_"):
            self.reply(server.control(path), keep_alive)
            return
        if path.startswith(b"/m/"):
            failing = server.failure_rate and random.random() < server.failure_rate
            status = 500 if failing else 200
        elif path.startswith(b"/flip/"):
            # Never failing at random: these time the alert after a deliberate flip.
            status = 500 if server.shared.flipped.value else 200
        elif path in (b"/login", b"/orders"):
            self.later(_response(*login_flow(path, head, body), keep_alive), keep_alive)
            return
        else:
            status = 404
        text, kind = (OK_BODY, "application/json") if status == 200 else (FAIL_BODY, "text/plain")
        self.later(_response(status, text, kind, keep_alive), keep_alive)

    def later(self, response: bytes, keep_alive: bool) -> None:
        """Answer after the configured latency."""
        server = self.server
        delay = server.delay()
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.reply, response, keep_alive)
        else:
            self.reply(response, keep_alive)

    def reply(self, response: bytes, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response)
        if not keep_alive:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class TargetServer:
    def __init__(
        self,
        *,
        shared: Shared,
        index: int,
        latency_ms: float,
        jitter_ms: float,
        failure_rate: float,
    ) -> None:
        self.shared = shared
        self.index = index
        self.latency = latency_ms / 1000
        self.jitter = jitter_ms / 1000
        self.failure_rate = failure_rate

    def count(self) -> None:
        self.shared.requests[self.index] += 1

    def delay(self) -> float:
        if not self.jitter:
            return self.latency
        return max(0.0, self.latency + random.uniform(-self.jitter, self.jitter))

    def control(self, path: bytes) -> bytes:
        if path == b"/_control/down":
            self.shared.flipped.value = time.time()
        elif path == b"/_control/up":
            self.shared.flipped.value = 0.0
        elif path != b"/_stats":
            return _response(404, b"unknown control path", "text/plain", True)
        stats = {
            "requests": sum(self.shared.requests),
            "flipped": self.shared.flipped.value or None,
        }
        return _response(200, json.dumps(stats).encode(), "application/json", True)


def serve(sock: socket.socket, server: TargetServer) -> None:
    """Run one process's event loop on the shared listening socket until SIGTERM."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
        listener = await loop.create_server(lambda: TargetProtocol(server), sock=sock, backlog=4096)
        await stop
        listener.close()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--failure-rate", type=float, default=0.0, help="0..1 of /m/ requests")
    args = parser.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    sock.setblocking(False)
    shared = Shared(args.processes)

    children: list[int] = []
    for index in range(args.processes):
        pid = os.fork()
        if pid == 0:
            random.seed(os.getpid())
            server = TargetServer(
                shared=shared,
                index=index,
                latency_ms=args.latency_ms,
                jitter_ms=args.jitter_ms,
                failure_rate=args.failure_rate,
            )
            serve(sock, server)
            os._exit(0)
        children.append(pid)

    def stop(signum, frame) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"READY port={sock.getsockname()[1]}", flush=True)
    for child in children:
        while True:
            try:
                os.waitpid(child, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue
    sys.exit(0)


if __name__ == "__main__":
    main()
