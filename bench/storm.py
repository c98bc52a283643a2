"""Alert storm: 1,000 monitors behind one gateway, the gateway's outage, messages counted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/healthmon python -m bench.storm \\
        [--monitors 1000] [--interval 30] [--gateway-interval 2]

On the real stack (its own database ``<name>_storm``, a private Redis, beat, a check worker,
an incidents + notifications worker, two ``bench.target`` servers and a local webhook
receiver), with one webhook channel as the team's default on every monitor:

1. every child depends on the gateway; all are up;
2. the gateway's target and every child's target go down: messages received by the channel
   are counted for the whole outage, and every incident is accounted for (1 + N opened,
   N suppressed);
3. the gateway's target comes back while the children's stay down: the children's held
   incidents are released and alert (one message each unless channel grouping folds them).

Prints figures and asserts nothing; a phase that does not finish in time says so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import stack
from bench.procs import ProcessSet, wait_for_log
from bench.receiver import WebhookReceiver

EVENTS_CONCURRENCY = 8  # greenlets per incidents/notifications worker, one connection each


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Alert storm behind one gateway")
    parser.add_argument("--monitors", type=int, default=1000, help="children of the gateway")
    parser.add_argument("--interval", type=int, default=30, help="children's check interval (s)")
    parser.add_argument(
        "--gateway-interval", type=int, default=2, help="the gateway's check interval (s)"
    )
    parser.add_argument("--failure-threshold", type=int, default=2)
    parser.add_argument("--notification-workers", type=int, default=2)
    parser.add_argument("--broker-url", default="", help="default: a private redis-server")
    parser.add_argument("--out-dir", default=str(stack.ROOT / "bench" / "out"))
    parser.add_argument("--keep-database", action="store_true")
    return parser.parse_args(argv)


def start_target(processes: ProcessSet, name: str) -> int:
    argv = [sys.executable, "-m", "bench.target", "--port", "0", "--processes", "1"]
    managed = processes.start(
        name, argv, env=dict(os.environ), cwd=stack.ROOT, stdout=subprocess.PIPE
    )
    assert managed.popen.stdout is not None  # stdout=PIPE
    line = managed.popen.stdout.readline().decode()
    if not line.startswith("READY port="):
        processes.check_alive()
        raise RuntimeError(f"bench.target did not start: {line!r}")
    return int(line.split("=", 1)[1])


def control(port: int, action: str) -> float:
    moment = time.time()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_control/{action}", timeout=5):
        pass
    return moment


def seed(options: argparse.Namespace, *, gateway_port: int, children_port: int, hook: str):
    """The gateway, its children (paused until scheduled), the default channel on all."""
    from accounts.services import user_register
    from incidents.models import MonitorDependency
    from monitors.models import Monitor
    from notifications.models import Channel
    from notifications.services import channel_create

    user = user_register(email="storm@example.com", password=secrets.token_urlsafe(16))
    team = user.personal_team
    common = {"team": team, "timeout": 2.0, "failure_threshold": options.failure_threshold}
    gateway = Monitor.objects.create(
        name="gateway",
        url=f"http://127.0.0.1:{gateway_port}/flip/gateway",
        interval=options.gateway_interval,
        is_active=False,
        **common,
    )
    children = Monitor.objects.bulk_create(
        [
            Monitor(
                name=f"api {index:04d}",
                url=f"http://127.0.0.1:{children_port}/flip/{index}",
                interval=options.interval,
                is_active=False,
                **common,
            )
            for index in range(options.monitors)
        ],
        batch_size=2000,
    )
    MonitorDependency.objects.bulk_create(
        [MonitorDependency(child=child, parent=gateway) for child in children], batch_size=5000
    )
    channel = channel_create(
        team=team, name="storm receiver", kind="webhook", config={"url": hook}, is_default=True
    )
    through = Channel.monitors.through
    through.objects.bulk_create(
        [through(channel_id=channel.id, monitor_id=m.id) for m in [gateway, *children]],
        batch_size=5000,
    )
    return gateway, [child.id for child in children]


def schedule(gateway_id: int, interval: int) -> None:
    """Activate everything: the gateway now, the children evenly over one interval."""
    from django.db import connection
    from django.utils import timezone

    start = timezone.now() + timedelta(seconds=1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE monitors_monitor m SET is_active = true, next_check_at = %s + make_interval(
                secs => CASE WHEN m.id = %s THEN 0 ELSE (ranked.rank - 1) * %s::float8 / %s END)
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM monitors_monitor) ranked
            WHERE m.id = ranked.id
            """,
            [start, gateway_id, interval, max(1, ranked_count())],
        )


