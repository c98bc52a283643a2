"""Fixtures shared by every app's tests: API clients, users and teams, a real Celery worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Membership, Role, Team, User
from accounts.services import team_create, user_register
from lib.outbound import METADATA_NETWORKS

# ci_skips: under CI=true a skipped test fails the run; pytester: tests of that plugin.
pytest_plugins = ["ci_skips", "pytester"]

ROOT = Path(__file__).resolve().parent
PASSWORD = "correct-horse-battery-staple-42"  # noqa: S105

# The default BLOCKED_NETWORKS blocks loopback, and every target and receiver in the tests is
# on 127.0.0.1: the suite runs as a single-user install does (metadata blocked), plus
# 127.0.0.2, the blocked address the guard tests aim at (a server can bind it). Set for this
# process's settings below, and in the environment, which every process a test starts
# inherits (the Celery worker, `make run`'s processes, the bench).
TEST_BLOCKED_NETWORKS = [*METADATA_NETWORKS, "127.0.0.2/32"]
BLOCKED_ADDRESS = "127.0.0.2"
os.environ["BLOCKED_NETWORKS"] = ",".join(TEST_BLOCKED_NETWORKS)


@pytest.fixture(autouse=True)
def _test_blocked_networks(settings) -> None:
    # Settings were read before this file was imported; the environment above is too late.
    settings.BLOCKED_NETWORKS = TEST_BLOCKED_NETWORKS


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Every test creates users; PBKDF2's deliberate slowness (about a second per user on
    # this machine) is not what any test is about. Production keeps Django's default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Throttle counters live in the cache; each test starts with a clean slate.
    cache.clear()


def make_user(email: str) -> User:
    return user_register(email=email, password=PASSWORD, full_name=email.split("@")[0].title())


def client_for(user: User) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def alice(db) -> User:
    return make_user("alice@example.com")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob@example.com")


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob: User) -> APIClient:
    return client_for(bob)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def shared_team(alice: User, bob: User):
    """A team owned by alice; ``add(user, role)`` adds members."""
    team = team_create(owner=alice, name="Platform")

    def add(user: User, role: str) -> Membership:
        return Membership.objects.create(team=team, user=user, role=role)

    team.add = add
    return team


@pytest.fixture
def make_member(alice: User):
    """Make a user holding ``role`` in alice's shared team; returns (team, user, client)."""

    def make(role: str, email: str | None = None) -> tuple[Team, User, APIClient]:
        team = Team.objects.filter(memberships__user=alice, personal_owner=None).first()
        if team is None:
            team = team_create(owner=alice, name="Platform")
        user = make_user(email or f"{role}@example.com")
        if role != Role.OWNER or not team.memberships.filter(user=user).exists():
            Membership.objects.create(team=team, user=user, role=role)
        return team, user, client_for(user)

    return make


# --- A real Celery worker ------------------------------------------------------------------


