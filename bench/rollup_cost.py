"""What history costs: rolling up, pruning, and reading stats at the scale of 10,000 monitors.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthmon \\
        python -m bench.rollup_cost [--monitors 10000] [--rate 333] [--rounds 12]

A fresh database ``<DATABASE_URL name>_bench_rollups`` (dropped and migrated) gets
``--monitors`` monitors. Then, per round, the check results of 5 seconds at ``--rate``
checks/s are inserted (random monitors, response times and a few failures) and merged into
the rollups once, exactly as the periodic task does (``rollup_batch``). The merge is timed:
wall time, this process's CPU and the PostgreSQL backend's CPU (from /proc), per result.

Then the read side: 90 days of daily and 7 days of hourly rollups per monitor are
synthesized in SQL, and the stats of random monitors over each window, the overview's uptime
of a page of 50 monitors and a status page's 90-day bars are timed. Last, a prune of raw
results past the retention is timed per deleted row.

This is a benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

from bench import procs, stack
from lib.encryption import development_key

CPU_BUDGET_MS_PER_CHECK = 2.6


def _backend_cpu_s(pid: int) -> float:
    stat = procs.read_stat(pid)
    return stat.cpu_ticks / procs.CLOCK_TICKS if stat else 0.0


def _timed(fn, repeat: int) -> tuple[float, float]:
    """p50 and p95 wall time in ms of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description="Cost of rollups, stats and pruning")
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=333, help="checks per second")
    parser.add_argument("--rounds", type=int, default=12, help="5-second rounds to roll up")
    parser.add_argument("--prune-rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database for a look")
    args = parser.parse_args()

    db_url = stack.database_url("bench_rollups")
    stack.recreate_database(db_url)
    os.environ.update(DATABASE_URL=db_url, DEBUG="false", LOG_LEVEL="WARNING", DB_POOL_MAX_SIZE="0")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 60)
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", development_key(os.environ["SECRET_KEY"]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Team
    from monitors.models import CheckResult, CheckStatus, Monitor
    from monitors.rollups import prune_history, rollup_batch
    from reports.stats import daily_bars, monitor_stats, uptime_by_monitor

    call_command("migrate", verbosity=0)
    team = Team.objects.create(name="bench")
    later = timezone.now() + timedelta(days=1)  # never due: results are generated
    monitors = Monitor.objects.bulk_create(
        Monitor(team=team, name=f"bench {i}", url=f"http://127.0.0.1/{i}", next_check_at=later)
        for i in range(args.monitors)
    )
    ids = [m.id for m in monitors]
    rng = random.Random(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    per_round = args.rate * 5
    print(f"rollups: {args.monitors} monitors, {per_round} results per 5-second round "
          f"({args.rate} checks/s), {args.rounds} rounds")  # fmt: skip
    now = timezone.now()
    totals = {"results": 0, "wall": 0.0, "cpu": 0.0, "db": 0.0}
    for round_number in range(args.rounds):
        at = now - timedelta(seconds=5 * (args.rounds - round_number))
        CheckResult.objects.bulk_create(
            CheckResult(
                monitor_id=rng.choice(ids),
                checked_at=at + timedelta(seconds=rng.uniform(0, 5)),
                status=CheckStatus.UP if rng.random() > 0.02 else CheckStatus.DOWN,
                status_code=200,
                response_time_ms=int(rng.lognormvariate(4.5, 0.6)),
            )
            for _ in range(per_round)
        )
        wall, cpu, db = time.perf_counter(), time.process_time(), _backend_cpu_s(backend)
        run = rollup_batch()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        db = _backend_cpu_s(backend) - db
        if round_number:  # the first round also creates the watermark and the day rows
            totals["results"] += run.results
            totals["wall"] += wall
            totals["cpu"] += cpu
            totals["db"] += db
    n = totals["results"] or 1
    per_result = (totals["cpu"] + totals["db"]) * 1000 / n
    print(f"  merge: {totals['wall'] * 1000 / n:.3f} ms wall per result, "
          f"{totals['cpu'] * 1000 / n:.3f} ms CPU in Python + "
          f"{totals['db'] * 1000 / n:.3f} ms in PostgreSQL = {per_result:.3f} ms CPU per check "
          f"({100 * per_result / CPU_BUDGET_MS_PER_CHECK:.1f}% of the "
          f"{CPU_BUDGET_MS_PER_CHECK} ms budget)")  # fmt: skip
    print(f"  one 5-second round: {totals['wall'] * 1000 / max(args.rounds - 1, 1):.0f} ms")

    # --- Reads at full history ----------------------------------------------------------
    started = time.perf_counter()
    buckets = ", ".join(f"latency_{i:02d}" for i in range(37))
    counts = ", ".join("3" if i in (8, 9, 10) else "0" for i in range(37))  # 99 of 50-100 ms
    with connection.cursor() as cursor:
        for period, count, step in (("day", 90, "1 day"), ("hour", 168, "1 hour")):
            truncate = "day" if period == "day" else "hour"
            cursor.execute(
                f"""
                INSERT INTO monitors_checkrollup (monitor_id, period, period_start, checks, up,
                    response_count, response_sum_ms, {buckets})
                SELECT m.id, %s, date_trunc('{truncate}', now() AT TIME ZONE 'UTC')
                       AT TIME ZONE 'UTC' - g * interval '{step}',
                       100, 99, 99, 99 * 90, {counts}
                FROM monitors_monitor m, generate_series(1, %s) g
                ON CONFLICT DO NOTHING
                """,  # noqa: S608 - constants only
                [period, count],
            )
        cursor.execute("ANALYZE monitors_checkrollup")
    rows = args.monitors * (90 + 168)
    print(f"reads: {rows:,} synthesized rollup rows in {time.perf_counter() - started:.0f} s")
    sample = [rng.choice(monitors) for _ in range(50)]
    for window in ("24h", "7d", "30d", "90d"):
        picks = iter(sample * 4)
        p50, p95 = _timed(lambda w=window, p=picks: monitor_stats(monitor=next(p), window=w), 50)
        print(f"  stats {window:>3}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    page = [m.id for m in sample]
    p50, p95 = _timed(lambda: uptime_by_monitor(page, "30d"), 20)
    print(f"  overview uptime 30d of 50 monitors: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    p50, p95 = _timed(lambda: daily_bars(page[:10], days=90), 20)
    print(f"  status page bars, 10 monitors x 90 days: p50 {p50:.1f} ms, p95 {p95:.1f} ms")

    # --- Pruning -------------------------------------------------------------------------
    old = now - timedelta(days=40)
    CheckResult.objects.bulk_create(
        (
            CheckResult(monitor_id=rng.choice(ids), checked_at=old, status=CheckStatus.UP)
            for _ in range(args.prune_rows)
        ),
        batch_size=5000,
    )
    while rollup_batch(batch_size=50_000).results:
        pass
    wall, db = time.perf_counter(), _backend_cpu_s(backend)
    pruned = prune_history()
    wall, db = time.perf_counter() - wall, _backend_cpu_s(backend) - db
    print(f"prune: {pruned.check_results:,} results in {wall:.1f} s "
          f"({pruned.check_results / wall:,.0f} rows/s, "
          f"{db * 1000 / max(pruned.check_results, 1):.3f} ms PostgreSQL CPU per row)")  # fmt: skip
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores)")
    connection.close()
    if not args.keep:
        stack.drop_database(db_url)


if __name__ == "__main__":
    main()
