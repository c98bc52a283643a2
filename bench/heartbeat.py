"""Heartbeat ingest: pings per second and their latency at 10,000 heartbeat monitors.

1. Creates its own database (``<DATABASE_URL name>_heartbeat``), migrates it and seeds
   ``--monitors`` heartbeat monitors (period 1 h, grace 5 min: none falls due during the run),
   UP with a successful last ping, as a running install has them.
2. Starts gunicorn exactly as the Procfile does (``healthmon.wsgi``, deploy/gunicorn.conf.py)
   with a private redis-server as its broker, and drives ``/ping/<uuid>`` of random monitors
   with ``wrk`` (its own process): a paced run at ``--rate`` pings/s for ``--seconds``, then a
   ramp of higher rates and an unpaced step (the ceiling). ``wrk`` paces each connection
   with a fixed delay between a response and the next request, calibrated by a short first
   run so the achieved rate meets the target.
3. Runs the same load against a trivial WSGI app (``bench.trivial_wsgi``: one static answer)
   in the same gunicorn configuration: the raw reference, measured in the same run because
   this machine is shared and figures differ from run to run.

Printed: pings/s achieved, p50/p95/p99 latency, errors, CPU ms per ping of the web processes
and of PostgreSQL (the database's backends and the shared background processes, read from
/proc), the rows stored against the pings answered, the evaluation messages queued (a
success while UP sends none), and the ratios to the reference.

``make bench-heartbeat`` (under 10 minutes); ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bench import procs, stack
from bench.procs import Group, ProcessSet

LUA = r"""
local paths = {}
init = function(args)
  for line in io.lines("%(paths_file)s") do paths[#paths + 1] = line end
  math.randomseed(%(seed)d + math.floor(os.clock() * 1000000))
end
request = function()
  return wrk.format("%(method)s", paths[math.random(#paths)])
end
delay = function()
  return %(delay_ms)s
end
done = function(summary, latency, requests)
  local out = {
    requests = summary.requests, duration_us = summary.duration,
    status_errors = summary.errors.status, socket_errors = summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout,
    p50_us = latency:percentile(50), p95_us = latency:percentile(95),
    p99_us = latency:percentile(99), max_us = latency.max,
  }
  local parts = {}
  for k, v in pairs(out) do parts[#parts + 1] = string.format('"%%s": %%s', k, v) end
  io.write("WRK_JSON {" .. table.concat(parts, ", ") .. "}\n")
end
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.heartbeat", description=__doc__)
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000, help="target pings/s of the main run")
    parser.add_argument("--seconds", type=float, default=30, help="main run duration")
    parser.add_argument(
        "--ramp",
        default="1500,2000,3000,max",
        help="rates of the ramp after the main run, 'max' for unpaced (empty: no ramp)",
    )
    parser.add_argument("--ramp-seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--method", choices=["GET", "POST"], default="GET")
    parser.add_argument("--no-reference", action="store_true", help="skip the raw reference")
    parser.add_argument("--out-dir", default="var/bench", help="logs and wrk scripts go here")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(f"[bench.heartbeat] {message}", file=sys.stderr, flush=True)


def seed(monitors: int) -> list[str]:
    """``monitors`` heartbeat monitors; returns their ping paths."""
    from django.utils import timezone

    from accounts.services import user_register
    from monitors.models import Monitor

    user = user_register(email="heartbeat-bench@example.com", password=uuid.uuid4().hex)
    now = timezone.now()
    rows = [
        Monitor(
            team=user.personal_team,
            name=f"job {index:05d}",
            kind="heartbeat",
            interval=3600,
            grace=300,
            failure_threshold=1,
            ping_token=uuid.uuid4(),
            status="up",
            last_check_status="up",
            last_checked_at=now,
            last_ping_at=now,
            next_check_at=now + timedelta(seconds=3900),
        )
        for index in range(monitors)
    ]
    Monitor.objects.bulk_create(rows, batch_size=2000)
    return [f"/ping/{row.ping_token}" for row in rows]


def run_wrk(
    base: str,
    paths_file: Path,
    *,
    seconds: float,
    connections: int,
    delay_ms: float,
    method: str,
    work_dir: Path,
    name: str,
) -> dict:
    script = work_dir / f"{name}.lua"
    script.write_text(
        LUA
        % {
            "paths_file": paths_file,
            "delay_ms": f"{max(delay_ms, 0.0):.3f}",
            "method": method,
            "seed": random.randrange(1 << 30),
        }
    )
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{math.ceil(seconds)}s", "--timeout", "10s"]
    argv += ["-s", str(script), base]
    started = time.monotonic()
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    load = Group("wrk", lambda: {popen.pid}, counted=False)
    load.start_window(procs.uptime_ticks())
    while popen.poll() is None and time.monotonic() - started < seconds + 60:
        load.sample(in_window=True)
        time.sleep(0.5)
    out, err = popen.communicate(timeout=60)
    (work_dir / f"{name}.wrk.log").write_text(out + err)
    for line in out.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line[len("WRK_JSON ") :])
            duration = raw["duration_us"] / 1e6
            return {
                "rate": round(raw["requests"] / duration, 1),
                "requests": raw["requests"],
                "errors": raw["status_errors"] + raw["socket_errors"],
                "p50_ms": round(raw["p50_us"] / 1000, 2),
                "p95_ms": round(raw["p95_us"] / 1000, 2),
                "p99_ms": round(raw["p99_us"] / 1000, 2),
                "max_ms": round(raw["max_us"] / 1000, 1),
                "wrk_cpu_s": round(load.cpu_seconds, 1),
            }
    raise RuntimeError(f"wrk printed no figures: {out[-500:]} {err[-500:]}")


class Target:
    """One gunicorn app under load, with the CPU of its processes (and PostgreSQL's)."""

    def __init__(self, base: str, groups: list[Group], paths_file: Path, args, work_dir: Path):
        self.base, self.groups, self.paths_file = base, groups, paths_file
        self.args, self.work_dir = args, work_dir
        self.overhead_ms: float | None = None  # per request, between wrk's delays

    def step(self, name: str, rate: float | None, seconds: float) -> dict:
        connections = self.args.connections
        delay = 0.0
        if rate is not None:
            if self.overhead_ms is None:  # calibrate: how far a paced connection falls short
                probe = self._run(f"{name}-calibrate", connections * 1000 / rate, 3)
                achieved = max(probe["rate"], 1.0)
                self.overhead_ms = max(connections * 1000 / achieved - connections * 1000 / rate, 0)
            delay = connections * 1000 / rate - self.overhead_ms
        return self._run(name, delay if rate is not None else 0.0, seconds)

    def _run(self, name: str, delay_ms: float, seconds: float) -> dict:
        for group in self.groups:
            group.start_window(procs.uptime_ticks())
        result = run_wrk(
            self.base, self.paths_file, seconds=seconds, connections=self.args.connections,
            delay_ms=delay_ms, method=self.args.method, work_dir=self.work_dir, name=name,
        )  # fmt: skip
        for group in self.groups:
            group.sample(in_window=True)
            result[f"{group.name}_cpu_ms"] = (
                round(group.cpu_seconds * 1000 / result["requests"], 3)
                if result["requests"]
                else None
            )
        return result


def _postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    stat = procs.read_stat(backend)
    assert stat is not None
    return stat.ppid


def _rates(text: str) -> list[float | None]:
    return [None if part == "max" else float(part) for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.heartbeat needs wrk (Debian/Ubuntu: apt-get install wrk)")
    work_dir = Path(args.out_dir) / f"heartbeat-{time.strftime('%Y%m%d-%H%M%S')}"
    work_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("heartbeat")
    processes = ProcessSet(work_dir)
    figures: dict = {
        "command": "python -m bench.heartbeat " + " ".join(sys.argv[1:]),
        "monitors": args.monitors,
        "connections": args.connections,
        "web_workers": args.web_workers,
        "load_average_before": procs.load_average(),
        "logs": str(work_dir),
    }
    try:
        stack.recreate_database(db_url)
        broker = stack.start_redis(processes)
        stack.configure_django(db_url, broker)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        _say(f"seeding {args.monitors} heartbeat monitors")
        paths = seed(args.monitors)
        paths_file = work_dir / "ping.paths"
        paths_file.write_text("\n".join(paths) + "\n")

        env = stack.child_env(db_url, broker, LOG_LEVEL="WARNING")
        postmaster = _postmaster_pid()
        database = stack.database_name(db_url)
        pg = Group("postgresql", lambda: procs.postgres_pids(postmaster, database))

        port = stack.free_port()
        web = stack.gunicorn(processes, env=env, port=port, workers=args.web_workers)
        base = f"http://127.0.0.1:{port}"
        stack.wait_http(f"{base}/live", timeout=60, processes=processes)
        web_group = Group("web", lambda: procs.process_tree(web.popen.pid))
        target = Target(base, [web_group, pg], paths_file, args, work_dir)
        target.step("warmup", None, 3)

        from monitors.models import CheckResult

        stored_before = CheckResult.objects.count()
        _say(f"main run: {args.rate:g} pings/s for {args.seconds:g}s")
        steps = {f"{args.rate:g}/s": target.step("main", args.rate, args.seconds)}
        for rate in _rates(args.ramp):
            label = "max" if rate is None else f"{rate:g}/s"
            _say(f"ramp: {label}")
            steps[label] = target.step(f"ramp-{label.replace('/', '')}", rate, args.ramp_seconds)
        figures["ping"] = steps
        figures["rows_stored"] = CheckResult.objects.count() - stored_before
        import redis

        figures["evaluation_messages"] = redis.Redis.from_url(broker).llen("incidents")
        processes.check_alive()

        if not args.no_reference:
            trivial = stack.free_port()
            ref_env = {**env, "WEB_BIND": f"127.0.0.1:{trivial}"}
            ref_env["WEB_CONCURRENCY"] = str(args.web_workers)
            ref = processes.start(
                "reference",
                [str(Path(sys.executable).parent / "gunicorn"), "bench.trivial_wsgi",
                 "-c", "deploy/gunicorn.conf.py"],
                env=ref_env,
                cwd=stack.ROOT,
            )  # fmt: skip
            ref_base = f"http://127.0.0.1:{trivial}"
            stack.wait_http(f"{ref_base}/", timeout=60, processes=processes)
            ref_group = Group("web", lambda: procs.process_tree(ref.popen.pid))
            reference = Target(ref_base, [ref_group], paths_file, args, work_dir)
            reference.step("ref-warmup", None, 3)
            _say("raw reference: the same load against a trivial WSGI app")
            figures["reference"] = {
                f"{args.rate:g}/s": reference.step("ref-main", args.rate, args.seconds / 2),
                "max": reference.step("ref-max", None, args.ramp_seconds),
            }
        figures["load_average_after"] = procs.load_average()
    finally:
        processes.stop_all()
        stack.drop_database(db_url)
    return figures


def format_report(f: dict) -> str:
    lines = [
        "",
        f"heartbeat ingest: {f['monitors']:,} heartbeat monitors, gunicorn "
        f"{f['web_workers']} workers (deploy/gunicorn.conf.py), wrk -c{f['connections']} "
        f"(2 threads, its own process); load average {f['load_average_before']} before, "
        f"{f.get('load_average_after', '?')} after",
        "",
        f"{'step':<10} {'pings/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'errors':>6} {'web CPU ms':>10} {'PG CPU ms':>9} {'wrk CPU s':>9}",
    ]

    def row(label: str, r: dict) -> str:
        return (
            f"{label:<10} {r['rate']:>8.0f} {r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['max_ms']:>7.1f} {r['errors']:>6} "
            f"{r.get('web_cpu_ms') or 0:>10.3f} {r.get('postgresql_cpu_ms') or 0:>9.3f} "
            f"{r['wrk_cpu_s']:>9.1f}"
        )

    for label, result in f["ping"].items():
        lines.append(row(label, result))
    total = sum(r["requests"] - r["errors"] for r in f["ping"].values())
    lines.append(
        f"rows stored: {f['rows_stored']:,} for {total:,} pings answered in the measured steps "
        f"(plus calibration runs); evaluation messages queued: {f['evaluation_messages']}"
    )
    if "reference" in f:
        lines.append("")
        lines.append("raw reference: a trivial WSGI app (bench/trivial_wsgi.py), same gunicorn")
        for label, result in f["reference"].items():
            lines.append(row(label, result))
        main = next(iter(f["ping"].values()))
        ref_main = next(iter(f["reference"].values()))
        ping_max = f["ping"].get("max")
        if ping_max:
            lines.append(
                f"ceiling: {ping_max['rate']:.0f} pings/s = "
                f"{ping_max['rate'] / f['reference']['max']['rate']:.2f} x the raw reference's "
                f"{f['reference']['max']['rate']:.0f}/s"
            )
        lines.append(
            f"web CPU per ping at the main rate: {main['web_cpu_ms']:.3f} ms = "
            f"{main['web_cpu_ms'] / ref_main['web_cpu_ms']:.1f} x the reference's "
            f"{ref_main['web_cpu_ms']:.3f} ms; + PostgreSQL {main['postgresql_cpu_ms']:.3f} ms"
        )
    lines.append(f"logs: {f['logs']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run(args)
    print(format_report(figures))
    main_step = next(iter(figures["ping"].values()))
    print(json.dumps(figures, indent=None, default=str), file=sys.stderr)
    return 0 if main_step["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