def ranked_count() -> int:
    from monitors.models import Monitor

    return Monitor.objects.count()


def wait_until(predicate, *, timeout: float, processes: ProcessSet, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        if predicate():
            return True
        time.sleep(0.5)
    say(f"NOT DONE within {timeout:.0f}s: {what}")
    return False


def deliveries_settled() -> bool:
    """No delivery left pending, failed or sending."""
    from notifications.models import Delivery, DeliveryStatus

    unsettled = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.SENDING)
    return not Delivery.objects.filter(status__in=unsettled).exists()


def settle(
    receiver: WebhookReceiver, processes: ProcessSet, *, quiet_for: float = 5.0, limit: float
) -> None:
    """Wait until deliveries are settled and no message arrived for ``quiet_for`` seconds."""
    last, since = receiver.arrivals, time.monotonic()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        processes.check_alive()
        time.sleep(0.5)
        if receiver.arrivals != last:
            last, since = receiver.arrivals, time.monotonic()
        elif time.monotonic() - since >= quiet_for and deliveries_settled():
            return
    say(f"NOT DONE: deliveries did not settle within {limit:.0f} s")


def run(options: argparse.Namespace) -> dict:
    started = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = Path(options.out_dir) / f"storm-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    db_url = stack.database_url("storm")
    processes = ProcessSet(log_dir)
    receiver = WebhookReceiver().start()
    figures: dict = {"monitors": options.monitors, "logs": str(log_dir)}
    try:
        say(f"database {stack.database_name(db_url)}: create and migrate")
        stack.recreate_database(db_url)
        broker_url = options.broker_url or stack.start_redis(processes)
        stack.purge_queues(broker_url)
        stack.configure_django(db_url, broker_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from incidents.models import Incident, MonitorState
        from monitors.models import MonitorStatus

        gateway_port = start_target(processes, "target-gateway")
        children_port = start_target(processes, "target-children")
        gateway, _child_ids = seed(
            options, gateway_port=gateway_port, children_port=children_port, hook=receiver.url
        )
        env = stack.child_env(
            db_url,
            broker_url,
            pool_max=EVENTS_CONCURRENCY,
            LOG_LEVEL="INFO",  # the workers say "ready." at INFO
            MONITOR_MIN_INTERVAL=str(min(options.gateway_interval, options.interval)),
        )
        stack.celery_beat(processes, env=env, log_level="warning")
        workers = [
            stack.celery_worker(
                processes, "checks", queues="checks", pool="gevent", concurrency=100,
                env=env, log_level="info",
            ),
            # One worker per queue: on a shared machine each gets its own share of the CPU.
            stack.celery_worker(
                processes, "incidents", queues="incidents", pool="gevent",
                concurrency=EVENTS_CONCURRENCY, env=env, log_level="info",
            ),
            *(
                stack.celery_worker(
                    processes, f"notifications{n}", queues="notifications", pool="gevent",
                    concurrency=EVENTS_CONCURRENCY, env=env, log_level="info",
                )
                for n in range(options.notification_workers)
            ),
        ]  # fmt: skip
        for worker in workers:
            wait_for_log(worker, "ready.", timeout=180, processes=processes)
        schedule(gateway.id, options.interval)
        total = options.monitors + 1
        say(f"stack is up; waiting for {total} monitors to be checked up")
        wait_until(
            lambda: MonitorState.objects.filter(state=MonitorStatus.UP).count() == total,
            timeout=options.interval * 2 + 30,
            processes=processes,
            what="every monitor up",
        )

        # --- The outage ---------------------------------------------------------------------
        before = len(receiver.alerts())
        down_at = control(gateway_port, "down")
        control(children_port, "down")
        say("gateway and children down")
        outage_done = wait_until(
            lambda: Incident.objects.count() == total,
            timeout=options.interval * (options.failure_threshold + 2) + 60,
            processes=processes,
            what=f"{total} incidents opened",
        )
        settle(receiver, processes, limit=120)
        outage = receiver.alerts()[before:]
        incidents = Incident.objects.all()
        figures["outage"] = {
            "seconds_to_last_incident": round(
                max(i.opened_at for i in incidents).timestamp() - down_at, 1
            )
            if outage_done
            else None,
            "messages": len(outage),
            "by_event": _by_event(outage),
            "incidents": incidents.count(),
            "suppressed": sum(1 for i in incidents if i.is_suppressed),
            "gateway_suppressed": Incident.objects.get(monitor=gateway).is_suppressed,
            "covers": next((a for a in outage if a.monitor_id == gateway.id), None) is not None
            and _covers(gateway.id),
        }

        # --- The gateway recovers, the children stay down -----------------------------------
        before = len(receiver.alerts())
        up_at = control(gateway_port, "up")
        say("gateway up, children still down")
        wait_until(
            lambda: (
                Incident.objects.filter(monitor=gateway, resolved_at__isnull=False).exists()
                and Incident.objects.filter(released_at__isnull=False).count() == options.monitors
            ),
            timeout=options.interval + 90,  # a child missed by the release: its next check
            processes=processes,
            what="gateway resolved and every child released",
        )
        settle(receiver, processes, limit=300)
        recovery = receiver.alerts()[before:]
        figures["recovery_seconds"] = round(time.time() - up_at, 1)
        figures["recovery"] = {
            "messages": len(recovery),
            "by_event": _by_event(recovery),
            "released": Incident.objects.filter(released_at__isnull=False).count(),
            "children_alerted": len(
                {a.incident_id for a in recovery if a.event == "incident.opened"}
            ),
        }
        figures["messages_per_incident_over_everything"] = len(receiver.alerts()) / total
    finally:
        processes.stop_all()
        receiver.stop()
        if not options.keep_database:
            from django.conf import settings

            if settings.configured:
                from django.db import connections

                connections.close_all()
            with contextlib.suppress(Exception):
                stack.drop_database(db_url)
    figures["total_seconds"] = round(time.time() - started, 1)
    return figures


def _by_event(alerts) -> dict[str, int]:
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert.event] = counts.get(alert.event, 0) + 1
    return dict(sorted(counts.items()))


