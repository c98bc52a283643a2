"""The real healthmon stack for a benchmark: its own database, a broker, and the processes
started with the project's own commands (Procfile), each in its own process group.

The benchmark never touches the database named in ``DATABASE_URL``: it creates and drops
``<that name>_<suffix>`` (e.g. ``healthmon_scale``) on the same server. Unless a broker URL
is given it starts a private ``redis-server`` on a free port, so its queues meet nobody
else's and its CPU time is its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.procs import Managed, ProcessSet, wait_for_log
from lib.encryption import development_key
from lib.outbound import METADATA_NETWORKS

ROOT = Path(__file__).resolve().parent.parent
# Every target, receiver and DNS stand-in of a benchmark is on 127.0.0.1: the stack runs as a
# single-user install does, with only cloud metadata blocked (the default blocks loopback).
BLOCKED_NETWORKS = ",".join(METADATA_NETWORKS)
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/healthmon"
QUEUES = ("checks", "incidents", "notifications")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(suffix: str, *, name: str | None = None) -> str:
    """``DATABASE_URL`` with the database renamed to ``name`` or ``<name>_<suffix>``."""
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(base)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench: DATABASE_URL must be PostgreSQL, not {parts.scheme or base!r}")
    current = parts.path.lstrip("/") or "healthmon"
    return urlunsplit(parts._replace(path="/" + (name or f"{current}_{suffix}")))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _maintenance_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    )


def recreate_database(url: str) -> None:
    """Drop (after ending its leftover sessions) and create the benchmark's database."""
    from psycopg import sql

    name = database_name(url)
    with _maintenance_connect(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def recreate_migrated_database(url: str) -> None:
    """Drop and create the benchmark's database, migrated, as a copy of a template
    (``<DATABASE_URL name>_bench_template``, kept between runs) that ``manage.py migrate``
    first brings up to this code's migrations: copying takes a second or two where running
    every migration takes 15-60 s on a busy machine. A template another branch migrated
    (unknown migrations) is rebuilt."""
    import subprocess

    from psycopg import sql

    template = database_url("bench_template")
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"]
    # migrate never talks to the broker; the URL is only read.
    env = child_env(template, os.environ.get("CELERY_BROKER_URL", "memory://"), pool_max=0)
    for attempt in range(2):
        if attempt or not database_exists(template):
            recreate_database(template)
        done = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode == 0:
            break
    else:
        raise RuntimeError(f"migrating {database_name(template)} failed: {done.stderr[-2000:]}")
    drop_database(url)
    with _maintenance_connect(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [database_name(template)],
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(database_name(url)), sql.Identifier(database_name(template))
            )
        )


def drop_database(url: str) -> None:
    from psycopg import sql

    name = database_name(url)
    with _maintenance_connect(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def database_exists(url: str) -> bool:
    with _maintenance_connect(url) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return row is not None


def configure_django(db_url: str, broker_url: str, **extra: str) -> None:
    """Point this process's Django at the benchmark database (no pool: few queries here);
    ``extra``: settings it must share with the children (e.g. what a monitor may be)."""
    os.environ.update(child_env(db_url, broker_url, pool_max=0, **extra))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
    import django

    django.setup()


def child_env(db_url: str, broker_url: str, *, pool_max: int = 8, **extra: str) -> dict:
    """The environment of every healthmon process: production mode, as deployed."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": broker_url,
            "DEBUG": "false",  # DEBUG=true would also record every SQL query in memory
            "SECRET_KEY": env.get("BENCH_SECRET_KEY") or _secret_key(),
            # One key for every process of the run (they share the database).
            "FIELD_ENCRYPTION_KEYS": development_key(env.get("BENCH_SECRET_KEY") or _secret_key()),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DB_POOL_MAX_SIZE": str(pool_max),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "BLOCKED_NETWORKS": BLOCKED_NETWORKS,
        }
    )
    env.update(extra)
    return env


_SECRET = None


def _secret_key() -> str:
    global _SECRET
    if _SECRET is None:
        _SECRET = secrets.token_urlsafe(48)
    return _SECRET


def start_redis(
    processes: ProcessSet, *, port: int | None = None, data_dir: Path | None = None
) -> str:
    """A private redis-server on a free port (or ``port``, to restart one): no persistence,
    like a broker cache, unless ``data_dir`` is given: then an append-only file fsynced on
    every write there, so a killed and restarted broker comes back with its queues."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench: redis-server is not installed; pass --broker-url redis://...")
    port = port or free_port()
    persistence = ["--appendonly", "no"]
    if data_dir is not None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data_dir)]
    managed = processes.start(
        "redis",
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence],
        env=dict(os.environ),
        cwd=ROOT,
    )
    wait_for_log(managed, "Ready to accept connections", timeout=20, processes=processes)
    return f"redis://127.0.0.1:{port}/0"


def purge_queues(broker_url: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url)
    client.delete(*QUEUES)


def queue_depths(client) -> dict[str, int]:
    return {queue: int(client.llen(queue)) for queue in QUEUES}


