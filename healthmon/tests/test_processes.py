"""The Procfile's own commands, run for real: gunicorn serving probes and merged metrics,
beat recording its ticks, Flower behind basic auth."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from conftest import wait_for
from healthmon import heartbeats

ROOT = Path(__file__).resolve().parents[2]


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise LookupError(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test database and broker, production-like logging, a private var dir."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        {
            # The running interpreter's venv, wherever it is (`make test VENV=...`).
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "DATABASE_URL": (
                f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            ),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "DEBUG": "true",
            "LOG_FORMAT": "json",
            "HEALTHMON_VAR_DIR": str(tmp_path / "var"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


@contextmanager
def procfile_process(name: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        # As honcho runs it: through sh, in a process group of its own.
        process = subprocess.Popen(
            ["sh", "-c", procfile_command(name)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the whole group (sh and what it started); SIGKILL what is left at timeout."""
    group_alive = True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_alive and time.monotonic() < deadline:
        process.poll()  # reap sh, or the group never empties
        try:
            os.killpg(process.pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            group_alive = False
    if group_alive:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_probes_and_merges_its_workers_metrics(tmp_path):
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = child_env(
        tmp_path,
        WEB_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    log = tmp_path / "web.log"
    base = f"http://127.0.0.1:{port}"
    with procfile_process("web", env, log) as web:
        wait_for(lambda: get(f"{base}/live")[0] == 200 or web.poll() is not None, timeout=60)
        assert web.poll() is None, log.read_text()

        ready = get(f"{base}/ready")
        for _ in range(6):  # spread over both gunicorn workers
            get(f"{base}/api/v1/monitors/", **{"X-Request-ID": "req-gunicorn-1"})
        status, body = get(f"{base}/metrics")

    assert ready[0] == 200, ready
    assert status == 200
    text = body.decode()
    assert 'django_http_responses_total_by_status_total{status="401"} 6.0' in text
    # Each gunicorn worker wrote its own files, named <host>-<pid>.
    pids = {path.stem.rsplit("-", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    assert len(pids) == 2
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("logger") == "healthmon.request"]
    assert sum(1 for line in requests if line.get("request_id") == "req-gunicorn-1") == 6


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_records_its_ticks_for_health_and_touches_its_heartbeat_file(
    tmp_path, heartbeat_store, anon_client
):
    heartbeat_file = tmp_path / "beat-heartbeat"
    env = child_env(tmp_path, HEARTBEAT_FILE=str(heartbeat_file))
    started = time.time()
    with procfile_process("beat", env, tmp_path / "beat.log") as beat:
        last_tick = wait_for(
            lambda: (tick := heartbeats.store().beat_last_tick()) and tick > started and tick,
            timeout=45,
            message=f"beat never ticked; see {tmp_path / 'beat.log'}",
        )
        assert beat.poll() is None
        health = anon_client.get("/health").json()["components"]["beat"]

    assert health["status"] == "up"
    assert health["last_tick_age_seconds"] < 10
    assert last_tick <= time.time()
    assert heartbeat_file.stat().st_mtime >= started - 1


@pytest.mark.worker
def test_flower_requires_its_basic_auth_login(tmp_path):
    port = free_port()
    env = child_env(tmp_path, FLOWER_PORT=str(port), FLOWER_BASIC_AUTH="ops:flower-test-password-1")
    base = f"http://127.0.0.1:{port}"
    with procfile_process("flower", env, tmp_path / "flower.log") as flower:
        wait_for(
            lambda: get(f"{base}/healthcheck")[0] == 200 or flower.poll() is not None,
            timeout=60,
        )
        assert flower.poll() is None, (tmp_path / "flower.log").read_text()
        anonymous = get(f"{base}/")[0]
        wrong = get(f"{base}/", Authorization="Basic " + b64encode(b"ops:nope").decode())[0]
        login = b64encode(b"ops:flower-test-password-1").decode()
        right = get(f"{base}/workers", Authorization=f"Basic {login}")[0]

    assert (anonymous, wrong, right) == (401, 401, 200)


def test_flower_refuses_to_start_without_a_login(tmp_path):
    env = child_env(tmp_path, FLOWER_PORT=str(free_port()))
    env.pop("FLOWER_BASIC_AUTH", None)

    done = subprocess.run(
        ["sh", "-c", procfile_command("flower")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode != 0
    assert "set FLOWER_BASIC_AUTH=user:password" in done.stderr


@pytest.mark.worker
def test_flowers_password_is_on_no_command_line(tmp_path):
    port = free_port()
    password = "flower-test-password-" + os.urandom(6).hex()
    env = child_env(tmp_path, FLOWER_PORT=str(port), FLOWER_BASIC_AUTH=f"ops:{password}")
    with procfile_process("flower", env, tmp_path / "flower.log") as flower:
        wait_for(
            lambda: (
                get(f"http://127.0.0.1:{port}/healthcheck")[0] == 200 or flower.poll() is not None
            ),
            timeout=60,
        )
        assert flower.poll() is None, (tmp_path / "flower.log").read_text()
        lines = command_lines()

    assert any(b"flower" in line for line in lines)
    assert not [line for line in lines if password.encode() in line]


def command_lines() -> list[bytes]:
    """What `ps` shows: every process's command line on this machine."""
    lines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # the process ended meanwhile
            lines.append(path.read_bytes())
    return lines
