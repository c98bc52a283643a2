"""Scale benchmark: N monitors at an interval against a local target, the whole stack real.

    python -m bench.scale --monitors 10000 --interval 30 --window 180

What it does, in order:

1. Creates its own database (``<DATABASE_URL name>_scale``), migrates it, and starts a
   private redis-server (or uses ``--broker-url``).
2. Starts ``bench.target`` (configurable latency and failure rate) and a webhook receiver.
3. Seeds a user, N monitors pointing at distinct target paths (``/m/<i>``; ``--flip``
   of them at ``/flip/<i>``) and one webhook channel to the receiver on every monitor.
4. Starts the processes as the Procfile does: celery beat, a gevent worker on ``checks``,
   a worker on ``incidents,notifications``, gunicorn.
5. Spreads the monitors' first checks evenly over one interval, waits ``--warmup`` seconds,
   then measures a window of ``--window`` seconds: CPU and peak RSS of every process (plus
   PostgreSQL's processes for this database and redis-server) and the queue depths. Early in
   the window the target flips the ``/flip/`` paths to failing (later back), and the
   receiver notes when the alerts arrive.
6. Stops the stack and measures the raw HTTP client ceiling against the same target.
7. Computes the figures from the database and prints them; ``--json`` writes them too.

Figures: checks completed per second vs N / interval; dropped (scheduled slots in the window
with no result); schedule lag (checked_at - scheduled_for) p50/p95/p99; down -> alert time;
CPU and peak RSS per process; CPU ms per check; database growth per million checks; the
client ceiling.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import procs, stack
from bench.procs import Group, ProcessSet
from bench.receiver import WebhookReceiver

TARGET_CPU_MS_PER_CHECK = 2.6
DNS_ZONE = "bench.test"
DNS_SERVER = "127.0.0.2"
TARGET_P99_LAG_S = 2.0
CHECK_WORKERS = "worker checks"  # the process group of the check worker(s)
# After a window, how long its last checks may take to be stored beyond their own timeout:
# the dispatcher's lookahead (2 s), the start slot and the batch's store.
SETTLE_SECONDS = 5.0


@dataclass
class Options:
    monitors: int
    interval: int
    window: float
    warmup: float
    flip: int
    failure_threshold: int
    success_threshold: int
    latency_ms: float
    jitter_ms: float
    failure_rate: float
    target_processes: int
    check_concurrency: int
    events_concurrency: int
    log_level: str
    db_name: str | None
    broker_url: str | None
    ceiling_seconds: float
    ceiling_concurrency: int
    json_path: str | None
    out_dir: str
    keep_database: bool
    profile: list[str] = field(default_factory=list)
    dns: bool = False
    check_workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--monitors", type=int, default=10_000, help="N monitors (default 10000)")
    add("--interval", type=int, default=30, help="seconds between checks of each monitor")
    add("--window", type=float, default=180, help="measured seconds (default 180)")
    add(
        "--warmup", type=float, default=None, help="seconds before the window (default: 1 interval)"
    )
    add("--flip", type=int, default=None, help="monitors flipped down to time alerts (default 10)")
    add("--failure-threshold", type=int, default=2)
    add("--success-threshold", type=int, default=1)
    add("--latency-ms", type=float, default=5.0, help="target's response delay")
    add("--jitter-ms", type=float, default=2.0, help="+/- around the delay")
    add("--failure-rate", type=float, default=0.0, help="0..1 of checks answered 500")
    add("--target-processes", type=int, default=1)
    add("--check-concurrency", type=int, default=100, help="gevent pool of the check worker")
    add("--check-workers", type=int, default=1, help="check worker processes (default 1)")
    add("--events-concurrency", type=int, default=10, help="pool of incidents+notifications")
    add("--log-level", default="info")
    add("--db-name", default=None, help="database to (re)create (default <DATABASE_URL>_scale)")
    add("--broker-url", default=None, help="use this Redis instead of a private redis-server")
    add("--ceiling-seconds", type=float, default=10.0, help="0 skips the client ceiling")
    add("--ceiling-concurrency", type=int, default=100)
    add("--json", dest="json_path", default=None, help="also write the figures here")
    add("--out-dir", default=str(stack.ROOT / "bench" / "out"), help="logs go here")
    add("--keep-database", action="store_true", help="don't drop the database at the end")
    add("--profile", default="", metavar="NAMES",
        help="py-spy record these processes during the window: checks,events,beat,web")  # fmt: skip
    add("--dns", action="store_true",
        help="a host name per monitor (m<i>.bench.test), resolved by a real DNS query each "
        "check against bench.dns on 127.0.0.2:53 (needs root)")  # fmt: skip
    add("--env", action="append", default=[], metavar="NAME=VALUE",
        help="extra environment for the healthmon processes (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.monitors < 1 or args.interval < 1 or args.window <= 0:
        parser.error("--monitors, --interval and --window must be positive")
    extra = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env {item!r}: expected NAME=VALUE")
        extra[name] = value
    return Options(
        monitors=args.monitors,
        interval=args.interval,
        window=args.window,
        warmup=args.warmup if args.warmup is not None else float(args.interval),
        flip=min(args.flip if args.flip is not None else 10, args.monitors),
        failure_threshold=args.failure_threshold,
        success_threshold=args.success_threshold,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        failure_rate=args.failure_rate,
        target_processes=args.target_processes,
        check_concurrency=args.check_concurrency,
        events_concurrency=args.events_concurrency,
        log_level=args.log_level,
        db_name=args.db_name,
        broker_url=args.broker_url,
        ceiling_seconds=args.ceiling_seconds,
        ceiling_concurrency=args.ceiling_concurrency,
        json_path=args.json_path,
        out_dir=args.out_dir,
        keep_database=args.keep_database,
        profile=[name for name in args.profile.split(",") if name],
        dns=args.dns,
        check_workers=max(1, args.check_workers),
        extra_env=extra,
    )


# --- Seeding --------------------------------------------------------------------------------


def seed(options: Options, *, target_port: int, receiver_url: str) -> tuple[list[int], list[int]]:
    """Create the user, monitors (unscheduled) and webhook channel; return (ids, flip ids)."""
    from accounts.services import user_register
    from monitors.models import Monitor
    from notifications.models import Channel
    from notifications.services import channel_create

    user = user_register(email="bench@example.com", password=secrets.token_urlsafe(16))
    team = user.personal_team
    host = "127.0.0.1"
    # Flipped monitors evenly over the schedule's phases, so their alert times range from
    # "flipped just before its check" to "just after" (the worst case the bound is about).
    flipped = {i * options.monitors // options.flip for i in range(options.flip)}
    monitors = []
    for index in range(options.monitors):
        path = f"/flip/{index}" if index in flipped else f"/m/{index}"
        base = f"http://{f'm{index}.{DNS_ZONE}' if options.dns else host}:{target_port}"
        monitors.append(
            Monitor(
                team=team,
                name=f"bench {index:05d}",
                url=f"{base}{path}",
                interval=options.interval,
                timeout=min(10.0, max(1.0, options.interval - 1)),
                failure_threshold=options.failure_threshold,
                success_threshold=options.success_threshold,
                # Paused until the stack is up: schedule() activates them with deadlines.
                is_active=False,
            )
        )
    Monitor.objects.bulk_create(monitors, batch_size=2000)
    ids = sorted(m.id for m in monitors)
    flip_ids = [m.id for index, m in enumerate(monitors) if index in flipped]
    channel = channel_create(
        team=team, name="bench receiver", kind="webhook", config={"url": receiver_url}
    )
    through = Channel.monitors.through
    through.objects.bulk_create(
        [through(channel_id=channel.id, monitor_id=monitor_id) for monitor_id in ids],
        batch_size=5000,
    )
    return ids, flip_ids


def schedule(ids: list[int], *, interval: int, start: datetime) -> None:
    """Activate ``ids`` with first checks evenly over one interval from ``start``: the
    monitor of rank r (by id) at r/N. Rows are locked in id order, as the check worker's
    store does (monitors.results), so scheduling while a worker stores cannot deadlock."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH locked AS (
                SELECT id FROM monitors_monitor WHERE id = ANY(%s) ORDER BY id FOR UPDATE),
                 ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM locked)
            UPDATE monitors_monitor m SET is_active = true, next_check_at = %s + make_interval(
                secs => (ranked.rank - 1) * %s::float8 / %s)
            FROM ranked WHERE m.id = ranked.id
            """,
            [list(ids), start, interval, len(ids)],
        )


def unschedule(ids: list[int]) -> None:
    """Pause ``ids`` again (their queued checks are skipped by the worker); locked in id
    order like ``schedule``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE monitors_monitor SET is_active = false WHERE id IN (SELECT id FROM "
            "monitors_monitor WHERE id = ANY(%s) ORDER BY id FOR UPDATE)",
            [list(ids)],
        )


