"""/health under faults: a worker or beat killed with SIGKILL, a receiver answering 500.

The killed processes are this module's own (not the session worker), and they leave their
heartbeats in a private file store, so /health sees only them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from conftest import ROOT, wait_for
from healthmon.celery import app
from notifications.tests.conftest import (
    make_incident,
    make_monitor,
    make_webhook,
    receiver,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# What the issue asks: a killed worker or beat shows on /health within 20 s.
REPORTED_WITHIN = 20.0


@pytest.fixture
def private_heartbeats(settings, tmp_path) -> str:
    settings.HEARTBEAT_URL = f"file://{tmp_path / 'heartbeats'}"
    return settings.HEARTBEAT_URL


def _child_env(heartbeat_url: str) -> dict[str, str]:
    db = connection.settings_dict
    if connection.vendor != "postgresql" or not os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)")
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            ),
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
            "HEARTBEAT_URL": heartbeat_url,
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _start(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "healthmon", *argv],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def own_processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _component(client, name: str) -> dict:
    return client.get("/health").json()["components"][name]


def _seconds_until_reported_down(client, process: subprocess.Popen, name: str) -> float:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    killed = time.monotonic()
    wait_for(
        lambda: _component(client, name)["status"] == "down",
        timeout=REPORTED_WITHIN + 5,
        interval=0.5,
        message=f"/health never reported the killed {name} down",
    )
    return time.monotonic() - killed


def test_a_worker_killed_with_sigkill_is_reported_down_within_20_seconds(
    anon_client, private_heartbeats, own_processes, tmp_path
):
    env = _child_env(private_heartbeats)
    argv = ["worker", "-P", "gevent", "-c", "5", "-Q", "checks,incidents,notifications"]
    argv += ["--without-mingle", "--without-gossip", "-n", f"killed-{os.getpid()}@%h"]
    worker = _start(argv, env, tmp_path / "worker.log")
    own_processes.append(worker)
    wait_for(
        lambda: _component(anon_client, "workers")["status"] == "up",
        timeout=60,
        interval=0.5,
        message="the worker never showed up on /health",
    )

    elapsed = _seconds_until_reported_down(anon_client, worker, "workers")

    assert elapsed <= REPORTED_WITHIN
    assert anon_client.get("/health").status_code == 503


def test_beat_killed_with_sigkill_is_reported_down_within_20_seconds(
    anon_client, private_heartbeats, own_processes, tmp_path
):
    env = _child_env(private_heartbeats)
    beat = _start(["beat"], env, tmp_path / "beat.log")
    own_processes.append(beat)
    wait_for(
        lambda: _component(anon_client, "beat")["status"] == "up",
        timeout=60,
        interval=0.5,
        message="beat never showed up on /health",
    )

    elapsed = _seconds_until_reported_down(anon_client, beat, "beat")

    assert elapsed <= REPORTED_WITHIN


def test_a_receiver_answering_500_makes_its_channel_failing_on_health(
    celery_worker_process,
    alice,
    anon_client,
    receiver,  # noqa: F811 (the fixture imported above)
):
    receiver.default = (500, {})
    monitor = make_monitor(alice.personal_team)
    channel = make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    incident = make_incident(monitor)
    app.send_task("notifications.tasks.notify_incident", args=[incident.id, "opened"])

    part = wait_for(
        lambda: (found := _component(anon_client, "notifications"))["failing_channels"] and found,
        timeout=40,
        message="the failing channel never showed up on /health",
    )

    assert part["status"] == "degraded"
    assert part["failing_channel_ids"] == [channel.id]
    assert receiver.requests, "the worker never reached the receiver"