def _purge_queues(broker_url: str) -> None:
    from healthmon.celery import app

    with app.connection_for_write(broker_url) as conn:
        for queue in ("checks", "incidents", "notifications"):
            conn.default_channel.queue_declare(queue=queue, durable=True)
            conn.default_channel.queue_purge(queue)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real ``celery worker -P gevent`` on all queues, against the test database.

    Tests using it must commit their data (``transactional_db``), since the worker is
    another process. Queues are purged first so stale messages from other runs do not leak.
    """
    from django.conf import settings
    from django.db import connection

    broker = settings.CELERY_BROKER_URL
    if broker.startswith("filesystem://"):
        pytest.skip("worker tests need CELERY_BROKER_URL pointing at Redis")
    db = connection.settings_dict
    if connection.vendor != "postgresql":  # ENGINE is django-prometheus' wrapper
        pytest.skip("worker tests need DATABASE_URL pointing at PostgreSQL")
    _purge_queues(broker)
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            ),
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
            "DB_POOL_MAX_SIZE": env.get("DB_POOL_MAX_SIZE", "10"),
            "BLOCKED_NETWORKS": ",".join(TEST_BLOCKED_NETWORKS),
        }
    )
    # Production's JSON log lines (tests look for request ids in them) and a fresh
    # prometheus_client multiprocess directory, so a test's /metrics scrape can show the
    # worker's counters (healthmon/tests). TEST_WORKER_LOG keeps concurrent runs apart.
    env.setdefault("LOG_FORMAT", "json")
    # Delivery retries back off 0-1 s and give up after 4 retries, so the retry and
    # dead-letter tests (notifications/tests/test_worker.py) take seconds, not hours.
    env.setdefault("NOTIFY_RETRY_BACKOFF", "1")
    env.setdefault("NOTIFY_RETRY_BACKOFF_MAX", "1")
    env.setdefault("NOTIFY_MAX_RETRIES", "4")
    # A later event of an incident waiting for an earlier one looks again every second.
    env.setdefault("NOTIFY_ORDER_RECHECK", "1")
    metrics_dir = ROOT / "test-artifacts" / f"prometheus-{os.getpid()}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    default_log = ROOT / "test-artifacts" / "celery-worker.log"
    log_path = Path(os.environ.get("TEST_WORKER_LOG") or default_log)
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "healthmon",
            "worker",
            "-P",
            "gevent",
            "-c",
            "50",
            "-Q",
            "checks,incidents,notifications",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited; see {log_path}")
        if "ready." in log_path.read_text():
            break
        time.sleep(0.2)
    else:
        worker.kill()
        raise RuntimeError(f"celery worker did not become ready; see {log_path}")
    worker.log_path = log_path
    worker.metrics_dir = metrics_dir
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()
    shutil.rmtree(metrics_dir, ignore_errors=True)


# Events that end one run of a task; a retry ends a run and its new message was sent before.
TASK_RUN_ENDS = {"task-succeeded", "task-failed", "task-retried", "task-rejected", "task-revoked"}


class TaskLedger:
    """Celery's task events (settings send them from the worker and from every producer),
    counted per task id, so a test can wait until every task it caused has run to its end,
    retries and countdowns included, instead of sleeping and hoping that was long enough.

    A task counts as outstanding from its ``task-sent`` (a retry sends a new one before its
    ``task-retried``) until an event in ``TASK_RUN_ENDS``.
    """

    def __init__(self) -> None:
        from healthmon.celery import app

        self._app = app
        self._lock = threading.Lock()
        self._outstanding: Counter[str] = Counter()
        self._markers: set[str] = set()
        self._receiver = None

    def _on_event(self, event: dict) -> None:
        with self._lock:
            if event["type"] == "task-sent":
                self._outstanding[event["uuid"]] += 1
            elif event["type"] in TASK_RUN_ENDS:
                # Not below zero: a task sent before we listened ends without being counted.
                self._outstanding[event["uuid"]] = max(0, self._outstanding[event["uuid"]] - 1)
            elif event["type"] == "test-marker":
                self._markers.add(event["marker"])

    def run(self) -> None:
        with self._app.connection_for_read() as connection:
            self._receiver = self._app.events.Receiver(connection, handlers={"*": self._on_event})
            self._receiver.capture(wakeup=False)

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True

    def catch_up(self) -> None:
        """Return once every event published before this call has been counted.

        Events reach the broker in the order they were published, so once a marker sent now
        comes back, so have they. Before the receiver listens, markers are lost: send again.
        """
        marker = uuid.uuid4().hex
        with self._app.connection_for_write() as connection:
            dispatcher = self._app.events.Dispatcher(connection)

            def sent_back() -> bool:
                dispatcher.send("test-marker", marker=marker)
                with self._lock:
                    return marker in self._markers

            wait_for(sent_back, timeout=10, message="no Celery event came back")

    def outstanding(self) -> int:
        with self._lock:
            return sum(self._outstanding.values())

    def wait_until_settled(self, *, timeout: float = 30) -> None:
        """Return once every task sent so far, and every task those sent, has finished."""
        self.catch_up()
        wait_for(
            lambda: self.outstanding() == 0,
            timeout=timeout,
            message=f"{self.outstanding()} Celery task(s) still outstanding",
        )


@pytest.fixture
def task_ledger(celery_worker_process) -> Iterator[TaskLedger]:
    ledger = TaskLedger()
    thread = threading.Thread(target=ledger.run, daemon=True)
    thread.start()
    ledger.catch_up()  # listening now: no task the test sends can go unseen
    yield ledger
    ledger.stop()
    thread.join(timeout=5)


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.1, message: str = ""):
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(message or f"condition not met within {timeout}s")