def expected_slots(count: int, *, interval: int, start: float, t0: float, t1: float) -> int:
    """Scheduled checks falling in [t0, t1) for ``count`` monitors phased as schedule() does."""
    total = 0
    for rank in range(count):
        first = start + rank * interval / count
        k_min = max(0, math.ceil((t0 - first) / interval))
        k_max = math.ceil((t1 - first) / interval) - 1
        total += max(0, k_max - k_min + 1)
    return total


# --- Measuring ------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Samples the process groups and queue depths about once a second."""

    def __init__(self, groups: list[Group], broker_url: str) -> None:
        super().__init__(daemon=True)
        import redis

        self.groups = groups
        self.redis = redis.Redis.from_url(broker_url)
        self.in_window = False
        self.stopped = threading.Event()
        self.depths: dict[str, list[int]] = {queue: [] for queue in stack.QUEUES}
        self.lock = threading.Lock()

    def start_window(self) -> None:
        with self.lock:
            boot_ticks = procs.uptime_ticks()
            for group in self.groups:
                group.start_window(boot_ticks)
            self.in_window = True

    def end_window(self) -> None:
        with self.lock:
            self.sample()
            self.in_window = False

    def sample(self) -> None:
        for group in self.groups:
            group.sample(in_window=self.in_window)
        if self.in_window:
            for queue, depth in stack.queue_depths(self.redis).items():
                self.depths[queue].append(depth)

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            with self.lock:
                self.sample()