def _covers(gateway_id: int) -> int | None:
    from notifications.models import Delivery

    delivery = Delivery.objects.filter(incident__monitor_id=gateway_id, event="opened").first()
    return delivery.payload.get("covers_dependents") if delivery else None


def format_report(f: dict) -> str:
    outage, recovery = f.get("outage", {}), f.get("recovery", {})
    n = f["monitors"]
    lines = [
        "",
        f"healthmon alert storm: 1 gateway + {n:,} dependent monitors, one webhook channel",
        f"  outage (gateway and all children down): {outage.get('messages')} messages "
        f"to the channel (target <= 3; without dependencies {n + 1:,}) {outage.get('by_event')}",
        f"    incidents: {outage.get('incidents')} opened (expected {n + 1:,}), "
        f"{outage.get('suppressed')} suppressed (expected {n:,}); gateway suppressed: "
        f"{outage.get('gateway_suppressed')}; its alert covers {outage.get('covers')} "
        "dependent monitors",
        f"    last incident opened {outage.get('seconds_to_last_incident')} s after the outage",
        f"  gateway recovers, children still down: {recovery.get('messages')} messages "
        f"{recovery.get('by_event')}",
        f"    children released: {recovery.get('released')} of {n:,}; their alerts received "
        f"{f.get('recovery_seconds')} s after the gateway came back: "
        f"{recovery.get('children_alerted')} (one message each: per-channel grouping is not "
        "part of this build)",
        f"  total {f['total_seconds']} s; logs in {f['logs']}",
    ]
    return "\n".join(lines)


def say(message: str) -> None:
    print(f"[storm {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    figures = run(parse_args(argv))
    print(format_report(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
