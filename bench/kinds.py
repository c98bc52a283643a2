"""Checks per second and CPU per check of every monitor kind on ONE check worker, the whole
stack real, each beside the raw client of HTTP (and of its own protocol) from the same run.

    python -m bench.kinds [--kinds http,tcp,dns,tls,icmp,api] [--monitors 2000] [--interval 10]

What it does, in order:

1. Its own database (``<DATABASE_URL name>_kinds``) and a private redis-server, as
   ``bench.scale`` does (``bench.stack``); beat (the dispatcher), ONE gevent worker on
   ``checks`` and one on ``incidents,notifications`` (evaluation).
2. Local targets on 127.0.0.1: ``bench.target`` for http and for api (a 2-step flow: POST
   /login with the team variable ``{{password}}``, the token extracted from the JSON, GET
   /orders with it and a JSON assertion), ``bench.kind_targets`` for tcp (echo: send a line,
   expect it back), tls (self-signed certificate, so the monitors do not verify the chain)
   and dns (A record of ``m<i>.bench.test`` at that resolver), and the kernel for icmp
   (``--ping-count`` pings of 127.0.0.1).
3. One kind after the other: ``--monitors`` monitors of that kind every ``--interval`` s,
   first checks spread over one interval, ``--warmup`` s, then a ``--window`` s window
   in which it counts the checks (from the database), the schedule lag, the failures and
   dropped checks, and the CPU of every process from /proc; then the kind is paused.
4. Stops the stack and runs ``bench.ceiling`` for HTTP and for each kind's protocol against
   the same targets: the bare client in a gevent pool, a fresh connection each time.

Figures per kind: checks/s completed (of the offered rate), failed and dropped checks, lag
p50/p99, CPU ms per check of the check worker alone and of everything (all healthmon
processes + PostgreSQL + Redis), each also as a multiple of the raw HTTP client's CPU per
request (figures that travel between machines) and of the kind's own raw client; and what
the check worker's CPU per check would do on a full core (its capacity in checks/s).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import procs, stack
from bench.procs import Group, ProcessSet
from bench.scale import (
    CHECK_WORKERS,
    DNS_ZONE,
    SETTLE_SECONDS,
    Sampler,
    _cpu_figures,
    _drop_database,
    _say,
    _sleep_until,
    check_figures,
    expected_slots,
    log_counts,
    process_groups,
    raw_reference,
    schedule,
    unschedule,
    wait_for_slots,
)
from bench.target import LOGIN_PASSWORD

KINDS = ("http", "tcp", "dns", "tls", "icmp", "api")
ECHO_TEXT = "healthmon-bench"  # bench.ceiling's ECHO_LINE without its CRLF
ICMP_REFERENCE_CONCURRENCY = 10


@dataclass
class Options:
    kinds: list[str]
    monitors: int
    interval: int
    window: float
    warmup: float
    ping_count: int
    latency_ms: float
    check_concurrency: int
    events_concurrency: int
    reference_seconds: float
    reference_concurrency: int
    log_level: str
    db_name: str | None
    broker_url: str | None
    json_path: str | None
    out_dir: str
    keep_database: bool

    @property
    def timeout(self) -> float:
        return min(10.0, max(1.0, self.interval - 1))

    @property
    def ping_interval(self) -> float:
        # What monitors.kinds.icmp spaces the pings of a check by, for the raw reference.
        from monitors.kinds.icmp import PING_INTERVAL

        return min(PING_INTERVAL, self.timeout / 2 / self.ping_count)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kinds", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--kinds", default=",".join(KINDS), help=f"comma-separated, from {','.join(KINDS)}")
    add("--monitors", type=int, default=2000, help="monitors per kind (default 2000)")
    add("--interval", type=int, default=10, help="seconds between checks (default 10)")
    add("--window", type=float, default=30, help="measured seconds per kind (default 30)")
    add("--warmup", type=float, default=None, help="seconds before each window (1 interval)")
    add("--ping-count", type=int, default=3, help="icmp: pings per check (default 3)")
    add("--latency-ms", type=float, default=5.0, help="HTTP target's response delay")
    add("--check-concurrency", type=int, default=100, help="gevent pool of the check worker")
    add("--events-concurrency", type=int, default=10)
    add("--reference-seconds", type=float, default=5.0, help="each raw client's run")
    add("--reference-concurrency", type=int, default=100)
    add("--log-level", default="info")
    add("--db-name", default=None, help="database to (re)create (default <DATABASE_URL>_kinds)")
    add("--broker-url", default=None, help="use this Redis instead of a private redis-server")
    add("--json", dest="json_path", default=None, help="also write the figures here")
    add("--out-dir", default=str(stack.ROOT / "bench" / "out"), help="logs go here")
    add("--keep-database", action="store_true", help="don't drop the database at the end")
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"--kinds: unknown {', '.join(unknown) or '(none given)'}")
    if args.monitors < 1 or args.interval < 2 or args.window <= 0 or args.reference_seconds <= 0:
        parser.error("--monitors, --window, --reference-seconds must be positive; --interval >= 2")
    return Options(
        kinds=kinds,
        monitors=args.monitors,
        interval=args.interval,
        window=args.window,
        warmup=args.warmup if args.warmup is not None else float(args.interval),
        ping_count=args.ping_count,
        latency_ms=args.latency_ms,
        check_concurrency=args.check_concurrency,
        events_concurrency=args.events_concurrency,
        reference_seconds=args.reference_seconds,
        reference_concurrency=args.reference_concurrency,
        log_level=args.log_level,
        db_name=args.db_name,
        broker_url=args.broker_url,
        json_path=args.json_path,
        out_dir=args.out_dir,
        keep_database=args.keep_database,
    )


# --- Targets and monitors ---------------------------------------------------------------------


def start_kind_targets(processes: ProcessSet, cert_dir: Path) -> tuple[procs.Managed, dict]:
    argv = [sys.executable, "-m", "bench.kind_targets", "--cert-dir", str(cert_dir)]
    managed = processes.start("kind_targets", argv, env=dict(os.environ), cwd=stack.ROOT,
                              stdout=subprocess.PIPE)  # fmt: skip
    line = managed.popen.stdout.readline().decode()  # type: ignore[union-attr]
    if not line.startswith("READY "):
        processes.check_alive()
        raise RuntimeError(f"bench.kind_targets did not start: {line!r}")
    return managed, json.loads(line.split(" ", 1)[1])


def monitor_fields(kind: str, index: int, ports: dict[str, int], options: Options) -> dict:
    """The target fields of monitor ``index`` of ``kind``: healthy, on 127.0.0.1."""
    http = f"http://127.0.0.1:{ports['http']}"
    if kind == "http":
        return {"url": f"{http}/m/{index}"}
    if kind == "tcp":
        return {
            "host": "127.0.0.1",
            "port": ports["tcp"],
            "send": ECHO_TEXT,
            "assertions": [{"type": "reply_contains", "value": ECHO_TEXT}],
        }
    if kind == "tls":
        # Self-signed: the monitor reads the certificate without judging its chain.
        return {"host": "127.0.0.1", "port": ports["tls"], "verify_tls": False}
    if kind == "dns":
        return {
            "host": f"m{index}.{DNS_ZONE}",
            "dns_record_type": "A",
            "dns_resolver": f"127.0.0.1:{ports['dns']}",
        }
    if kind == "icmp":
        return {"host": "127.0.0.1", "ping_count": options.ping_count}
    if kind == "api":
        return {
            "steps": [
                {
                    "name": "log in",
                    "method": "POST",
                    "url": f"{http}/login",
                    "headers": {"Content-Type": "application/json"},
                    "body": '{"user": "probe", "password": "{{password}}"}',
                    "extract": [{"var": "token", "from": "json", "path": "$.token"}],
                },
                {
                    "name": "get orders",
                    "url": f"{http}/orders",
                    "headers": {"Authorization": "Bearer {{token}}"},
                    "assertions": [{"type": "json_path_equals", "path": "$.count", "value": 2}],
                },
            ]
        }
    raise ValueError(kind)


def seed_kind(kind: str, *, team: Any, ports: dict[str, int], options: Options) -> list[int]:
    """``options.monitors`` paused monitors of ``kind``; the first is validated as every
    entry point validates, so the benchmark measures configurations a user can save."""
    from monitors.models import Monitor

    monitors = [
        Monitor(
            team=team,
            name=f"bench {kind} {index:05d}",
            kind=kind,
            interval=options.interval,
            timeout=options.timeout,
            is_active=False,
            **monitor_fields(kind, index, ports, options),
        )
        for index in range(options.monitors)
    ]
    monitors[0].full_clean()
    Monitor.objects.bulk_create(monitors, batch_size=2000)
    return sorted(m.id for m in monitors)


def failure_reasons(t0: datetime, t1: datetime, limit: int = 3) -> list[list]:
    """The commonest reasons of the failed checks of the window, with their counts."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reason, count(*) FROM monitors_checkresult WHERE scheduled_for >= %s "
            "AND scheduled_for < %s AND status <> 'up' GROUP BY reason ORDER BY 2 DESC LIMIT %s",
            [t0, t1, limit],
        )
        return [list(row) for row in cursor.fetchall()]