def start_dns(processes: ProcessSet):
    import subprocess

    argv = [sys.executable, "-m", "bench.dns", "--address", DNS_SERVER]
    managed = processes.start("dns", argv, env=dict(os.environ), cwd=stack.ROOT,
                              stdout=subprocess.PIPE)  # fmt: skip
    line = managed.popen.stdout.readline().decode()
    if not line.startswith("READY"):
        processes.check_alive()
        raise SystemExit(f"bench.dns did not start (port 53 needs root): {line!r}")
    return managed


def postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    stat = procs.read_stat(backend)
    if stat is None:
        raise RuntimeError("PostgreSQL runs elsewhere: its processes cannot be measured here")
    return stat.ppid


def redis_pids(broker_url: str) -> set[int]:
    from urllib.parse import urlsplit

    port = urlsplit(broker_url).port or 6379
    found = set()
    for pid in procs.all_pids():
        line = procs.cmdline(pid)
        program = Path(line.split(" ", 1)[0]).name
        if program == "redis-server" and (f":{port}" in line or f"--port {port}" in line):
            found.add(pid)
    return found


def process_groups(
    running: stack.Healthmon, *, db_url: str, broker_url: str, extra: Sequence[Group] = ()
) -> list[Group]:
    """What a run measures: each healthmon process (tree), PostgreSQL's processes for the
    benchmark's database and the broker; ``extra`` (targets) after them, usually uncounted.
    The check workers are read when sampled, so a worker added later is counted."""
    postmaster = postmaster_pid()
    database = stack.database_name(db_url)
    groups = []
    if running.web is not None:
        web = running.web
        groups.append(Group("web (gunicorn)", lambda: procs.process_tree(web.popen.pid)))
    groups += [
        Group("beat", lambda: procs.process_tree(running.beat.popen.pid)),
        Group(
            CHECK_WORKERS,
            lambda: set().union(*(procs.process_tree(w.popen.pid) for w in running.check_workers)),
        ),
        Group("worker incidents+notif.", lambda: procs.process_tree(running.events.popen.pid)),
        Group("postgresql", lambda: procs.postgres_pids(postmaster, database)),
        Group("redis", lambda: redis_pids(broker_url)),
        *extra,
    ]
    return groups


