"""The ceiling by ramp: the highest check rate the stack sustains, for one and for two check
workers, found by raising the rate step by step on the real stack.

    python -m bench.ceiling_ramp [--workers 1,2] [--start-rate 200] [--factor 1.3]

The stack is ``bench.scale``'s (``bench.stack.start_healthmon``: beat with the dispatcher,
gevent check workers, the evaluation worker, PostgreSQL, a private redis-server), HTTP
monitors against ``bench.target`` (5 +/- 2 ms). A step runs ``rate x --interval`` monitors,
first checks spread over one interval, waits ``--warmup`` s and measures a ``--window`` s
window. The step is sustained when the schedule lag p99 is at most ``--max-lag`` s (2 s),
no scheduled check was dropped and none failed against the healthy target; then the rate
is multiplied by ``--factor``, else the ramp stops (if the very first step fails, the rate
is divided by ``--factor`` until a step holds or ``--min-rate`` is passed). With two
workers the ramp starts at the one-worker ceiling. ``--budget`` bounds the ramps' total
time (a ramp cut short by it says so: its ceiling is then a lower bound).

Printed: every step (offered and completed rate, lag, dropped, failed, CPU per check of the
check workers and of everything, each as a multiple of the raw HTTP client's CPU per
request), and per worker count the highest sustained rate, its CPU per check and raw-client
ratios, and that rate as a share of the raw client's own rate. The raw client
(``bench.ceiling``) runs after the stack has stopped, against the same target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from bench import procs, stack
from bench.procs import Group, ProcessSet
from bench.scale import (
    CHECK_WORKERS,
    SETTLE_SECONDS,
    TARGET_P99_LAG_S,
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


@dataclass
class Options:
    workers: list[int]
    interval: int
    start_rate: float
    factor: float
    max_rate: float
    min_rate: float
    window: float
    warmup: float
    max_lag: float
    budget: float
    latency_ms: float
    jitter_ms: float
    check_concurrency: int
    events_concurrency: int
    ceiling_seconds: float
    ceiling_concurrency: int
    log_level: str
    db_name: str | None
    broker_url: str | None
    json_path: str | None
    out_dir: str
    keep_database: bool

    @property
    def timeout(self) -> float:
        return min(10.0, max(1.0, self.interval - 1))


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ceiling_ramp", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--workers", default="1,2", help="check worker counts to ramp, e.g. 1,2 (default)")
    add("--interval", type=int, default=10, help="seconds between checks of each monitor")
    add("--start-rate", type=float, default=200, help="checks/s of the first step")
    add("--factor", type=float, default=1.3, help="rate multiplier between steps")
    add("--max-rate", type=float, default=5000, help="stop the ramp above this rate")
    add("--min-rate", type=float, default=10, help="stop stepping down below this rate")
    add("--window", type=float, default=20, help="measured seconds per step")
    add("--warmup", type=float, default=None, help="seconds before each window (1 interval)")
    add("--max-lag", type=float, default=TARGET_P99_LAG_S, help="lag p99 a step may reach")
    add("--budget", type=float, default=420, help="seconds for all ramps together")
    add("--latency-ms", type=float, default=5.0, help="target's response delay")
    add("--jitter-ms", type=float, default=2.0)
    add("--check-concurrency", type=int, default=100, help="gevent pool of each check worker")
    add("--events-concurrency", type=int, default=10)
    add("--ceiling-seconds", type=float, default=10.0, help="raw HTTP client's run")
    add("--ceiling-concurrency", type=int, default=100)
    add("--log-level", default="info")
    add("--db-name", default=None, help="database to (re)create (default <DATABASE_URL>_ramp)")
    add("--broker-url", default=None, help="use this Redis instead of a private redis-server")
    add("--json", dest="json_path", default=None, help="also write the figures here")
    add("--out-dir", default=str(stack.ROOT / "bench" / "out"), help="logs go here")
    add("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    try:
        workers = sorted({int(n) for n in args.workers.split(",") if n.strip()})
    except ValueError:
        parser.error(f"--workers {args.workers!r}: expected counts like 1,2")
    if not workers or workers[0] < 1:
        parser.error("--workers: at least one count, each >= 1")
    if args.interval < 2 or args.start_rate <= 0 or args.factor <= 1 or args.window <= 0:
        parser.error("--interval >= 2, --start-rate > 0, --factor > 1, --window > 0")
    if args.ceiling_seconds <= 0:
        parser.error("--ceiling-seconds must be positive: every figure is divided by it")
    return Options(
        workers=workers,
        interval=args.interval,
        start_rate=args.start_rate,
        factor=args.factor,
        max_rate=args.max_rate,
        min_rate=args.min_rate,
        window=args.window,
        warmup=args.warmup if args.warmup is not None else float(args.interval),
        max_lag=args.max_lag,
        budget=args.budget,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        check_concurrency=args.check_concurrency,
        events_concurrency=args.events_concurrency,
        ceiling_seconds=args.ceiling_seconds,
        ceiling_concurrency=args.ceiling_concurrency,
        log_level=args.log_level,
        db_name=args.db_name,
        broker_url=args.broker_url,
        json_path=args.json_path,
        out_dir=args.out_dir,
        keep_database=args.keep_database,
    )


class MonitorPool:
    """Paused HTTP monitors against the target, created as the ramp needs more."""

    def __init__(self, *, team: Any, target_port: int, options: Options) -> None:
        self.team, self.target_port, self.options = team, target_port, options
        self.ids: list[int] = []

    def first(self, count: int) -> list[int]:
        from monitors.models import Monitor

        if count > len(self.ids):
            monitors = [
                Monitor(
                    team=self.team,
                    name=f"ramp {index:06d}",
                    url=f"http://127.0.0.1:{self.target_port}/m/{index}",
                    interval=self.options.interval,
                    timeout=self.options.timeout,
                    is_active=False,
                )
                for index in range(len(self.ids), count)
            ]
            Monitor.objects.bulk_create(monitors, batch_size=2000)
            self.ids += [m.id for m in monitors]
        return self.ids[:count]


def step_seconds(options: Options) -> float:
    """About how long a sustained step takes: warmup, window, its last checks, the drain."""
    return options.warmup + options.window + 4


def run_step(
    rate: float,
    *,
    workers: int,
    pool: MonitorPool,
    options: Options,
    groups: list[Group],
    sampler: Sampler,
    broker: redis.Redis,
    processes: ProcessSet,
) -> dict:
    from django.utils import timezone

    ids = pool.first(max(1, round(rate * options.interval)))
    start = timezone.now() + timedelta(seconds=1)
    schedule(ids, interval=options.interval, start=start)
    t0 = start + timedelta(seconds=options.warmup)
    t1 = t0 + timedelta(seconds=options.window)
    offered = len(ids) / options.interval
    _say(f"{workers} worker(s): {offered:.0f} checks/s ({len(ids)} monitors), window to {t1:%T}")
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
    dropped = max(0, expected - figures["distinct_slots"])
    lag = figures["lag_p99_s"]
    sustained = lag is not None and lag <= options.max_lag and not dropped
    sustained = sustained and not figures["failed_checks"]
    drain(broker, processes, timeout=options.interval + 10)
    return {
        "workers": workers,
        "monitors": len(ids),
        "offered_per_second": round(offered, 1),
        "checks_per_second": round(figures["completed_in_window"] / options.window, 1),
        "expected_checks": expected,
        "dropped_checks": dropped,
        "failed_checks": figures["failed_checks"],
        "lag_p50_s": figures["lag_p50_s"],
        "lag_p99_s": lag,
        "worker_cpu_ms_per_check": worker["cpu_ms_per_check"],
        "worker_cpu_percent": worker["cpu_percent_of_one_core"],
        "all_in_cpu_ms_per_check": cpu["cpu_ms_per_check"],
        "sustained": sustained,
    }


def drain(broker: redis.Redis, processes: ProcessSet, *, timeout: float) -> None:
    """Until the checks queue is empty (a failed step leaves a backlog; its paused monitors'
    batches are dropped by the worker), so the next step starts clean."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and stack.queue_depths(broker)["checks"]:
        processes.check_alive()
        time.sleep(0.5)
    time.sleep(1)