# --- The run ----------------------------------------------------------------------------------


def measure_kind(
    kind: str,
    ids: list[int],
    *,
    options: Options,
    groups: list[Group],
    sampler: Sampler,
    processes: ProcessSet,
) -> dict:
    from django.utils import timezone

    start = timezone.now() + timedelta(seconds=1)
    schedule(ids, interval=options.interval, start=start)
    t0 = start + timedelta(seconds=options.warmup)
    t1 = t0 + timedelta(seconds=options.window)
    _say(f"{kind}: {len(ids)} monitors every {options.interval}s, window {t0:%H:%M:%S}-{t1:%T}")
    _sleep_until(t0, processes)
    sampler.start_window()
    _sleep_until(t1, processes)
    sampler.end_window()
    expected = expected_slots(
        len(ids), interval=options.interval, start=start.timestamp(),
        t0=t0.timestamp(), t1=t1.timestamp(),
    )  # fmt: skip
    # The window's last checks (scheduled before t1) finish and are stored.
    wait_for_slots(t0, t1, expected, at_most=SETTLE_SECONDS + options.timeout)
    unschedule(ids)
    figures = check_figures(t0, t1)
    cpu = _cpu_figures(groups, options.window, figures["completed_in_window"])
    worker = next(row for row in cpu["processes"] if row["name"] == CHECK_WORKERS)
    return {
        "kind": kind,
        "monitors": len(ids),
        "offered_per_second": round(len(ids) / options.interval, 2),
        "checks_per_second": round(figures["completed_in_window"] / options.window, 2),
        "expected_checks": expected,
        "dropped_checks": max(0, expected - figures["distinct_slots"]),
        "failed_checks": figures["failed_checks"],
        "failure_reasons": failure_reasons(t0, t1) if figures["failed_checks"] else [],
        "duplicates": figures["duplicates"],
        "lag_p50_s": figures["lag_p50_s"],
        "lag_p99_s": figures["lag_p99_s"],
        "worker_cpu_ms_per_check": worker["cpu_ms_per_check"],
        "worker_cpu_percent": worker["cpu_percent_of_one_core"],
        "all_in_cpu_ms_per_check": cpu["cpu_ms_per_check"],
        "processes": cpu["processes"],
    }