def database_sizes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('monitors_checkresult'), "
            "pg_database_size(current_database()), (SELECT count(*) FROM monitors_checkresult)"
        )
        results_bytes, database_bytes, rows = cursor.fetchone()
    return {"results_bytes": results_bytes, "database_bytes": database_bytes, "rows": rows}


def check_figures(t0: datetime, t1: datetime) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(DISTINCT (monitor_id, scheduled_for)),
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                       ORDER BY extract(epoch FROM checked_at - scheduled_for)),
                   max(extract(epoch FROM checked_at - scheduled_for)),
                   count(*) FILTER (WHERE status <> 'up')
            FROM monitors_checkresult WHERE scheduled_for >= %s AND scheduled_for < %s
            """,
            [t0, t1],
        )
        done, distinct, lags, lag_max, failed = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM monitors_checkresult WHERE checked_at >= %s AND checked_at < %s",
            [t0, t1],
        )
        completed_in_window = cursor.fetchone()[0]
    lags = lags or [None, None, None]
    return {
        "results_for_window_slots": done,
        "distinct_slots": distinct,
        "duplicates": done - distinct,
        "failed_checks": failed,
        "completed_in_window": completed_in_window,
        "lag_p50_s": _round(lags[0]),
        "lag_p95_s": _round(lags[1]),
        "lag_p99_s": _round(lags[2]),
        "lag_max_s": _round(lag_max),
    }


def wait_for_slots(t0: datetime, t1: datetime, expected: int, *, at_most: float) -> None:
    """Until every check scheduled in [t0, t1) is stored, or ``at_most`` seconds: a batch
    holds checks due up to the dispatcher's lookahead (2 s) apart and stores them together,
    so the window's last results arrive a few seconds after it ends."""
    from django.db import connection

    deadline = time.monotonic() + at_most
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(DISTINCT (monitor_id, scheduled_for)) FROM monitors_checkresult "
                "WHERE scheduled_for >= %s AND scheduled_for < %s",
                [t0, t1],
            )
            if cursor.fetchone()[0] >= expected:
                return
        time.sleep(0.5)


def _round(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


def log_counts(path: Path) -> dict[str, int]:
    text = path.read_text(errors="replace") if path.exists() else ""
    respread = sum(int(n) for n in re.findall(r"re-spread (\d+) monitors", text))
    return {
        "expired_messages": len(re.findall(r"expired", text, flags=re.IGNORECASE)),
        "respread_monitors": respread,
        "errors": len(re.findall(r"\bERROR\b|Traceback", text)),
    }


def alert_delays(
    alerts, *, monitor_ids: list[int], event: str, since: float | None
) -> list[float | None]:
    """Per monitor: seconds from ``since`` to its first ``event`` alert after it (None: none)."""
    if since is None:
        return []
    first: dict[int, float] = {}
    for alert in alerts:
        if alert.event == event and alert.received_at >= since and alert.monitor_id is not None:
            first.setdefault(alert.monitor_id, alert.received_at - since)
    return [first.get(monitor_id) for monitor_id in monitor_ids]


def run_ceiling(port: int, options: Options, log_dir: Path) -> dict | None:
    if options.ceiling_seconds <= 0:
        return None
    return raw_reference(
        ["--url", f"http://127.0.0.1:{port}/m/ceiling-"],
        seconds=options.ceiling_seconds,
        concurrency=options.ceiling_concurrency,
        log_path=log_dir / "ceiling.log",
    )


def raw_reference(args: list[str], *, seconds: float, concurrency: int, log_path: Path) -> dict:
    """Run ``bench.ceiling`` (the raw client of a protocol, HTTP unless ``args`` name
    another ``--kind``) in its own process; its JSON line, or ``{"error": ...}``."""
    import subprocess

    completed = subprocess.run(
        [sys.executable, "-m", "bench.ceiling", *args,
         "--concurrency", str(concurrency), "--seconds", str(seconds)],
        cwd=stack.ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )  # fmt: skip
    log_path.write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def start_profilers(managed: dict, options: Options, log_dir: Path) -> dict:
    """``py-spy record`` (raw collapsed stacks) on the chosen processes for the window."""
    import shutil
    import subprocess

    if not options.profile:
        return {}
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    started = {}
    for name in options.profile:
        if name not in managed:
            raise SystemExit(f"--profile: unknown process {name!r} (checks, events, beat, web)")
        output = log_dir / f"profile-{name}.txt"
        argv = [
            py_spy, "record", "--format", "raw", "--rate", "100", "--subprocesses",
            "--duration", str(int(options.window)), "--output", str(output),
            "--pid", str(managed[name].popen.pid), "--nonblocking",
        ]  # fmt: skip
        started[name] = (subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.STDOUT), output)  # fmt: skip
    return started


