"""API latency under load: 10,000 monitors, 10 million check rows, wrk in its own process.

    python -m bench.api_load [--monitors 10000] [--checks 10000000] [--seconds 20]
                             [--connections 4] [--reseed]

1. Seeds ``<DATABASE_URL name>_api`` once (kept between runs; ``--reseed`` rebuilds it):
   one team with N monitors, ``--checks`` check results (every 30 s back from now, 1% failing)
   inserted by ``generate_series`` with the secondary indexes built afterwards, rolled up by
   the project's own rollup SQL, plus 7 days of hourly and 90 days of daily rollups before
   them and a few incidents per monitor (what a year-old install carries).
2. Starts gunicorn exactly as deployed (deploy/gunicorn.conf.py, production settings).
3. For each endpoint, runs ``wrk`` (Debian: ``apt-get install wrk``) with a Lua script that
   walks random monitor ids and sends a JWT, and prints requests/s and p50/p95/p99.

Endpoints: the monitor list (first page, a filtered page, a deep page), monitor detail,
its stats (24h, 30d windows) and its latest checks.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench import procs, stack
from bench.procs import Group, ProcessSet

TARGET_P95_MS = 50.0
CHUNK_STEPS = 50  # check rounds per INSERT statement (50 x 10,000 = 500,000 rows)

LUA = r"""
local paths = {}
local index = 0
local token = "%(token)s"
init = function(args)
  for line in io.lines("%(paths_file)s") do paths[#paths + 1] = line end
  index = math.random(#paths)
end
request = function()
  index = index %% #paths + 1
  return wrk.format("GET", paths[index], {["Authorization"] = "Bearer " .. token%(extra_headers)s})
end
done = function(summary, latency, requests)
  local out = {
    requests = summary.requests, duration_us = summary.duration,
    status_errors = summary.errors.status, socket_errors = summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout,
    p50_us = latency:percentile(50), p95_us = latency:percentile(95),
    p99_us = latency:percentile(99), max_us = latency.max, mean_us = latency.mean,
  }
  local parts = {}
  for k, v in pairs(out) do parts[#parts + 1] = string.format('"%%s": %%s', k, v) end
  io.write("WRK_JSON {" .. table.concat(parts, ", ") .. "}\n")
end
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__)
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=10_000_000, help="check result rows")
    parser.add_argument("--seconds", type=float, default=20, help="wrk duration per endpoint")
    parser.add_argument("--connections", type=int, default=2, help="wrk connections")
    parser.add_argument(
        "--close",
        action="store_true",
        help="Connection: close on every request (clients without keepalive): requests then "
        "spread over gunicorn's workers instead of staying with the worker that accepted "
        "each wrk connection",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn WEB_CONCURRENCY")
    parser.add_argument("--db-name", default=None, help="default <DATABASE_URL name>_api")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded database")
    parser.add_argument("--only", default="", help="endpoints whose name contains this")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record the web workers (raw stacks)"
    )
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--out-dir", default=str(stack.ROOT / "bench" / "out"))
    return parser.parse_args(argv)


# --- Seeding --------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"[bench-api {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed_label(monitors: int, checks: int) -> str:
    return f"healthmon bench.api_load seed: monitors={monitors} checks={checks}"


def is_seeded(monitors: int, checks: int) -> bool:
    """Whether a complete seed of this size is there (the label is written last)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
        row = cursor.fetchone()
    return bool(row) and row[0] == seed_label(monitors, checks)


def mark_seeded(monitors: int, checks: int) -> None:
    from django.db import connection

    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON DATABASE {name} IS %s", [seed_label(monitors, checks)])


def seed(monitors: int, checks: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from accounts.services import user_register
    from monitors.models import Monitor

    started = time.monotonic()
    user = user_register(email="api-bench@example.com", password=secrets.token_urlsafe(16))
    team = user.personal_team
    later = timezone.now() + timedelta(days=1)  # rows to read, never checked
    Monitor.objects.bulk_create(
        [
            Monitor(
                team=team,
                name=f"service {index:05d} {random.choice(['api', 'web', 'auth', 'db'])}",
                url=f"https://svc{index}.example.com/health",
                interval=30,
                status=random.choices(["up", "down"], weights=[99, 1])[0],
                last_check_status="up",
                last_status_code=200,
                last_response_time_ms=random.randint(20, 400),
                next_check_at=later,
            )
            for index in range(monitors)
        ],
        batch_size=2000,
    )
    _say(f"{monitors} monitors")
    rounds = max(1, checks // monitors)
    with connection.cursor() as cursor:
        # Secondary indexes are built once at the end (much faster than 10M index inserts);
        # foreign-key triggers are skipped for the bulk load (replica role, superuser only).
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'monitors_checkresult' "
            "AND indexname NOT LIKE '%%_pkey'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")
        for first in range(0, rounds, CHUNK_STEPS):
            last = min(rounds, first + CHUNK_STEPS)
            # Oldest round first, all monitors per round: the physical order of a live install.
            cursor.execute(
                """
                INSERT INTO monitors_checkresult (monitor_id, checked_at, scheduled_for, status,
                    status_code, response_time_ms, phase, reason)
                SELECT m.id, at, at - interval '250 ms',
                       CASE WHEN r < 0.01 THEN 'down' ELSE 'up' END,
                       CASE WHEN r < 0.01 THEN 500 ELSE 200 END,
                       (15 + r * 1000 * r)::int,
                       CASE WHEN r < 0.01 THEN 'status' ELSE '' END,
                       CASE WHEN r < 0.01 THEN 'Expected status 200-299, got 500' ELSE '' END
                FROM generate_series(%s, %s, -1) AS k
                CROSS JOIN monitors_monitor m
                CROSS JOIN LATERAL (SELECT now() - k * interval '30 s'
                    - (m.id %% 30) * interval '1 s' AS at, random() AS r) x
                ORDER BY k DESC, m.id
                """,
                [rounds - first, rounds - last + 1],
            )
            _say(f"check results: {last * monitors:,} of {rounds * monitors:,}")
        cursor.execute("SET session_replication_role = DEFAULT")
        for name, definition in indexes:
            cursor.execute(definition)
            _say(f"index {name}")
    _seed_rollups(rounds)
    _seed_incidents(team.id)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    mark_seeded(monitors, checks)
    _say(f"seeded in {time.monotonic() - started:.0f}s")


def _seed_rollups(rounds: int) -> None:
    """The raw results through the project's rollup SQL; older history synthesized."""
    from django.db import connection

    from monitors import rollups
    from monitors.latency import BUCKET_FIELDS
    from monitors.models import CheckResult, RollupWatermark

    last_id = CheckResult.objects.order_by("-id").values_list("id", flat=True).first() or 0
    step = 1_000_000
    for after in range(0, last_id, step):
        rollups.merge_results_into_rollups(after_id=after, upto_id=min(last_id, after + step))
    RollupWatermark.objects.update_or_create(id=1, defaults={"last_id": last_id})
    _say("rollups of the raw results")
    oldest = timedelta(seconds=30 * rounds + 3600)
    buckets = ", ".join(f'"{name}"' for name in BUCKET_FIELDS)
    # Most checks in the 100-250 ms buckets: put every timed check in one middle bucket.
    middle = BUCKET_FIELDS[len(BUCKET_FIELDS) // 2]
    values = ", ".join("checks - 1" if n == middle else "0" for n in BUCKET_FIELDS)
    with connection.cursor() as cursor:
        for period, unit, count in (("hour", "hour", 7 * 24), ("day", "day", 90)):
            cursor.execute(
                f"""
                INSERT INTO monitors_checkrollup (monitor_id, period, period_start, checks, up,
                    response_count, response_sum_ms, {buckets})
                SELECT m.id, %s, date_trunc(%s, now() - %s) - k * %s::interval,
                       checks, checks - 1, checks - 1, (checks - 1) * 120, {values}
                FROM monitors_monitor m
                CROSS JOIN generate_series(1, %s) AS k
                CROSS JOIN (SELECT %s AS checks) c
                ON CONFLICT DO NOTHING
                """,  # noqa: S608 - column names are the model's constants
                [period, unit, oldest, f"1 {unit}", count, 120 if unit == "hour" else 2880],
            )
            _say(f"{count} older {period} rollups per monitor")


def _seed_incidents(team_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO incidents_incident (team_id, monitor_id, monitor_name, started_at,
                opened_at, resolved_at, resolution, cause, last_reason, failure_count)
            SELECT %s, m.id, m.name, t, t + interval '1 minute', t + interval '10 minutes',
                   'recovered', 'Expected status 200-299, got 500', '', 3
            FROM monitors_monitor m CROSS JOIN generate_series(1, 3) k
            CROSS JOIN LATERAL (SELECT now() - k * interval '9 days' AS t) x
            """,
            [team_id],
        )
        cursor.execute(
            """
            INSERT INTO incidents_incident (team_id, monitor_id, monitor_name, started_at,
                opened_at, resolution, cause, last_reason, failure_count)
            SELECT %s, id, name, now() - interval '5 minutes', now() - interval '4 minutes',
                   '', 'Expected status 200-299, got 500', '', 10
            FROM monitors_monitor WHERE status = 'down'
            """,
            [team_id],
        )
    _say("incidents")


# --- Load -----------------------------------------------------------------------------------


def endpoints(monitor_ids: list[int]) -> dict[str, list[str]]:
    sample = random.sample(monitor_ids, min(2000, len(monitor_ids)))
    pages = max(1, len(monitor_ids) // 50)
    base = "/api/v1/monitors/"
    return {
        "list (page 1)": [base],
        "list (status=up, random page)": [
            # 99% of the monitors are up: stay within the pages that exist.
            f"{base}?status=up&page={random.randint(1, max(1, pages * 9 // 10))}"
            for _ in range(200)
        ],
        "list (search)": [f"{base}?search=service+{i:03d}" for i in range(100)],
        "detail": [f"{base}{i}/" for i in sample],
        "stats 24h": [f"{base}{i}/stats/?window=24h" for i in sample],
        "stats 30d": [f"{base}{i}/stats/?window=30d" for i in sample],
        "checks (latest)": [f"{base}{i}/checks/" for i in sample],
    }


def run_wrk(
    url: str,
    paths: list[str],
    *,
    token: str,
    seconds: float,
    connections: int,
    work_dir: Path,
    name: str,
    close: bool = False,
) -> dict:
    slug = "".join(c if c.isalnum() else "-" for c in name)
    paths_file = work_dir / f"{slug}.paths"
    paths_file.write_text("\n".join(paths) + "\n")
    script = work_dir / f"{slug}.lua"
    extra = ', ["Connection"] = "close"' if close else ""
    script.write_text(LUA % {"token": token, "paths_file": paths_file, "extra_headers": extra})
    completed = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    (work_dir / f"{slug}.wrk.log").write_text(completed.stdout + completed.stderr)
    for line in completed.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line[len("WRK_JSON ") :])
            seconds_run = raw["duration_us"] / 1e6
            return {
                "requests_per_second": round(raw["requests"] / seconds_run, 1),
                "requests": raw["requests"],
                "errors": raw["status_errors"] + raw["socket_errors"],
                "p50_ms": round(raw["p50_us"] / 1000, 1),
                "p95_ms": round(raw["p95_us"] / 1000, 1),
                "p99_ms": round(raw["p99_us"] / 1000, 1),
                "max_ms": round(raw["max_us"] / 1000, 1),
            }
    raise RuntimeError(f"wrk printed no figures: {completed.stdout[-500:]} {completed.stderr}")


def _profile(pid: int, args: argparse.Namespace, work_dir: Path, name: str):
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    slug = "".join(c if c.isalnum() else "-" for c in name)
    argv = [
        py_spy, "record", "--format", "raw", "--rate", "200", "--subprocesses", "--nonblocking",
        "--duration", str(int(args.seconds)), "--pid", str(pid),
        "--output", str(work_dir / f"profile-{slug}.txt"),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    return procs.read_stat(backend).ppid


def probe_status(url: str, token: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def run(args: argparse.Namespace) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.api_load needs wrk (Debian/Ubuntu: apt-get install wrk)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work_dir = Path(args.out_dir) / f"api-{stamp}"
    work_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("api", name=args.db_name)
    processes = ProcessSet(work_dir)
    figures: dict = {
        "command": "python -m bench.api_load " + " ".join(sys.argv[1:]),
        "monitors": args.monitors,
        "check_rows": args.checks,
        "connections": args.connections,
        "connection_close": args.close,
        "load_average_before": procs.load_average(),
        "logs": str(work_dir),
    }
    try:
        fresh = args.reseed or not stack.database_exists(db_url)
        if fresh:
            stack.recreate_database(db_url)
        # No broker is needed to serve reads; the filesystem one keeps Redis out of it.
        stack.configure_django(db_url, "memory://")
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        if fresh or not is_seeded(args.monitors, args.checks):
            if not fresh:
                stack.recreate_database(db_url)
                call_command("migrate", verbosity=0, interactive=False)
            _say(f"seeding {args.monitors} monitors and {args.checks:,} check results")
            seed(args.monitors, args.checks)
        else:
            _say("reusing the seeded database (--reseed rebuilds it)")

        from rest_framework_simplejwt.tokens import RefreshToken

        from accounts.models import User
        from monitors.models import CheckResult, Monitor

        user = User.objects.get(email="api-bench@example.com")
        token = str(RefreshToken.for_user(user).access_token)
        figures["check_rows"] = CheckResult.objects.count()
        monitor_ids = list(Monitor.objects.values_list("id", flat=True))

        env = stack.child_env(db_url, "memory://", JWT_ACCESS_MINUTES="240", LOG_LEVEL="WARNING")
        port = stack.free_port()
        web = stack.gunicorn(processes, env=env, port=port, workers=args.web_workers)
        base = f"http://127.0.0.1:{port}"
        stack.wait_http(f"{base}/live", timeout=60, processes=processes)
        web_group = Group("web", lambda: procs.process_tree(web.popen.pid))
        postmaster = _postmaster_pid()
        database = stack.database_name(db_url)
        pg_group = Group("postgresql", lambda: procs.postgres_pids(postmaster, database))

        results = {}
        for name, paths in endpoints(monitor_ids).items():
            if args.only and args.only not in name:
                continue
            status = probe_status(base + paths[0], token)
            if status != 200:
                results[name] = {"error": f"HTTP {status} for {paths[0]}"}
                _say(f"{name}: HTTP {status}, skipped")
                continue
            for path in paths[:20]:  # warm the caches the way a running install has them
                probe_status(base + path, token)
            web_group.start_window(procs.uptime_ticks())
            pg_group.start_window(procs.uptime_ticks())
            profiler = _profile(web.popen.pid, args, work_dir, name) if args.profile else None
            result = run_wrk(
                base, paths, token=token, seconds=args.seconds,
                connections=args.connections, work_dir=work_dir, name=name,
                close=args.close,
            )  # fmt: skip
            web_group.sample(in_window=True)
            pg_group.sample(in_window=True)
            if profiler is not None:
                profiler.wait(timeout=60)
            result["web_cpu_ms_per_request"] = (
                round(web_group.cpu_seconds * 1000 / result["requests"], 2)
                if result["requests"]
                else None
            )
            result["db_cpu_ms_per_request"] = (
                round(pg_group.cpu_seconds * 1000 / result["requests"], 2)
                if result["requests"]
                else None
            )
            results[name] = result
            _say(f"{name}: p95 {result['p95_ms']} ms at {result['requests_per_second']}/s")
        figures["endpoints"] = results
        figures["load_average_after"] = procs.load_average()
    finally:
        processes.stop_all()
    return figures


def format_report(f: dict) -> str:
    lines = [
        "",
        f"healthmon API under load: {f['monitors']} monitors, {f['check_rows']:,} check rows, "
        f"wrk -c{f['connections']} (one thread, its own process"
        + (", Connection: close)" if f.get("connection_close") else ", keepalive)"),
        f"  command: {f['command']}",
        f"  load average: before {f['load_average_before']}, after {f.get('load_average_after')}",
        "",
        "  {:<32}{:>9}{:>9}{:>9}{:>9}{:>9}{:>8}{:>10}{:>10}".format(
            "endpoint",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "web CPU",
            "db CPU",
        ),
    ]
    for name, r in f["endpoints"].items():
        if "error" in r:
            lines.append(f"  {name:<32}{r['error']}")
            continue
        flag = "" if r["p95_ms"] < TARGET_P95_MS else "  (p95 over 50 ms)"
        lines.append(
            f"  {name:<32}{r['requests_per_second']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
            f"{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{r['errors']:>8}"
            f"{r['web_cpu_ms_per_request'] or 0:>10.2f}{r['db_cpu_ms_per_request'] or 0:>10.2f}"
            f"{flag}"
        )
    lines.append("  (CPU columns: ms of CPU per request in gunicorn and in PostgreSQL)")
    lines.append(f"  logs: {f['logs']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run(args)
    print(format_report(figures), flush=True)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
