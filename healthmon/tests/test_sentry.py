"""Sentry: off without SENTRY_DSN; with it, a real error from a real request reaches a real
HTTP endpoint (a local stand-in for Sentry's ingest) with environment, release and request id,
and without personal data."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sentry_sdk
from cryptography.fernet import Fernet

from healthmon.sentry import init_sentry
from monitors.tests.http_target import refused_port

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: Sentry's SDK is global to a process, the test run must stay clean.
CHILD = """
import django, sentry_sdk
django.setup()
from django.test import Client
response = Client(raise_request_exception=False).post(
    "/api/v1/auth/login/",
    {"email": "alice@example.com", "password": "hunter2-very-secret"},
    content_type="application/json",
    HTTP_X_REQUEST_ID="req-sentry-1",
    HTTP_COOKIE="sessionid=cookie-value-123",
    HTTP_AUTHORIZATION="Bearer token-value-456",
    REMOTE_ADDR="203.0.113.9",
)
print("status", response.status_code)
sentry_sdk.flush(timeout=10)
"""


class _Ingest(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # pragma: no cover - only if the SDK picked brotli

            body = brotli.decompress(body)
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def ingest():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def events_in(body: bytes) -> list[dict]:
    """Items of a Sentry envelope (header line, then item header / payload pairs)."""
    lines = body.split(b"\n")
    found = []
    for header, payload in zip(lines[1::2], lines[2::2], strict=False):
        if json.loads(header).get("type") == "event":
            found.append(json.loads(payload))
    return found


def test_sentry_stays_off_without_a_dsn():
    assert init_sentry(dsn="", environment="x", release="", traces_sample_rate=0) is False
    assert not sentry_sdk.get_client().is_active()


def test_an_error_reaches_sentry_with_environment_release_request_id_and_no_pii(ingest, tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "healthmon.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "HEALTHMON_VAR_DIR": str(tmp_path),
        # The login view needs the database, which is not there: a real 500.
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{refused_port()}/healthmon",
        "DB_POOL_MAX_SIZE": "0",
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{ingest.server_port}/1",
        "SENTRY_ENVIRONMENT": "staging",
        "SENTRY_RELEASE": "healthmon@9.9.9",
    }

    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, timeout=60
    )

    assert b"status 500" in child.stdout, child.stderr.decode()
    raw = b"".join(body for _, body in ingest.received)
    events = [event for _, body in ingest.received for event in events_in(body)]
    errors = [e for e in events if e.get("exception")]
    assert errors, f"no error event received: {ingest.received!r}"
    event = errors[0]
    assert event["environment"] == "staging"
    assert event["release"] == "healthmon@9.9.9"
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert event["exception"]["values"][-1]["type"] == "OperationalError"
    assert event["transaction"] == "/api/v1/auth/login/"
    # No personal data or secrets: body, cookies, authorization, client address, email.
    for secret in (
        b"hunter2-very-secret",
        b"alice@example.com",
        b"cookie-value-123",
        b"token-value-456",
        b"203.0.113.9",
    ):
        assert secret not in raw, f"{secret!r} was sent to Sentry"
    assert not event["request"].get("data")  # no request body
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert not any("vars" in frame for frame in frames)  # no local variables either