def finish_profilers(profilers: dict) -> dict:
    import subprocess

    paths = {}
    for name, (popen, output) in profilers.items():
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            popen.kill()
        paths[name] = str(output)
    return paths


# --- The run --------------------------------------------------------------------------------


def run(options: Options) -> dict:
    started_wall = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = Path(options.out_dir) / f"scale-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("scale", name=options.db_name)
    processes = ProcessSet(log_dir)
    receiver = WebhookReceiver().start()
    figures: dict = {
        "command": "python -m bench.scale " + " ".join(sys.argv[1:]),
        "monitors": options.monitors,
        "interval_s": options.interval,
        "window_s": options.window,
        "load_average_before": procs.load_average(),
        "logs": str(log_dir),
    }
    try:
        _say(f"database {stack.database_name(db_url)}: create and migrate")
        stack.recreate_migrated_database(db_url)
        broker_url = options.broker_url or stack.start_redis(processes)
        stack.purge_queues(broker_url)
        stack.configure_django(db_url, broker_url)

        target, target_port = stack.start_target(
            processes,
            latency_ms=options.latency_ms,
            jitter_ms=options.jitter_ms,
            failure_rate=options.failure_rate,
            workers=options.target_processes,
        )
        dns = start_dns(processes) if options.dns else None
        seeding = time.monotonic()
        ids, flip_ids = seed(options, target_port=target_port, receiver_url=receiver.url)
        _say(f"seeded {len(ids)} monitors in {time.monotonic() - seeding:.1f}s")

        prom_dir = log_dir / "prometheus"
        prom_dir.mkdir()
        env = stack.child_env(
            db_url,
            broker_url,
            LOG_LEVEL=options.log_level.upper(),
            PROMETHEUS_MULTIPROC_DIR=str(prom_dir),
            MONITOR_MIN_INTERVAL=str(min(30, options.interval)),
            **({"GEVENT_RESOLVER": "ares", "GEVENTARES_SERVERS": DNS_SERVER} if dns else {}),
            **options.extra_env,
        )
        running = stack.start_healthmon(
            processes,
            env=env,
            log_level=options.log_level,
            check_workers=options.check_workers,
            check_concurrency=options.check_concurrency,
            events_concurrency=options.events_concurrency,
        )
        checks, events, beat, web = (
            running.check_workers[0], running.events, running.beat, running.web
        )  # fmt: skip
        _say("stack is up")

        extra_groups = [
            Group(
                "target (not counted)", lambda: procs.process_tree(target.popen.pid), counted=False
            )
        ]
        if dns is not None:
            extra_groups.append(
                Group("dns server (not counted)", lambda: {dns.popen.pid}, counted=False)
            )
        groups = process_groups(running, db_url=db_url, broker_url=broker_url,
                                extra=extra_groups)  # fmt: skip
        sampler = Sampler(groups, broker_url)
        sampler.start()

        from django.utils import timezone

        start = timezone.now() + timedelta(seconds=1)
        schedule(ids, interval=options.interval, start=start)
        t0 = start + timedelta(seconds=options.warmup)
        t1 = t0 + timedelta(seconds=options.window)
        _say(
            f"{options.monitors} monitors every {options.interval}s from {start:%H:%M:%S}; "
            f"window {t0:%H:%M:%S}-{t1:%H:%M:%S}"
        )
        _sleep_until(t0, processes)
        sampler.start_window()
        profilers = start_profilers(
            {"checks": checks, "events": events, "beat": beat, "web": web},
            options,
            log_dir,
        )
        sizes_before = database_sizes()
        figures["load_average_window_start"] = procs.load_average()

        bound_open = options.failure_threshold * options.interval + 5
        bound_resolve = options.success_threshold * options.interval + 5
        flip_down_at = t0 + timedelta(seconds=min(10.0, options.window / 10))
        flip_up_at = flip_down_at + timedelta(seconds=bound_open + 5)
        measure_resolve = flip_up_at + timedelta(seconds=bound_resolve) <= t1
        down_wall = up_wall = None
        if flip_ids:
            _sleep_until(flip_down_at, processes)
            down_wall = _control(target_port, "down")
            if measure_resolve:
                _sleep_until(flip_up_at, processes)
                up_wall = _control(target_port, "up")
        _sleep_until(t1, processes)
        sampler.end_window()
        figures["load_average_window_end"] = procs.load_average()
        figures["profiles"] = finish_profilers(profilers)
        _say("window over; waiting for the last checks and alerts")

        # Let checks scheduled just before t1 finish, and the flip's alerts arrive.
        grace_until = time.time() + 5 + options.latency_ms / 1000
        if down_wall is not None:
            alerts_due = (up_wall or down_wall) + (bound_resolve if up_wall else bound_open) + 5
            grace_until = max(grace_until, alerts_due)
        while time.time() < grace_until:
            opened = alert_delays(
                receiver.alerts(), monitor_ids=flip_ids, event="incident.opened", since=down_wall
            )
            resolved = alert_delays(
                receiver.alerts(), monitor_ids=flip_ids, event="incident.resolved", since=up_wall
            )
            if time.time() > t1.timestamp() + 5 and all(d is not None for d in opened + resolved):
                break
            processes.check_alive()
            time.sleep(0.5)
        sizes_after = database_sizes()
        sampler.stopped.set()
        sampler.join()

        figures.update(check_figures(t0, t1))
        figures.update(_throughput(options, figures, start=start.timestamp(), t0=t0, t1=t1))
        figures["log"] = {
            name: log_counts(log_dir / f"{name}.log") for name in ("checks", "events", "beat")
        }
        figures["dropped_checks"] = max(0, figures["expected_checks"] - figures["distinct_slots"])
        figures["queue_depth_max"] = {q: max(d, default=0) for q, d in sampler.depths.items()}
        figures["queue_depth_mean"] = {
            q: round(statistics.fmean(d), 1) if d else 0 for q, d in sampler.depths.items()
        }
        figures["alerts"] = _alert_figures(
            receiver.alerts(), flip_ids, down_wall, up_wall, bound_open, bound_resolve
        )
        figures.update(_cpu_figures(groups, options.window, figures["completed_in_window"]))
        rows = sizes_after["rows"] - sizes_before["rows"]
        figures["database"] = {
            "result_rows_added": rows,
            "results_mib_per_million_checks": _per_million(
                sizes_after["results_bytes"] - sizes_before["results_bytes"], rows
            ),
            "database_mib_per_million_checks": _per_million(
                sizes_after["database_bytes"] - sizes_before["database_bytes"], rows
            ),
        }

        _say("stopping the stack; measuring the raw HTTP client ceiling")
        stack.stop_healthmon(running)
        figures["ceiling"] = run_ceiling(target_port, options, log_dir)
        figures["load_average_after"] = procs.load_average()
    finally:
        processes.stop_all()
        receiver.stop()
        if not options.keep_database:
            _drop_database(db_url)
    figures["total_seconds"] = round(time.time() - started_wall, 1)
    ceiling = figures.get("ceiling")
    if ceiling and ceiling.get("per_second"):
        ceiling["healthmon_share"] = round(figures["checks_per_second"] / ceiling["per_second"], 3)
        worker = next(row for row in figures["processes"] if row["name"] == CHECK_WORKERS)
        if worker["cpu_ms_per_check"]:
            # What one check worker could do on one core, as a multiple of the raw client.
            capacity = 1000 / worker["cpu_ms_per_check"]
            ceiling["worker_checks_per_core_second"] = round(capacity)
            ceiling["worker_capacity_ratio"] = round(capacity / ceiling["per_second"], 2)
    return figures


