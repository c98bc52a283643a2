"""How many checks per second one gevent worker completes, next to the raw client ceiling.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthmon \\
        python -m bench.check_throughput [--checks 10000] [--concurrency 50] [--batch-size 25]

What runs (all on this machine, all traffic to 127.0.0.1):

1. a fast local target (``bench.target``, asyncio, in its own process);
2. a fresh database ``<DATABASE_URL name>_bench_checks`` (dropped and migrated) with
   ``--checks`` monitors pointing at the target, all due now;
3. the real dispatcher (``monitors.scheduling.dispatch_due_checks``) claims them and sends
   batches to a queue of their own on ``--broker``;
4. one real ``celery worker -P gevent`` checks them exactly as in production (fetch, judge,
   bulk store, one evaluation message per batch) -- timed from the first batch sent to the
   last result stored, with the worker's CPU time read from /proc;
5. in the same run, against the same target, ``bench.ceiling``: plain ``requests`` in a
   gevent pool, a fresh connection per request, no Celery, no database.

The ratio worker/ceiling is the cost of everything around the HTTP request.
This is a benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench import procs, stack

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    return procs.read_stat(pid).cpu_ticks / procs.CLOCK_TICKS


def start_target() -> tuple[subprocess.Popen, int]:
    target = subprocess.Popen(
        [sys.executable, "-m", "bench.target", "--port", "0", "--latency-ms", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    line = target.stdout.readline()
    if not line.startswith("READY port="):
        raise SystemExit(f"bench target did not start: {line!r}")
    return target, int(line.strip().split("=", 1)[1])


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description="Checks per second of one gevent worker")
    parser.add_argument("--checks", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=50, help="worker -c (batches)")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--pool", type=int, default=8, help="DB_POOL_MAX_SIZE of the worker")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    args = parser.parse_args()

    db_url = stack.database_url("bench_checks")
    stack.recreate_database(db_url)
    os.environ.update(
        DATABASE_URL=db_url,
        CELERY_BROKER_URL=args.broker,
        DEBUG="true",
        BLOCKED_NETWORKS=stack.BLOCKED_NETWORKS,  # the targets are on 127.0.0.1
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Count
    from django.utils import timezone

    from accounts.models import Team
    from healthmon.celery import app
    from monitors.models import CheckResult, Monitor
    from monitors.scheduling import dispatch_due_checks

    call_command("migrate", verbosity=0)
    queue = f"bench-checks-{os.getpid()}"
    load_before = f"{os.getloadavg()[0]:.2f}"
    target, port = start_target()
    worker = None
    try:
        team = Team.objects.create(name="bench")
        due = timezone.now() - timedelta(seconds=1)
        Monitor.objects.bulk_create(
            (
                Monitor(
                    team=team,
                    name=f"bench {i}",
                    url=f"http://127.0.0.1:{port}/m/{i}",
                    interval=3600,
                    timeout=10,
                    next_check_at=due,
                )
                for i in range(args.checks)
            ),
            batch_size=2000,
        )

        env = dict(os.environ, DB_POOL_MAX_SIZE=str(args.pool), LOG_LEVEL="WARNING")
        log_path = ROOT / "bench" / "out" / "check_throughput-worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "healthmon", "worker", "-P", "gevent",
             "-c", str(args.concurrency), "-Q", queue, "--without-mingle", "--without-gossip",
             "--without-heartbeat", "-l", "warning", "-n", f"bench-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        # A ping round trip proves the worker consumes (celery's "ready." is logged at INFO).
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[f"bench-{os.getpid()}@{os.uname().nodename}"],
                                   timeout=1.0):  # fmt: skip
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start; see {log_path}")

        from monitors.tasks import run_check_batch

        def send(items: list, expires) -> None:
            run_check_batch.apply_async(args=[items], expires=expires, queue=queue)

        cpu_before = cpu_seconds(worker.pid)
        started = time.monotonic()
        dispatched = 0
        while dispatched < args.checks:
            dispatched += dispatch_due_checks(
                now=timezone.now(), batch_size=args.batch_size, time_budget=5.0, send=send
            )
        dispatch_seconds = time.monotonic() - started
        stored = 0
        while stored < args.checks:
            time.sleep(0.25)
            stored = CheckResult.objects.count()
            if worker.poll() is not None:
                raise SystemExit(f"worker died; see {log_path}")
        elapsed = time.monotonic() - started
        worker_cpu = cpu_seconds(worker.pid) - cpu_before
        statuses = dict(
            CheckResult.objects.order_by().values_list("status").annotate(n=Count("id"))
        )
        stop(worker)
        worker = None

        concurrent_checks = args.concurrency * args.batch_size
        ceiling = json.loads(
            subprocess.run(
                [sys.executable, "-m", "bench.ceiling", "--url", f"http://127.0.0.1:{port}/m/",
                 "--concurrency", str(min(concurrent_checks, 200)),
                 "--seconds", str(args.ceiling_seconds)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1]
        )  # fmt: skip
    finally:
        if worker is not None:
            stop(worker)
        stop(target)
        with app.connection_for_write() as conn:
            for name in (queue, "incidents"):  # evaluation messages nobody consumed here
                conn.default_channel.queue_delete(name)

    rate = args.checks / elapsed
    print(f"load average:      {load_before} before, {os.getloadavg()[0]:.2f} after (2 cores)")
    print(f"checks:            {args.checks} (results: {statuses})")
    print(f"worker:            -P gevent -c {args.concurrency}, {args.batch_size} per batch, "
          f"DB pool {args.pool}")  # fmt: skip
    print(f"dispatch:          {args.checks / dispatch_seconds:,.0f} claims/s "
          f"({dispatch_seconds:.2f} s for all)")  # fmt: skip
    print(f"worker throughput: {rate:,.0f} checks/s ({elapsed:.1f} s)")
    print(f"worker CPU:        {worker_cpu:.1f} s = {worker_cpu / elapsed * 100:.0f}% of one core, "
          f"{worker_cpu * 1000 / args.checks:.2f} ms per check")  # fmt: skip
    print(f"raw client:        {ceiling['per_second']:,.0f} requests/s "
          f"(requests + gevent, fresh connection each, {ceiling['cpu_ms_per_request']} ms CPU "
          f"per request, {ceiling['errors']} errors)")  # fmt: skip
    share = rate / ceiling["per_second"] * 100
    cpu_share = ceiling["cpu_ms_per_request"] / (worker_cpu * 1000 / args.checks) * 100
    print(f"ratio:             worker = {share:.0f}% of the raw ceiling in checks/s, "
          f"{cpu_share:.0f}% in CPU per check")  # fmt: skip
    print(f"one full core:     ~{args.checks / worker_cpu:,.0f} checks/s if the worker's CPU "
          "were the only limit (other load on this machine starves it otherwise)")  # fmt: skip
    print("needed for 10,000 monitors at 30 s: 333 checks/s")


if __name__ == "__main__":
    main()
