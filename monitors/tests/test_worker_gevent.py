"""Database calls in the gevent worker cooperate, and its connections are bounded and reused.

Runs a dedicated ``celery worker -P gevent`` on its own queue with a pool of 4 connections,
then sends 8 tasks that each hold a connection in ``pg_sleep(1.5)`` and, meanwhile, tasks
that need no database. Findings (see healthmon/celery.py and the DB section of settings.py):

- psycopg, imported after Celery's early gevent patching, waits cooperatively: the sleeps
  overlap (4 at a time) and the other tasks run while they are in flight. Imported before
  the patch it would use its C wait function and block every greenlet.
- the pool caps the worker at DB_POOL_MAX_SIZE server connections; tasks beyond that wait
  for a free one (up to DB_POOL_TIMEOUT) and reuse it rather than opening their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from conftest import wait_for
from healthmon.celery import app

ROOT = Path(__file__).resolve().parents[2]
POOL_SIZE = 4
SLEEP = 1.5

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def probe_worker(django_db_setup, django_db_blocker):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs CELERY_BROKER_URL pointing at Redis")
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    db = connection.settings_dict
    queue = f"probe-{os.getpid()}"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        DEBUG="true",
        DB_POOL_MAX_SIZE=str(POOL_SIZE),
        DB_POOL_MIN_SIZE="1",
        DB_POOL_TIMEOUT="20",
    )
    log_path = ROOT / "test-artifacts" / "celery-probe-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "healthmon", "worker", "-P", "gevent",
             "-c", "30", "-Q", queue, "--include", "monitors.tests.worker_probe",
             "--without-mingle", "--without-gossip", "-l", "info",
             "-n", f"probe-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(
                lambda: worker.poll() is not None or "ready." in log_path.read_text(), timeout=60
            )
            if worker.poll() is not None:
                pytest.fail(f"probe worker exited; see {log_path}")
            yield queue
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


def sleeping_backends() -> int:
    """Connections of the test database now inside the probe's pg_sleep (ours excluded)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%pg_sleep%'"
        )
        return cursor.fetchone()[0]


def test_database_calls_do_not_block_the_gevent_worker_and_use_a_bounded_pool(probe_worker):
    key = f"healthmon-probe-{uuid.uuid4().hex}"
    reports = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    for _ in range(8):
        app.send_task("probe.db_sleep", args=[key, SLEEP], queue=probe_worker)
    wait_for(lambda: sleeping_backends() > 0, timeout=20, message="no pg_sleep started")
    for _ in range(3):
        app.send_task("probe.tick", args=[key], queue=probe_worker)

    wait_for(lambda: reports.llen(key) >= 11, timeout=40, message="probe tasks did not finish")
    rows = [json.loads(raw) for raw in reports.lrange(key, 0, -1)]
    reports.delete(key)
    db = [row for row in rows if row["kind"] == "db"]
    ticks = [row for row in rows if row["kind"] == "tick"]

    # Cooperative: 8 sleeps of 1.5 s through 4 connections take ~2 waves, not 8 x 1.5 s.
    span = max(r["ended"] for r in db) - min(r["started"] for r in db)
    assert span < 8 * SLEEP / 2, f"database calls ran one at a time ({span:.1f}s)"
    # Not blocked: tasks without database work finished while the first sleeps were running.
    first_sleep_done = min(r["ended"] for r in db)
    assert all(t["at"] < first_sleep_done for t in ticks)
    # Bounded and reused: at most POOL_SIZE server connections served all 8 tasks.
    backends = {r["pid"] for r in db}
    assert len(backends) <= POOL_SIZE