def _throughput(options: Options, figures: dict, *, start: float, t0, t1) -> dict:
    expected = expected_slots(
        options.monitors, interval=options.interval, start=start,
        t0=t0.timestamp(), t1=t1.timestamp(),
    )  # fmt: skip
    return {
        "expected_checks": expected,
        "expected_per_second": round(options.monitors / options.interval, 2),
        "checks_per_second": round(figures["completed_in_window"] / options.window, 2),
    }


def _alert_figures(alerts, flip_ids, down_wall, up_wall, bound_open, bound_resolve) -> dict:
    result = {"flipped_monitors": len(flip_ids), "alerts_received": len(alerts)}
    for name, event, since, bound in (
        ("down_to_alert", "incident.opened", down_wall, bound_open),
        ("up_to_alert", "incident.resolved", up_wall, bound_resolve),
    ):
        delays = alert_delays(alerts, monitor_ids=flip_ids, event=event, since=since)
        arrived = [d for d in delays if d is not None]
        result[name] = {
            "measured": since is not None,
            "bound_s": bound,
            "arrived": len(arrived),
            "missing": len(delays) - len(arrived),
            "median_s": _round(statistics.median(arrived), 1) if arrived else None,
            "max_s": _round(max(arrived), 1) if arrived else None,
            "met": bool(delays) and not (len(delays) - len(arrived)) and max(arrived) <= bound,
        }
    return result


