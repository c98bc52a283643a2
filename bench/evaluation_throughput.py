"""How many check results per second the incident evaluation gets through, in one process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthmon \\
        python -m bench.evaluation_throughput [--monitors 2000] [--rounds 5] [--batch-size 25]

A fresh database ``<DATABASE_URL name>_bench_incidents`` (dropped and migrated) gets
``--monitors`` monitors and ``--rounds`` check results each (one per monitor per round,
``--failing`` of the monitors failing from round 2 on, so incidents open and results
count into them). Each round is evaluated exactly as the ``incidents`` queue does, one
``evaluate_check_results`` call per check batch of ``--batch-size`` ids, timed (wall
and this process's CPU). The first round also creates the monitors' state rows. No broker:
the after-commit notification messages are counted, not sent.

This is a benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

from bench import stack


def main() -> None:
    parser = argparse.ArgumentParser(description="Check results evaluated per second")
    parser.add_argument("--monitors", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--failing", type=float, default=0.1, help="share of failing monitors")
    args = parser.parse_args()

    db_url = stack.database_url("bench_incidents")
    stack.recreate_database(db_url)
    os.environ.update(DATABASE_URL=db_url, DEBUG="true", LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import Team
    from healthmon.celery import app
    from incidents.models import Incident
    from incidents.services import evaluate_check_results
    from monitors.models import CheckResult, CheckStatus, Monitor

    call_command("migrate", verbosity=0)
    sent = []
    app.send_task = lambda name, args=None, **kw: sent.append((name, args))  # no broker here

    team = Team.objects.create(name="bench")
    later = timezone.now() + timedelta(days=1)  # never due: results are fed in directly
    monitors = Monitor.objects.bulk_create(
        Monitor(
            team=team,
            name=f"bench {i}",
            url=f"http://127.0.0.1/{i}",
            failure_threshold=2,
            next_check_at=later,
        )
        for i in range(args.monitors)
    )
    failing = {m.id for m in monitors[: int(len(monitors) * args.failing)]}
    start = timezone.now() - timedelta(hours=1)
    load_before = os.getloadavg()[0]

    print(f"monitors: {args.monitors}, {len(failing)} failing from round 2; "
          f"batches of {args.batch_size}")  # fmt: skip
    total_results, total_wall, total_cpu = 0, 0.0, 0.0
    for round_number in range(args.rounds):
        checked_at = start + timedelta(seconds=30 * round_number)
        results = CheckResult.objects.bulk_create(
            CheckResult(
                monitor=m,
                checked_at=checked_at,
                status=CheckStatus.DOWN if round_number and m.id in failing else CheckStatus.UP,
                reason="HTTP 500" if round_number and m.id in failing else "",
            )
            for m in monitors
        )
        ids = [r.id for r in results]
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(ids), args.batch_size):
            evaluate_check_results(ids[i : i + args.batch_size])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"round {round_number + 1}: {len(ids) / wall:7,.0f} results/s, "
              f"{cpu * 1000 / len(ids):.2f} ms CPU per result (this process), "
              f"{wall * 1000 / (len(ids) / args.batch_size):.1f} ms per batch")  # fmt: skip
        if round_number:  # round 1 also creates the state rows
            total_results += len(ids)
            total_wall += wall
            total_cpu += cpu

    print(f"incidents open: {Incident.objects.filter(resolved_at=None).count()}, "
          f"notification messages: {len(sent)}")  # fmt: skip
    if total_results:
        print(f"steady state: {total_results / total_wall:,.0f} results/s, "
              f"{total_cpu * 1000 / total_results:.2f} ms CPU per result in Python "
              f"(PostgreSQL's share is the rest of the wall time)")  # fmt: skip
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (2 cores)")
    print("needed for 10,000 monitors at 30 s: 333 results/s")


if __name__ == "__main__":
    main()