def reference_args(kind: str, ports: dict[str, int], options: Options) -> list[str]:
    """``bench.ceiling`` arguments of the raw client comparable with ``kind``'s checks."""
    http = f"http://127.0.0.1:{ports['http']}"
    if kind == "http":
        return ["--url", f"{http}/m/ceiling-"]
    if kind == "api":
        return ["--kind", "api", "--url", http]
    if kind == "icmp":
        return ["--kind", "icmp", "--count", str(options.ping_count),
                "--ping-interval", str(options.ping_interval)]  # fmt: skip
    return ["--kind", kind, "--port", str(ports[kind])]


def run(options: Options) -> dict:
    started_wall = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = Path(options.out_dir) / f"kinds-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("kinds", name=options.db_name)
    processes = ProcessSet(log_dir)
    figures: dict = {
        "benchmark": "kinds",
        "command": "python -m bench.kinds " + " ".join(sys.argv[1:]),
        "monitors_per_kind": options.monitors,
        "interval_s": options.interval,
        "window_s": options.window,
        "check_workers": 1,
        "load_average_before": procs.load_average(),
        "logs": str(log_dir),
        "kinds": [],
    }
    try:
        _say(f"database {stack.database_name(db_url)}: create and migrate")
        stack.recreate_migrated_database(db_url)
        broker_url = options.broker_url or stack.start_redis(processes)
        stack.purge_queues(broker_url)
        min_interval = str(min(30, options.interval))
        # Every kind's monitors are one team's (validated: the quota counts them all).
        quota = str(options.monitors * len(options.kinds))
        stack.configure_django(
            db_url, broker_url, MONITOR_MIN_INTERVAL=min_interval, TEAM_MAX_MONITORS=quota
        )

        target, http_port = stack.start_target(
            processes, latency_ms=options.latency_ms, jitter_ms=0, failure_rate=0, workers=1
        )
        kind_targets, ports = start_kind_targets(processes, log_dir / "certs")
        ports["http"] = http_port

        from accounts.services import user_register
        from lib import icmp
        from monitors.models import TeamVariable

        team = user_register(email="bench@example.com", password=LOGIN_PASSWORD * 2).personal_team
        TeamVariable.objects.create(team=team, name="password", value=LOGIN_PASSWORD)
        # A raw socket (root) sees every ICMP packet of the host: its cost grows with the
        # pings in flight, which a datagram socket's does not. Say which one ran.
        sock_type = icmp._socket_type()
        socket_names = {int(socket.SOCK_DGRAM): "datagram (unprivileged)",
                        int(socket.SOCK_RAW): "raw (root or CAP_NET_RAW)"}  # fmt: skip
        figures["icmp_socket"] = socket_names.get(sock_type or -1, "none: icmp cannot run here")
        seeded = {kind: seed_kind(kind, team=team, ports=ports, options=options)
                  for kind in options.kinds}  # fmt: skip
        _say(f"seeded {options.monitors} monitors of each of {', '.join(options.kinds)}")

        env = stack.child_env(
            db_url, broker_url, LOG_LEVEL=options.log_level.upper(),
            MONITOR_MIN_INTERVAL=min_interval,
        )  # fmt: skip
        running = stack.start_healthmon(
            processes,
            env=env,
            log_level=options.log_level,
            check_workers=1,
            check_concurrency=options.check_concurrency,
            events_concurrency=options.events_concurrency,
            web=False,
        )
        _say("stack is up: beat, one check worker, the evaluation worker")
        targets = [
            Group("http target (not counted)", lambda: procs.process_tree(target.popen.pid),
                  counted=False),
            Group("kind targets (not counted)", lambda: {kind_targets.popen.pid}, counted=False),
        ]  # fmt: skip
        groups = process_groups(running, db_url=db_url, broker_url=broker_url, extra=targets)
        sampler = Sampler(groups, broker_url)
        sampler.start()
        try:
            for kind in options.kinds:
                row = measure_kind(
                    kind, seeded[kind], options=options, groups=groups, sampler=sampler,
                    processes=processes,
                )  # fmt: skip
                figures["kinds"].append(row)
        finally:
            sampler.stopped.set()
            sampler.join()
        figures["log"] = {
            name: log_counts(log_dir / f"{name}.log") for name in ("checks", "events", "beat")
        }

        _say("stopping the stack; measuring the raw clients")
        stack.stop_healthmon(running)
        references = {}
        for kind in ["http", *[k for k in options.kinds if k != "http"]]:
            concurrency = options.reference_concurrency
            if kind == "icmp":
                # A raw ICMP socket (root) receives every ICMP packet of the host: 100 pings
                # in flight would measure that fan-out (and lose replies), not a ping.
                concurrency = min(concurrency, ICMP_REFERENCE_CONCURRENCY)
            references[kind] = raw_reference(
                reference_args(kind, ports, options),
                seconds=options.reference_seconds,
                concurrency=concurrency,
                log_path=log_dir / f"ceiling-{kind}.log",
            )
        figures["references"] = references
        figures["load_average_after"] = procs.load_average()
    finally:
        processes.stop_all()
        if not options.keep_database:
            _drop_database(db_url)
    add_ratios(figures)
    figures["total_seconds"] = round(time.time() - started_wall, 1)
    return figures