def _cpu_figures(groups: list[Group], window: float, checks: int) -> dict:
    rows = []
    total = 0.0
    for group in groups:
        cpu = group.cpu_seconds
        if group.counted:
            total += cpu
        rows.append(
            {
                "name": group.name,
                "processes": group.processes,
                "cpu_s": round(cpu, 2),
                "cpu_percent_of_one_core": round(cpu / window * 100, 1),
                "cpu_ms_per_check": round(cpu * 1000 / checks, 3) if checks else None,
                "peak_rss_mib": round(group.peak_rss_mib, 1),
                "counted": group.counted,
            }
        )
    return {
        "processes": rows,
        "cpu_s_total": round(total, 2),
        "cpu_ms_per_check": round(total * 1000 / checks, 3) if checks else None,
    }


def _per_million(delta_bytes: int, rows: int) -> float | None:
    return round(delta_bytes / rows * 1e6 / 2**20, 1) if rows > 0 else None


def _control(port: int, action: str) -> float:
    moment = time.time()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_control/{action}", timeout=5):
        pass
    return moment


def _sleep_until(moment: datetime, processes: ProcessSet) -> None:
    while True:
        remaining = moment.timestamp() - time.time()
        if remaining <= 0:
            return
        processes.check_alive()
        time.sleep(min(1.0, remaining))


def _drop_database(db_url: str) -> None:
    from django.conf import settings

    if settings.configured:
        from django.db import connections

        connections.close_all()
    try:
        stack.drop_database(db_url)
    except Exception as exc:
        _say(f"could not drop {stack.database_name(db_url)}: {exc}")


