"""Many api checks at once in a real gevent worker whose database pool is tiny.

The checks of a batch run concurrently, one greenlet each, under their timeouts. When an api
check read its team's variables itself, each greenlet took a pooled connection and held it
while its requests ran: with a pool of 4, 8 of 20 concurrent api checks timed out waiting for
one. The batch now reads every team's variables once, before the checks start, so the
checks need no connection and a pool of 2 is plenty for 20 of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from conftest import wait_for
from healthmon.celery import app
from lib import task_names
from monitors.models import CheckResult, CheckStatus, Monitor, TeamVariable
from monitors.tests.kind_servers import LoginServer

ROOT = Path(__file__).resolve().parents[2]
POOL_SIZE = 2
CHECKS = 20
PASSWORD = "hunter2-correct-horse"

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def tiny_pool_worker(django_db_setup, django_db_blocker):
    """A ``celery worker -P gevent`` with DB_POOL_MAX_SIZE=2, on a queue of its own."""
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs CELERY_BROKER_URL pointing at Redis")
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    db = connection.settings_dict
    queue = f"tiny-pool-{os.getpid()}"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        DEBUG="true",
        DB_POOL_MAX_SIZE=str(POOL_SIZE),
        DB_POOL_MIN_SIZE="1",
        # Longer than any check: a greenlet waiting for a connection runs into its check's
        # timeout (the symptom measured), not into the pool's.
        DB_POOL_TIMEOUT="30",
    )
    log_path = ROOT / "test-artifacts" / "celery-tiny-pool-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "healthmon", "worker", "-P", "gevent",
             "-c", "10", "-Q", queue, "--without-mingle", "--without-gossip", "-l", "info",
             "-n", f"tiny-pool-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(
                lambda: worker.poll() is not None or "ready." in log_path.read_text(), timeout=60
            )
            if worker.poll() is not None:
                pytest.fail(f"tiny-pool worker exited; see {log_path}")
            yield queue
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
def server():
    server = LoginServer(password=PASSWORD)
    server.delay = 0.5  # each answer: a check of two steps takes 1 s
    yield server
    server.stop()


def test_a_batch_of_api_checks_completes_without_timeouts_on_a_tiny_database_pool(
    tiny_pool_worker, alice, bob, server
):
    teams = [alice.personal_team, bob.personal_team]
    for team in teams:
        TeamVariable.objects.create(team=team, name="password", value=PASSWORD)
    steps = [
        {
            "name": "log in",
            "method": "POST",
            "url": f"{server.url}/login",
            "headers": {"Content-Type": "application/json"},
            "body": '{"user": "probe", "password": "{{password}}"}',
            "extract": [{"var": "token", "from": "json", "path": "$.token"}],
        },
        {
            "name": "get orders",
            "url": f"{server.url}/orders",
            "headers": {"Authorization": "Bearer {{token}}"},
        },
    ]
    monitors = [
        Monitor.objects.create(
            team=teams[i % 2],
            name=f"orders {i}",
            kind="api",
            steps=steps,
            # 5 checks' worth: ample for one check on a loaded machine, but with a
            # connection held per check, 2 connections serve about 2 x 5 = 10 of the 20
            # in time (before the fix: 12 of 20 timed out here).
            timeout=5.0,
            next_check_at=timezone.now() + timedelta(hours=1),
        )
        for i in range(CHECKS)
    ]
    now = timezone.now().isoformat()

    app.send_task(
        task_names.RUN_CHECK_BATCH,
        args=[[[monitor.id, now] for monitor in monitors]],
        queue=tiny_pool_worker,
    )

    stored = CheckResult.objects.filter(monitor__in=monitors)
    wait_for(lambda: stored.count() == CHECKS, timeout=60, message="the batch was not stored")
    statuses = {status: stored.filter(status=status).count() for status in CheckStatus.values}
    assert statuses[CheckStatus.TIMEOUT] == 0, statuses
    assert statuses[CheckStatus.UP] == CHECKS, [r.reason for r in stored.exclude(status="up")]