def _ratio(value: float | None, reference: dict | None) -> float | None:
    base = (reference or {}).get("cpu_ms_per_request")
    return round(value / base, 2) if value and base else None


def add_ratios(figures: dict) -> None:
    """Each kind's CPU per check as a multiple of the raw HTTP client's and of its own
    protocol's raw client's CPU per request, and the check worker's capacity on one core."""
    references = figures.get("references", {})
    for row in figures["kinds"]:
        own = references.get(row["kind"])
        for name in ("worker", "all_in"):
            cpu = row[f"{name}_cpu_ms_per_check"]
            row[f"{name}_x_raw_http"] = _ratio(cpu, references.get("http"))
            row[f"{name}_x_raw_kind"] = _ratio(cpu, own)
        worker = row["worker_cpu_ms_per_check"]
        row["worker_checks_per_core_second"] = round(1000 / worker) if worker else None


# --- Report -----------------------------------------------------------------------------------


def _cell(value: Any, width: int, suffix: str = "") -> str:
    text = "-" if value is None else f"{value}{suffix}"
    return f"{text:>{width}}"


def format_report(f: dict) -> str:
    lines: list[str] = []
    add = lines.append
    add("")
    add(
        f"healthmon monitor kinds on ONE check worker: {f['monitors_per_kind']} monitors per "
        f"kind every {f['interval_s']} s, window {f['window_s']:g} s per kind"
    )
    add(f"  command: {f['command']}")
    add(f"  load average: before {f['load_average_before']}, after {f.get('load_average_after')}")
    if "icmp_socket" in f:
        add(f"  icmp sockets: {f['icmp_socket']}")
    add("")
    add("  {:<6}{:>14}{:>10}{:>8}{:>8}{:>10}{:>10}".format(
        "kind", "checks/s", "offered", "failed", "dropped", "lag p50", "lag p99"))  # fmt: skip
    for row in f["kinds"]:
        add(
            f"  {row['kind']:<6}{row['checks_per_second']:>14.1f}{row['offered_per_second']:>10.1f}"
            f"{row['failed_checks']:>8}{row['dropped_checks']:>8}"
            f"{_cell(row['lag_p50_s'], 10, ' s')}{_cell(row['lag_p99_s'], 10, ' s')}"
        )
    add("")
    add("  CPU per check, ms (x = multiple of the raw client's CPU per request, same run)")
    add("  {:<6}{:>10}{:>11}{:>11}{:>10}{:>11}{:>11}{:>16}".format(
        "kind", "worker", "x raw HTTP", "x raw kind", "all-in", "x raw HTTP", "x raw kind",
        "worker cap./s"))  # fmt: skip
    for row in f["kinds"]:
        add(
            f"  {row['kind']:<6}{_cell(row['worker_cpu_ms_per_check'], 10)}"
            f"{_cell(row['worker_x_raw_http'], 11, 'x')}{_cell(row['worker_x_raw_kind'], 11, 'x')}"
            f"{_cell(row['all_in_cpu_ms_per_check'], 10)}"
            f"{_cell(row['all_in_x_raw_http'], 11, 'x')}{_cell(row['all_in_x_raw_kind'], 11, 'x')}"
            f"{_cell(row['worker_checks_per_core_second'], 16)}"
        )
    add("  worker: the check worker alone; all-in: every healthmon process + PostgreSQL + Redis;")
    add("  worker cap./s: checks/s the worker's CPU per check would allow on one full core")
    add("")
    add("  raw clients (bench.ceiling: bare client, gevent pool, fresh connection each)")
    add("  {:<6}{:>10}{:>14}{:>8}".format("kind", "ops/s", "CPU ms/op", "errors"))
    for kind, ref in f.get("references", {}).items():
        if ref.get("error"):
            add(f"  {kind:<6}  failed: {ref['error']}")
            continue
        add(f"  {kind:<6}{ref['per_second']:>10.0f}{_cell(ref['cpu_ms_per_request'], 14)}"
            f"{ref['errors']:>8}")  # fmt: skip
    for row in f["kinds"]:
        for reason, count in row["failure_reasons"]:
            add(f"  {row['kind']} failed {count}x: {reason}")
    logs = f.get("log", {})
    errors = {name: counts["errors"] for name, counts in logs.items() if counts["errors"]}
    if errors:
        add(f"  log errors: {errors} (see {f['logs']})")
    add(f"  total run time {f['total_seconds']} s; logs in {f['logs']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    figures = run(options)
    print(format_report(figures), flush=True)
    summary = {k: v for k, v in figures.items() if k != "kinds"}
    summary["kinds"] = [
        {k: v for k, v in row.items() if k != "processes"} for row in figures["kinds"]
    ]
    print(json.dumps(summary, default=str), flush=True)
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