def _say(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- Report ---------------------------------------------------------------------------------


def format_report(f: dict) -> str:
    lines = []
    add = lines.append
    add("")
    add(
        f"healthmon scale benchmark: {f['monitors']} monitors every {f['interval_s']} s, "
        f"window {f['window_s']:g} s"
    )
    add(f"  command: {f['command']}")
    add(
        f"  load average: before {f['load_average_before']}, window "
        f"{f.get('load_average_window_start')} -> {f.get('load_average_window_end')}"
    )
    add("")
    share = f["checks_per_second"] / f["expected_per_second"] * 100
    add(
        f"checks completed      {f['checks_per_second']:.1f}/s   expected "
        f"{f['expected_per_second']:.1f}/s ({share:.1f}%)"
    )
    logs = f["log"]["checks"]
    add(
        f"checks dropped        {f['dropped_checks']} of {f['expected_checks']} scheduled in the "
        f"window   (expired messages {logs['expired_messages']}, re-spread monitors "
        f"{logs['respread_monitors']}, duplicates {f['duplicates']})"
    )
    add(
        f"schedule lag          p50 {f['lag_p50_s']} s   p95 {f['lag_p95_s']} s   "
        f"p99 {f['lag_p99_s']} s   max {f['lag_max_s']} s   (target p99 < {TARGET_P99_LAG_S:g} s)"
    )
    for key, label in (("down_to_alert", "down -> alert"), ("up_to_alert", "up -> resolved")):
        a = f["alerts"][key]
        if not a["measured"]:
            add(f"{label:<21} not measured (window too short)")
            continue
        add(
            f"{label:<21} median {a['median_s']} s   max {a['max_s']} s   over "
            f"{a['arrived']} monitors, {a['missing']} missing   (bound {a['bound_s']} s: "
            f"{'met' if a['met'] else 'NOT met'})"
        )
    depth = f["queue_depth_max"]
    add(
        "queue depth max       "
        + "   ".join(f"{q} {depth[q]} (mean {f['queue_depth_mean'][q]})" for q in depth)
    )
    add(
        f"CPU per check         {f['cpu_ms_per_check']} ms   over all healthmon processes + "
        f"PostgreSQL + Redis (target {TARGET_CPU_MS_PER_CHECK} ms)"
    )
    add("")
    header = ("process", "procs", "CPU s", "% core", "ms/check", "peak RSS MiB")
    add("  {:<26}{:>6}{:>9}{:>9}{:>10}{:>14}".format(*header))
    for row in f["processes"]:
        add(
            f"  {row['name']:<26}{row['processes']:>6}{row['cpu_s']:>9.2f}"
            f"{row['cpu_percent_of_one_core']:>9.1f}{row['cpu_ms_per_check'] or 0:>10.3f}"
            f"{row['peak_rss_mib']:>14.1f}"
        )
    add(f"  {'total (counted)':<26}{'':>6}{f['cpu_s_total']:>9.2f}")
    add("")
    db = f["database"]
    add(
        f"database growth       {db['results_mib_per_million_checks']} MiB per million checks "
        f"(check results + indexes), {db['database_mib_per_million_checks']} MiB whole database "
        f"({db['result_rows_added']} rows measured)"
    )
    c = f.get("ceiling")
    if c and c.get("per_second"):
        add(
            f"HTTP client ceiling   {c['per_second']:.0f} req/s, {c['cpu_ms_per_request']} ms CPU "
            f"per request (plain requests in a gevent pool, one process, a fresh connection "
            f"each); healthmon sustained {c['healthmon_share'] * 100:.1f}% of that rate"
        )
        if c.get("worker_checks_per_core_second"):
            add(
                f"                      the check worker's CPU per check would do "
                f"{c['worker_checks_per_core_second']} checks/s on one core: "
                f"{c['worker_capacity_ratio']}x the raw client"
            )
    elif c:
        add(f"HTTP client ceiling   failed: {c.get('error')}")
    errors = {name: counts["errors"] for name, counts in f["log"].items() if counts["errors"]}
    if errors:
        add(f"log errors            {errors} (see {f['logs']})")
    add(f"total run time        {f['total_seconds']} s; logs in {f['logs']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    figures = run(options)
    print(format_report(figures), flush=True)
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
