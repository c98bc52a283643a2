"""Maintenance benchmark: failing monitors inside a window send nothing; still down after it,
they alert within one interval (+ 5 s) of the window's end.

    python -m bench.maintenance [--monitors 100] [--interval 5] [--window 30]

The real stack (beat, a gevent worker for checks and one for incidents and notifications, a
private Redis, a database of its own named ``<DATABASE_URL's name>_maintenance``) checks
``--monitors`` monitors whose target refuses connections (a closed port on 127.0.0.1), every
``--interval`` seconds, with a failure threshold of 2. A maintenance window covering the whole
team is active from before their first check until ``--window`` seconds later. A webhook
receiver counts messages.

Printed:
- messages received while the window was active (must be 0), incidents opened in it (0),
  and the checks stored meanwhile (checks keep running);
- after the window: how many monitors alerted, and the latest alert's delay after the
  window's end (must be at most one interval + 5 s).

Takes about ``window + 2 * interval + 30`` seconds (well under 5 minutes by default).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench import stack
from bench.procs import ProcessSet
from bench.receiver import WebhookReceiver

if TYPE_CHECKING:
    from incidents.models import MaintenanceWindow

SLACK_SECONDS = 5  # the bound: one interval + this


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=100)
    parser.add_argument("--interval", type=int, default=5, help="seconds between checks")
    parser.add_argument("--window", type=int, default=30, help="maintenance length, seconds")
    parser.add_argument("--settle", type=int, default=60, help="max wait after the window, s")
    parser.add_argument("--broker-url", default="", help="default: a private redis-server")
    parser.add_argument("--out-dir", default="bench/out")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--keep-database", action="store_true")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(f"[maintenance] {message}", file=sys.stderr, flush=True)


def seed(
    options: argparse.Namespace, *, receiver_url: str, window_seconds: int
) -> tuple[list[int], MaintenanceWindow]:
    """The team, its failing monitors (paused until the stack is up), a webhook channel and a
    whole-team maintenance window from now; returns (monitor ids, window)."""
    from accounts.services import user_register
    from incidents.maintenance import maintenance_window_create
    from monitors.models import Monitor
    from notifications.models import Channel
    from notifications.services import channel_create

    user = user_register(email="bench@example.com", password=secrets.token_urlsafe(16))
    team = user.personal_team
    closed = stack.free_port()  # nothing listens there: every check fails (refused)
    monitors = Monitor.objects.bulk_create(
        [
            Monitor(
                team=team,
                name=f"maintained {index:04d}",
                url=f"http://127.0.0.1:{closed}/health/{index}",
                interval=options.interval,
                timeout=min(3.0, options.interval - 0.5),
                failure_threshold=2,
                success_threshold=1,
                is_active=False,
            )
            for index in range(options.monitors)
        ]
    )
    ids = sorted(m.id for m in monitors)
    channel = channel_create(
        team=team, name="bench receiver", kind="webhook", config={"url": receiver_url}
    )
    through = Channel.monitors.through
    through.objects.bulk_create([through(channel_id=channel.id, monitor_id=i) for i in ids])
    now = datetime.now(UTC)
    window = maintenance_window_create(
        team=team,
        name="bench maintenance",
        starts_at=now,
        ends_at=now + timedelta(seconds=window_seconds),
        whole_team=True,
    )
    return ids, window


def wait_for_workers(count: int, *, timeout: float, processes: ProcessSet) -> None:
    """Until ``count`` workers answer a ping (their logs stay at WARNING: logging every task
    would cost the very CPU this measures)."""
    from healthmon.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
    raise RuntimeError(f"{count} workers did not answer within {timeout:g}s")


def activate(ids: list[int], *, interval: int) -> None:
    """First checks spread over one interval from now, as a running install has them."""
    from monitors.models import Monitor

    now = datetime.now(UTC)
    for rank, monitor_id in enumerate(ids):
        Monitor.objects.filter(id=monitor_id).update(
            is_active=True, next_check_at=now + timedelta(seconds=rank * interval / len(ids))
        )


def run(options: argparse.Namespace) -> dict:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = Path(options.out_dir) / f"maintenance-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("maintenance")
    processes = ProcessSet(log_dir)
    receiver = WebhookReceiver().start()
    figures: dict = {"monitors": options.monitors, "interval_s": options.interval}
    try:
        _say(f"database {stack.database_name(db_url)}: create and migrate")
        stack.recreate_database(db_url)
        broker_url = options.broker_url or stack.start_redis(processes)
        stack.purge_queues(broker_url)
        stack.configure_django(db_url, broker_url, MONITOR_MIN_INTERVAL="1")
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        env = stack.child_env(
            db_url,
            broker_url,
            LOG_LEVEL=options.log_level.upper(),
            MONITOR_MIN_INTERVAL="1",
            NOTIFY_ORDER_RECHECK="1",
        )
        # As bench.scale lays them out: checks on one gevent worker, evaluation and delivery
        # on another, so a slow check batch never delays an alert.
        workers = [
            stack.celery_worker(
                processes,
                name,
                queues=queues,
                pool="gevent",
                concurrency=concurrency,
                env=env,
                log_level=options.log_level,
            )
            for name, queues, concurrency in (
                ("checks", "checks", 100),
                ("events", "incidents,notifications", 50),
            )
        ]
        wait_for_workers(len(workers), timeout=180, processes=processes)
        stack.celery_beat(processes, env=env, log_level=options.log_level)
        # The window starts now and lasts past the stack's start-up and the monitors' first
        # few checks: ``--window`` seconds from their activation.
        ids, window = seed(options, receiver_url=receiver.url, window_seconds=options.window + 5)
        activate(ids, interval=options.interval)
        _say(f"{len(ids)} failing monitors; window until {window.ends_at:%H:%M:%S} UTC")
        figures.update(
            measure(options, ids=ids, window=window, receiver=receiver, processes=processes)
        )
    finally:
        processes.stop_all()
        receiver.stop()
        if not options.keep_database:
            stack.drop_database(db_url)
    return figures


def measure(
    options: argparse.Namespace,
    *,
    ids: list[int],
    window: MaintenanceWindow,
    receiver: WebhookReceiver,
    processes: ProcessSet,
) -> dict:
    from incidents.models import Incident
    from monitors.models import CheckResult

    assert window.starts_at is not None and window.ends_at is not None  # one-off
    end = window.ends_at.timestamp()
    while time.time() < end:
        processes.check_alive()
        time.sleep(0.5)
    during_messages = sum(1 for a in receiver.alerts() if a.received_at < end)
    opened_during = Incident.objects.filter(opened_at__lt=window.ends_at).count()
    checks_during = CheckResult.objects.filter(
        monitor_id__in=ids, checked_at__gte=window.starts_at, checked_at__lt=window.ends_at
    ).count()
    _say(f"window over: {checks_during} checks stored, {during_messages} messages")
    deadline = time.time() + options.settle
    while time.time() < deadline:
        processes.check_alive()
        opened = {a.monitor_id for a in receiver.alerts() if a.event == "incident.opened"}
        if len(opened) >= len(ids):
            break
        time.sleep(0.5)
    alerts = [a for a in receiver.alerts() if a.event == "incident.opened"]
    # Where the time went: the incident opens at the first failing check after the window
    # (check cadence), the alert follows (evaluation and delivery).
    opened_after = sorted(
        (at - window.ends_at).total_seconds()
        for at in Incident.objects.values_list("opened_at", flat=True)
    )
    delays = sorted(a.received_at - end for a in alerts if a.received_at >= end)
    bound = options.interval + SLACK_SECONDS
    latest = round(delays[-1], 2) if delays else None
    return {
        "window_s": round(end - window.starts_at.timestamp(), 1),
        "checks_during_window": checks_during,
        "messages_during_window": during_messages,
        "incidents_opened_during_window": opened_during,
        "monitors_alerted_after": len({a.monitor_id for a in alerts}),
        "messages_after": len(alerts),
        "latest_alert_delay_s": latest,
        "median_alert_delay_s": round(delays[len(delays) // 2], 2) if delays else None,
        "incidents_opened_after": len(opened_after),
        "latest_opened_after_end_s": round(opened_after[-1], 2) if opened_after else None,
        "bound_s": bound,
        "ok": during_messages == 0
        and opened_during == 0
        and len({a.monitor_id for a in alerts}) == len(ids)
        and latest is not None
        and latest <= bound,
    }


def format_report(figures: dict) -> str:
    return "\n".join(
        [
            f"Maintenance: {figures['monitors']} failing monitors, checked every "
            f"{figures['interval_s']} s, failure threshold 2",
            f"  inside the window ({figures['window_s']} s): "
            f"{figures['checks_during_window']} checks stored, "
            f"{figures['messages_during_window']} messages sent (must be 0), "
            f"{figures['incidents_opened_during_window']} incidents opened",
            f"  after the window: {figures['monitors_alerted_after']} monitors alerted "
            f"({figures['messages_after']} messages); alert delay after the window's end: "
            f"median {figures['median_alert_delay_s']} s, latest "
            f"{figures['latest_alert_delay_s']} s (must be <= {figures['bound_s']} s); "
            f"{figures['incidents_opened_after']} incidents opened, the latest "
            f"{figures['latest_opened_after_end_s']} s after the end (its check's time)",
            f"  {'PASS' if figures['ok'] else 'FAIL'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    figures = run(options)
    print(format_report(figures), flush=True)
    print(f"  total {time.monotonic() - started:.0f} s", flush=True)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