def run(options: Options) -> dict:
    started_wall = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = Path(options.out_dir) / f"ramp-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("ramp", name=options.db_name)
    processes = ProcessSet(log_dir)
    figures: dict = {
        "benchmark": "ceiling_ramp",
        "command": "python -m bench.ceiling_ramp " + " ".join(sys.argv[1:]),
        "interval_s": options.interval,
        "window_s": options.window,
        "max_lag_s": options.max_lag,
        "load_average_before": procs.load_average(),
        "logs": str(log_dir),
        "steps": [],
        "ceilings": [],
    }
    try:
        _say(f"database {stack.database_name(db_url)}: create and migrate")
        stack.recreate_migrated_database(db_url)
        broker_url = options.broker_url or stack.start_redis(processes)
        stack.purge_queues(broker_url)
        min_interval = str(min(30, options.interval))
        stack.configure_django(db_url, broker_url, MONITOR_MIN_INTERVAL=min_interval)
        target, target_port = stack.start_target(
            processes, latency_ms=options.latency_ms, jitter_ms=options.jitter_ms,
            failure_rate=0, workers=1,
        )  # fmt: skip
        from accounts.services import user_register

        team = user_register(email="ramp@example.com", password=stamp * 2).personal_team
        pool = MonitorPool(team=team, target_port=target_port, options=options)
        pool.first(round(options.start_rate * options.interval))

        env = stack.child_env(
            db_url, broker_url, LOG_LEVEL=options.log_level.upper(),
            MONITOR_MIN_INTERVAL=min_interval,
        )  # fmt: skip
        running = stack.start_healthmon(
            processes, env=env, log_level=options.log_level, check_workers=options.workers[0],
            check_concurrency=options.check_concurrency,
            events_concurrency=options.events_concurrency, web=False,
        )  # fmt: skip
        _say("stack is up")
        targets = [Group("target (not counted)", lambda: procs.process_tree(target.popen.pid),
                         counted=False)]  # fmt: skip
        groups = process_groups(running, db_url=db_url, broker_url=broker_url, extra=targets)
        sampler = Sampler(groups, broker_url)
        sampler.start()
        broker = redis.Redis.from_url(broker_url)
        ramp_started = time.monotonic()
        rate = options.start_rate
        try:
            for workers in options.workers:
                while len(running.check_workers) < workers:
                    stack.add_check_worker(processes, running, env=env,
                                           log_level=options.log_level,
                                           concurrency=options.check_concurrency)  # fmt: skip
                best = None
                cut_short = descending = False
                while options.min_rate <= rate <= options.max_rate:
                    if time.monotonic() - ramp_started + step_seconds(options) > options.budget:
                        cut_short = True
                        break
                    step = run_step(rate, workers=workers, pool=pool, options=options,
                                    groups=groups, sampler=sampler, broker=broker,
                                    processes=processes)  # fmt: skip
                    figures["steps"].append(step)
                    if step["sustained"]:
                        best = step
                        if descending:  # the first rate sustained on the way down
                            break
                        rate *= options.factor
                    elif best is None:
                        # Even the first rate was too much: step down until one holds.
                        descending = True
                        rate /= options.factor
                    else:
                        break
                figures["ceilings"].append(
                    {"workers": workers, "best": best, "cut_short_by_budget": cut_short}
                )
                # The next worker count starts where this one was last sustained.
                rate = best["offered_per_second"] if best else options.start_rate
        finally:
            sampler.stopped.set()
            sampler.join()
        figures["log"] = {
            name: log_counts(log_dir / f"{name}.log") for name in ("checks", "events", "beat")
        }
        _say("stopping the stack; measuring the raw HTTP client")
        stack.stop_healthmon(running)
        figures["reference"] = raw_reference(
            ["--url", f"http://127.0.0.1:{target_port}/m/ceiling-"],
            seconds=options.ceiling_seconds,
            concurrency=options.ceiling_concurrency,
            log_path=log_dir / "ceiling.log",
        )
        figures["load_average_after"] = procs.load_average()
    finally:
        processes.stop_all()
        if not options.keep_database:
            _drop_database(db_url)
    add_ratios(figures)
    figures["total_seconds"] = round(time.time() - started_wall, 1)
    return figures


