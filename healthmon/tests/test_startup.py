"""`make run`'s port check and closing block (healthmon/startup.py), and the one web port."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from healthmon import startup

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_startup(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "healthmon.startup", *args],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", **env},  # as make run's RUN_ENV
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_taken_web_port_is_one_line_and_exit_code_1():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_startup("ports", WEB_BIND=f"127.0.0.1:{port}", FLOWER_PORT=str(free_port()))

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"healthmon: port already in use: web (127.0.0.1:{port}); stop what holds it or "
        "choose others, e.g. make run WEB_PORT=8080 FLOWER_PORT=5556"
    ]


def test_free_ports_pass_silently():
    done = run_startup("ports", WEB_BIND=f"127.0.0.1:{free_port()}", FLOWER_PORT=str(free_port()))

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_site_url_follows_web_port_by_default():
    env = {k: v for k, v in os.environ.items() if k != "SITE_URL"}
    script = "from django.conf import settings; print(settings.SITE_URL)"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**env, "DEBUG": "true", "WEB_PORT": "8123"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout.splitlines()[-1] == "http://127.0.0.1:8123", done.stderr


def test_gunicorn_binds_the_web_port_unless_web_bind_is_set(monkeypatch):
    monkeypatch.delenv("WEB_BIND", raising=False)
    monkeypatch.setenv("WEB_PORT", "8123")
    by_port = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["bind"]
    monkeypatch.setenv("WEB_BIND", "127.0.0.1:9000")
    by_bind = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["bind"]

    assert (by_port, by_bind) == ("0.0.0.0:8123", "127.0.0.1:9000")


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def healthy_web(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("WEB_BIND", raising=False)
    monkeypatch.setenv("WEB_PORT", str(server.server_address[1]))
    yield server
    server.shutdown()
    server.server_close()


def test_once_health_answers_one_block_says_where_everything_is(
    healthy_web, settings, tmp_path, capsys, monkeypatch
):
    settings.SITE_URL = "http://127.0.0.1:8123"
    settings.DEMO_LOGIN_FILE = tmp_path / "demo-login"
    settings.DEMO_LOGIN_FILE.write_text("email: admin@example.com\npassword: x\n")
    monkeypatch.delenv("FLOWER_PORT", raising=False)

    assert startup.print_banner(timeout=10) == 0
    block = capsys.readouterr().out

    assert block.count("=" * 72) == 2
    assert "dashboard  http://127.0.0.1:8123/" in block
    assert f"admin@example.com, password in {settings.DEMO_LOGIN_FILE}" in block
    assert "API docs   http://127.0.0.1:8123/api/docs/" in block
    assert "Flower     http://127.0.0.1:5555/ (user:password in var/flower-basic-auth" in block