def celery_worker(
    processes: ProcessSet,
    name: str,
    *,
    queues: str,
    pool: str,
    concurrency: int,
    env: dict,
    log_level: str,
) -> Managed:
    """A worker as the Procfile starts one, on the given queues."""
    argv = [
        sys.executable, "-m", "celery", "-A", "healthmon", "worker",
        "-P", pool, "-c", str(concurrency), "-Q", queues,
        "-n", f"{name}-{os.getpid()}@%h", "-l", log_level,
    ]  # fmt: skip
    return processes.start(name, argv, env=env, cwd=ROOT)


def celery_beat(processes: ProcessSet, *, env: dict, log_level: str) -> Managed:
    argv = [sys.executable, "-m", "celery", "-A", "healthmon", "beat", "-l", log_level]
    return processes.start("beat", argv, env=env, cwd=ROOT)


def gunicorn(processes: ProcessSet, *, env: dict, port: int, workers: int = 2) -> Managed:
    env = {**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    argv = [
        str(Path(sys.executable).parent / "gunicorn"), "healthmon.wsgi",
        "-c", "deploy/gunicorn.conf.py",
    ]  # fmt: skip
    return processes.start("web", argv, env=env, cwd=ROOT)


@dataclass
class Healthmon:
    """The healthmon processes of a benchmark, started as the Procfile starts them."""

    beat: Managed
    events: Managed
    check_workers: list[Managed] = field(default_factory=list)
    web: Managed | None = None
    web_port: int | None = None

    @property
    def managed(self) -> list[Managed]:
        return [m for m in (self.web, self.events, *self.check_workers, self.beat) if m]


def start_healthmon(
    processes: ProcessSet,
    *,
    env: dict,
    log_level: str,
    check_workers: int = 1,
    check_concurrency: int = 100,
    events_concurrency: int = 10,
    web: bool = True,
) -> Healthmon:
    """Beat, ``check_workers`` gevent workers on ``checks``, one worker on
    ``incidents,notifications`` and (``web``) gunicorn; returns once all of them are ready."""
    beat = celery_beat(processes, env=env, log_level=log_level)
    events = celery_worker(
        processes, "events", queues="incidents,notifications", pool="gevent",
        concurrency=events_concurrency, env=env, log_level=log_level,
    )  # fmt: skip
    running = Healthmon(beat=beat, events=events)
    for _ in range(check_workers):
        add_check_worker(processes, running, env=env, log_level=log_level,
                         concurrency=check_concurrency, wait=False)  # fmt: skip
    if web:
        running.web_port = free_port()
        running.web = gunicorn(processes, env=env, port=running.web_port)
    for worker in (*running.check_workers, events):
        wait_for_log(worker, "ready.", timeout=90, processes=processes)
    if running.web_port is not None:
        wait_http(f"http://127.0.0.1:{running.web_port}/live", timeout=60, processes=processes)
    return running


def add_check_worker(
    processes: ProcessSet,
    running: Healthmon,
    *,
    env: dict,
    log_level: str,
    concurrency: int = 100,
    wait: bool = True,
) -> Managed:
    """One more gevent worker on ``checks`` (named checks, checks2, ...)."""
    number = len(running.check_workers) + 1
    worker = celery_worker(
        processes, "checks" if number == 1 else f"checks{number}", queues="checks",
        pool="gevent", concurrency=concurrency, env=env, log_level=log_level,
    )  # fmt: skip
    running.check_workers.append(worker)
    if wait:
        wait_for_log(worker, "ready.", timeout=90, processes=processes)
    return worker


def stop_healthmon(running: Healthmon, *, timeout: float = 20.0) -> None:
    """Warm shutdown of every process (SIGTERM to its group), waiting for each; what is left
    is killed by ``ProcessSet.stop_all``. Frees the CPU before a raw reference is measured."""
    for managed in running.managed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(managed.popen.pid, 15)
    for managed in running.managed:
        with contextlib.suppress(Exception):
            managed.popen.wait(timeout=timeout)


def wait_http(url: str, *, timeout: float, processes: ProcessSet) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s")


def start_target(
    processes: ProcessSet,
    *,
    latency_ms: float,
    jitter_ms: float,
    failure_rate: float,
    workers: int,
) -> tuple[Managed, int]:
    """Start bench.target and return it with its port (read from its READY line)."""
    import subprocess

    argv = [
        sys.executable, "-m", "bench.target", "--port", "0",
        "--processes", str(workers), "--latency-ms", str(latency_ms),
        "--jitter-ms", str(jitter_ms), "--failure-rate", str(failure_rate),
    ]  # fmt: skip
    managed = processes.start("target", argv, env=dict(os.environ), cwd=ROOT,
                              stdout=subprocess.PIPE)  # fmt: skip
    line = managed.popen.stdout.readline().decode()
    if not line.startswith("READY port="):
        processes.check_alive()
        raise RuntimeError(f"bench.target did not start: {line!r}")
    return managed, int(line.split("=", 1)[1])
