"""Real HTTP(S) servers on 127.0.0.1 for tests: the endpoints a monitor meets in the wild.

    /ok            200 {"status": "ok", "version": 3}, header X-Service: orders
    /fail          500 "internal error"
    /slow?s=2      waits, then 200
    /badjson       200 with Content-Type application/json and a broken body
    /redirect?to=/ok    302 to ``to``
    /big?mb=5      200 with that many MiB of "x"
    /status/404    that status
    /echo          200, the request's method, headers and body as JSON
    /switch        ``target.switch_status`` (200 until the test sets another)

``HttpTarget`` runs in a thread (the Celery worker under test is another process, so a
thread in the test process serves it fine); ``refused_port()`` is a port nobody listens on.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet test output
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        self.server.hits.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == "/ok":
            payload = json.dumps({"status": "ok", "version": 3, "items": [{"id": 1}]})
            self._send(200, payload.encode(), "application/json", X_Service="orders")
        elif path == "/fail":
            self._send(500, b"internal error")
        elif path == "/slow":
            time.sleep(float(query.get("s", "2")))
            self._send(200, b"finally")
        elif path == "/badjson":
            self._send(200, b'{"status": "ok", ', "application/json")
        elif path == "/redirect":
            self._send(302, b"", Location=query.get("to", "/ok"))
        elif path == "/big":
            size = int(float(query.get("mb", "5")) * 1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its cap, as it should
        elif path == "/switch":
            self._send(self.server.switch_status, b"switch")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status")
        elif path == "/echo":
            payload = {
                "method": self.command,
                "headers": dict(self.headers.items()),
                "body": body.decode(errors="replace"),
            }
            self._send(200, json.dumps(payload).encode(), "application/json")
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _route


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a gevent worker opening 60 connections at
    # once overflowed it and got "Connection reset by peer" for some checks.
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:
        # Clients that give up (timeouts, capped reads) are what the tests are about.
        pass


class HttpTarget:
    """A threaded HTTP server on 127.0.0.1 (or another loopback address), port 0."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self.server = _QuietServer((host, 0), _Handler)
        self.server.hits = []
        self.server.switch_status = 200
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpTarget:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/ok") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    @property
    def switch_status(self) -> int:
        return self.server.switch_status

    @switch_status.setter
    def switch_status(self, status: int) -> None:
        self.server.switch_status = status

    @property
    def hits(self) -> list[tuple[str, str]]:
        return self.server.hits


def refused_port() -> int:
    """A port on 127.0.0.1 that refuses connections (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_tls(*, days: int = 30, hostname: str = "localhost") -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate valid for ``days``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="healthmon-tls-"))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    context.not_after = now + dt.timedelta(days=days)  # for assertions in tests
    return context