def add_ratios(figures: dict) -> None:
    reference = figures.get("reference") or {}
    base = reference.get("cpu_ms_per_request")
    raw_rate = reference.get("per_second")
    for step in figures["steps"]:
        for name in ("worker", "all_in"):
            cpu = step[f"{name}_cpu_ms_per_check"]
            step[f"{name}_x_raw_http"] = round(cpu / base, 2) if cpu and base else None
        step["share_of_raw_rate"] = (
            round(step["checks_per_second"] / raw_rate, 2) if raw_rate else None
        )


# --- Report -----------------------------------------------------------------------------------


def _cell(value: Any, width: int, suffix: str = "") -> str:
    text = "-" if value is None else f"{value}{suffix}"
    return f"{text:>{width}}"


def format_report(f: dict) -> str:
    lines: list[str] = []
    add = lines.append
    add("")
    add(
        f"healthmon ceiling by ramp: HTTP monitors every {f['interval_s']} s, {f['window_s']:g} s "
        f"per step; sustained = lag p99 <= {f['max_lag_s']:g} s, 0 dropped, 0 failed"
    )
    add(f"  command: {f['command']}")
    add(f"  load average: before {f['load_average_before']}, after {f.get('load_average_after')}")
    add("")
    add("  {:>7}{:>10}{:>10}{:>9}{:>9}{:>8}{:>8}{:>10}{:>8}{:>10}{:>8}  {}".format(
        "workers", "offered/s", "done/s", "lag p50", "lag p99", "dropped", "failed",
        "worker ms", "x raw", "all-in ms", "x raw", "verdict"))  # fmt: skip
    for s in f["steps"]:
        add(
            f"  {s['workers']:>7}{s['offered_per_second']:>10.1f}{s['checks_per_second']:>10.1f}"
            f"{_cell(s['lag_p50_s'], 9)}{_cell(s['lag_p99_s'], 9)}{s['dropped_checks']:>8}"
            f"{s['failed_checks']:>8}{_cell(s['worker_cpu_ms_per_check'], 10)}"
            f"{_cell(s['worker_x_raw_http'], 8, 'x')}{_cell(s['all_in_cpu_ms_per_check'], 10)}"
            f"{_cell(s['all_in_x_raw_http'], 8, 'x')}  "
            f"{'sustained' if s['sustained'] else 'NOT sustained'}"
        )
    add("")
    ref = f.get("reference") or {}
    if ref.get("per_second"):
        add(
            f"  raw HTTP client (bench.ceiling, same target): {ref['per_second']:.0f} req/s, "
            f"{ref['cpu_ms_per_request']} ms CPU per request, {ref['errors']} errors"
        )
    else:
        add(f"  raw HTTP client failed: {ref.get('error')}")
    for ceiling in f["ceilings"]:
        best = ceiling["best"]
        label = f"  ceiling, {ceiling['workers']} check worker(s):"
        if best is None:
            add(f"{label} no step sustained, down to --min-rate")
            continue
        bound = " (at least: the time budget ended the ramp)"
        bound = bound if ceiling["cut_short_by_budget"] else ""
        add(
            f"{label} {best['checks_per_second']:.0f} checks/s sustained{bound}; CPU per check "
            f"worker {best['worker_cpu_ms_per_check']} ms "
            f"({_cell(best['worker_x_raw_http'], 0, 'x')} raw), "
            f"all-in {best['all_in_cpu_ms_per_check']} ms "
            f"({_cell(best['all_in_x_raw_http'], 0, 'x')} raw); "
            f"{_cell(best['share_of_raw_rate'], 0, 'x')} the raw client's rate"
        )
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
    print(json.dumps(figures, default=str), flush=True)
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
