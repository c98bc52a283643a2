"""Real servers on 127.0.0.1 for the tcp, dns and tls kinds: started by the tests, each in
a thread, each changeable (or stoppable) mid-test to make a monitor go DOWN and back."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import secrets
import socket
import socketserver
import ssl
import threading
import time
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class EchoServer:
    """TCP: an optional greeting line, then every line received is sent back.

    ``stop()`` closes the port (connections are refused); ``start()`` opens it again on the
    same port."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.port = 0
        self._server: _Server | None = None

    def start(self) -> EchoServer:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if owner.greeting:
                    self.wfile.write(owner.greeting)
                for line in self.rfile:
                    self.wfile.write(line)

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class DnsServer:
    """UDP: answers from ``records`` {(name, type): [rdata text]}; NXDOMAIN for other names,
    an empty NOERROR answer for another type of a known name."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self._running:
            try:
                wire, client = self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1
            self.sock.sendto(self._answer(dns.message.from_wire(wire)).to_wire(), client)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        if not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        texts = self.records.get((name, kind), [])
        if texts:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", kind, *texts))
        return response

    def stop(self) -> None:
        self._running = False
        self.sock.close()


def self_signed_cert(directory: Path, *, days: int, name: str = "localhost") -> tuple[Path, Path]:
    """A certificate for ``name`` and 127.0.0.1 valid for ``days`` from now; (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=60))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}-{days}.pem"
    key_path = directory / f"{name}-{days}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsServer:
    """TLS with a self-signed certificate, swappable between connections (``use``); with
    ``smtp=True`` it speaks SMTP up to STARTTLS first (and ``refuse_starttls`` says 454)."""

    def __init__(self, cert: tuple[Path, Path], *, smtp: bool = False) -> None:
        self.smtp = smtp
        self.refuse_starttls = False
        self.use(cert)
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if owner.smtp and not owner._smtp_dialogue(self):
                    return
                try:
                    with owner.context.wrap_socket(self.connection, server_side=True) as tls:
                        tls.recv(1)  # until the client closes
                except (OSError, ssl.SSLError):
                    pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def use(self, cert: tuple[Path, Path]) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*cert)
        self.context = context

    def _smtp_dialogue(self, handler: socketserver.StreamRequestHandler) -> bool:
        handler.wfile.write(b"220 mail.test ESMTP\r\n")
        handler.rfile.readline()  # EHLO
        handler.wfile.write(b"250-mail.test\r\n250-SIZE 1000\r\n250 STARTTLS\r\n")
        handler.rfile.readline()  # STARTTLS
        if self.refuse_starttls:
            handler.wfile.write(b"454 4.7.0 TLS not available\r\n")
            return False
        handler.wfile.write(b"220 2.0.0 Ready to start TLS\r\n")
        return True

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _ManyClientsHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) resets connections when a batch of checks connects at
    # once (20 api checks in test_api_kind_pool).
    request_queue_size = 128


class LoginServer:
    """HTTP: a login flow for api monitors. ``POST /login`` with ``{"user", "password"}``
    answers ``{"token": ...}`` (and the token in an ``X-Auth-Token`` header); ``GET /orders``
    needs ``Authorization: Bearer <that token>`` and answers JSON, or ``orders_status`` when
    a test sets it to something else than 200 to break the endpoint."""

    def __init__(self, *, password: str) -> None:
        self.password = password
        self.orders_status = 200
        self.delay = 0.0  # seconds each answer waits
        self.tokens: set[str] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _answer(self, status: int, document: dict, headers: dict | None = None) -> None:
                time.sleep(owner.delay)
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                owner.requests.append(("POST", self.path, dict(self.headers)))
                try:
                    credentials = json.loads(raw or b"{}")
                except ValueError:
                    credentials = {}
                if self.path != "/login" or credentials.get("password") != owner.password:
                    self._answer(401, {"error": "bad credentials"})
                    return
                token = secrets.token_urlsafe(16)
                owner.tokens.add(token)
                self._answer(200, {"token": token}, {"X-Auth-Token": token})

            def do_GET(self) -> None:
                owner.requests.append(("GET", self.path, dict(self.headers)))
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                if self.path != "/orders" or scheme != "Bearer" or token not in owner.tokens:
                    self._answer(401, {"error": "login first"})
                elif owner.orders_status != 200:
                    self._answer(owner.orders_status, {"error": "orders are down"})
                else:
                    self._answer(200, {"count": 2, "orders": [{"id": 1}, {"id": 2}]})

        self._server = _ManyClientsHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
