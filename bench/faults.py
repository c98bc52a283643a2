"""Fault injection: is an alert ever lost, sent twice, out of order or stuck when a part of
the stack dies mid-delivery?

``python -m bench.faults`` (or ``make bench-faults``, a few minutes) starts everything it
uses, privately: a PostgreSQL cluster (initdb into a temporary directory, pg_ctl on a free
port), a redis-server with an append-only file on a free port, a worker and beat as the
Procfile starts them, a webhook receiver and a target to check, both on 127.0.0.1. Then,
for each scenario, a fresh group of monitors goes down (incidents open, alerts go out), the
fault strikes while alerts are in flight, the monitors come back (incidents resolve), and
once things settle it counts, from the receiver's log and the database:

- lost: an incident event with no 2xx at the receiver and no dead letter to replay;
- duplicated: an Idempotency-Key answered 2xx more than once (a 2xx counts only if the
  sender was still connected to read it: ``bench/receiver.py``);
- out of order: "resolved" answered 2xx before "opened", per incident (one channel);
- stuck: deliveries neither delivered nor dead after the settle time;
- duplicate incidents: more than one incident per monitor for its one outage.

Two more columns explain the others and are not failures: "resent", alerts accepted after
an earlier arrival of the same key whose sender hung up before the answer (at-least-once
delivery at work: the receiver acts on that key once); "superseded", replayed events that
the product skipped because a later event of the incident had reached the receiver first
(README, "In order"). A superseded event is not lost only if that later event was answered
2xx: the receiver holds the incident's newest state, which carries the earlier one's fields.

It exits 1 if any count is not 0. Scenarios: ``worker-kill`` (kill -9 of the worker),
``broker-kill`` (kill -9 of redis, restarted from its AOF), ``broker-wipe`` (the same, but
restarted empty: queued and unacknowledged messages are gone), ``db-crash`` (``pg_ctl stop
-m immediate``, then start), ``receiver-outage`` (the receiver answers 500 for N seconds,
then the dead letters, if any, are replayed). Intervals, thresholds and retry backoffs are small
(environment of the children, below) so that a scenario takes tens of seconds.
"""

from __future__ import annotations

import argparse
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import stack
from bench.procs import Managed, ProcessSet, wait_for_log
from bench.receiver import Alert, WebhookReceiver

SCENARIOS = ("worker-kill", "broker-kill", "broker-wipe", "db-crash", "receiver-outage")
EVENTS = ("opened", "resolved")
# Small everything, so each scenario takes seconds: checks every 2 s, one failure opens
# and one success resolves an incident, retries after 0-2 s, five of them before the dead
# letter, a "sending" row taken over after 10 s (the setting's minimum) by the sweep that
# runs every 2 s, and a later event held behind an earlier one looks again every second.
CHILD_ENV = {
    "MONITOR_MIN_INTERVAL": "1",
    "NOTIFY_RETRY_BACKOFF": "1",
    "NOTIFY_RETRY_BACKOFF_MAX": "2",
    "NOTIFY_MAX_RETRIES": "5",
    "NOTIFY_SENDING_LEASE": "10",
    "NOTIFY_SWEEP_INTERVAL": "2",
    "NOTIFY_ORDER_RECHECK": "1",
    "NOTIFY_STALLED_AFTER": "60",
    "NOTIFY_TIMEOUT": "5",
    "HEARTBEAT_INTERVAL": "1",
    "DB_POOL_TIMEOUT": "3",
}
INTERVAL = 2


@dataclass
class Counts:
    scenario: str
    incidents: int = 0
    alerts_owed: int = 0  # incident events that should reach the receiver
    dead_letters: int = 0
    replayed: int = 0
    resent: int = 0  # not a failure: a key sent again after its sender hung up unanswered
    superseded: int = 0  # not a failure: replayed, skipped after a later event was delivered
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    stuck: int = 0
    duplicate_incidents: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return (
            self.lost + self.duplicated + self.out_of_order + self.stuck + self.duplicate_incidents
        )


# --- Private PostgreSQL ----------------------------------------------------------------------


class PrivatePostgres:
    """A throw-away cluster: initdb into ``directory``, pg_ctl on ``port``, trust auth on
    127.0.0.1 only. As root, the server runs as the ``postgres`` user (initdb refuses root)."""

    def __init__(self, directory: Path, port: int) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        found = shutil.which("pg_ctl")
        if not binaries and found is None:
            raise SystemExit("bench: PostgreSQL server binaries (pg_ctl, initdb) not found")
        self.bin = Path(binaries[-1] if binaries else found).parent
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/healthmon"

    def _run(self, *argv: str) -> None:
        subprocess.run(
            [*self.as_user, *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "healthmon")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c max_connections=200 -c fsync=off"  # a crash of the server, not of the machine
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.directory / "server.log"), "-o", options, "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


# --- The stack -------------------------------------------------------------------------------


class Stack:
    def __init__(self, work_dir: Path, log_level: str) -> None:
        self.work_dir = work_dir
        self.log_level = log_level
        self.processes = ProcessSet(work_dir)
        self.postgres = PrivatePostgres(work_dir / "pg", stack.free_port())
        self.redis_dir = work_dir / "redis"
        self.redis_port = stack.free_port()
        self.receiver = WebhookReceiver().start()
        self.worker: Managed | None = None
        self.target_port = 0
        self.env: dict[str, str] = {}

    def start(self) -> None:
        say(f"postgres: initdb and start on port {self.postgres.port}")
        self.postgres.init()
        self.redis_dir.mkdir()
        broker_url = stack.start_redis(
            self.processes, port=self.redis_port, data_dir=self.redis_dir
        )
        # The same settings as the children: monitors are created here, at INTERVAL.
        stack.configure_django(self.postgres.url, broker_url, **CHILD_ENV)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        _, self.target_port = stack.start_target(
            self.processes, latency_ms=5, jitter_ms=0, failure_rate=0, workers=1
        )
        self.env = stack.child_env(
            self.postgres.url, broker_url, LOG_LEVEL=self.log_level.upper(), **CHILD_ENV
        )
        stack.celery_beat(self.processes, env=self.env, log_level=self.log_level)
        self.start_worker()
        say("stack is up")

    def start_worker(self) -> None:
        # As the Procfile: one gevent worker on every queue.
        self.worker = stack.celery_worker(
            self.processes, "worker", queues="checks,incidents,notifications", pool="gevent",
            concurrency=50, env=self.env, log_level=self.log_level,
        )  # fmt: skip
        wait_for_log(self.worker, "ready.", timeout=90, processes=self.processes)

    def kill(self, managed: Managed) -> None:
        """kill -9 of the process and its group; it leaves the set (no "exited" alarm)."""
        with _suppress_gone():
            os.killpg(managed.popen.pid, signal.SIGKILL)
        managed.popen.wait(timeout=10)
        self.processes.children.remove(managed)
        # Its log is kept beside the replacement's.
        managed.log_path.rename(managed.log_path.with_suffix(f".killed-{int(time.time())}.log"))

    def redis(self) -> Managed:
        return next(child for child in self.processes.children if child.name == "redis")

    def restart_redis(self) -> None:
        stack.start_redis(self.processes, port=self.redis_port, data_dir=self.redis_dir)

    def stop(self) -> None:
        self.processes.stop_all()
        self.receiver.stop()
        with _suppress_gone():
            self.postgres.stop("immediate")


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, traceback) -> bool:
        return kind is not None and issubclass(
            kind, (ProcessLookupError, subprocess.SubprocessError)
        )


# --- Monitors and incidents ------------------------------------------------------------------


def seed_channel(receiver_url: str):
    from accounts.services import user_register
    from notifications.services import channel_create

    user = user_register(email="faults@example.com", password=secrets.token_urlsafe(16))
    channel = channel_create(
        team=user.personal_team, name="fault receiver", kind="webhook",
        config={"url": receiver_url},
    )  # fmt: skip
    return channel


def seed_group(channel, *, scenario: str, size: int, target_port: int) -> list[int]:
    """``size`` monitors on the target's flip paths, checked every INTERVAL seconds from now."""
    from monitors.services import monitor_create

    monitors = [
        monitor_create(
            team=channel.team,
            name=f"{scenario} {index}",
            url=f"http://127.0.0.1:{target_port}/flip/{scenario}-{index}",
            interval=INTERVAL,
            timeout=1.5,
            failure_threshold=1,
            success_threshold=1,
            channels=[channel],
        )
        for index in range(size)
    ]
    return [monitor.id for monitor in monitors]


def pause_group(monitor_ids: list[int]) -> None:
    from monitors.models import Monitor
    from monitors.services import monitor_pause

    for monitor in Monitor.objects.filter(id__in=monitor_ids):
        monitor_pause(monitor=monitor)


def control(port: int, action: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_control/{action}", timeout=5):
        pass


def db_retrying(read: Callable, *, attempts: int = 30):
    """A read from the bench process that survives the database crash it causes."""
    from django.db import InterfaceError, OperationalError, connections

    for attempt in range(attempts):
        try:
            return read()
        except (OperationalError, InterfaceError):
            connections.close_all()
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    return None


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, stack_: Stack) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack_.processes.check_alive()
        if db_retrying(condition):
            return True
        time.sleep(0.5)
    say(f"  gave up waiting ({timeout:g}s) for {what}")
    return False


def incidents_of(monitor_ids: list[int]):
    from incidents.models import Incident

    return Incident.objects.filter(monitor_id__in=monitor_ids)


def all_open(monitor_ids: list[int]) -> Callable[[], bool]:
    def check() -> bool:
        opened = incidents_of(monitor_ids).values("monitor_id").distinct().count()
        return opened >= len(monitor_ids)

    return check


def all_resolved(monitor_ids: list[int]) -> Callable[[], bool]:
    return lambda: not incidents_of(monitor_ids).filter(resolved_at=None).exists()


def settled(monitor_ids: list[int]) -> Callable[[], bool]:
    from notifications.models import Delivery, DeliveryStatus

    done = [DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED]
    incidents = incidents_of(monitor_ids)

    def check() -> bool:
        owed = incidents.count() + incidents.exclude(resolved_at=None).count()
        deliveries = Delivery.objects.filter(incident__in=incidents)
        return deliveries.count() >= owed and not deliveries.exclude(status__in=done).exists()

    return check


def in_flight(receiver: WebhookReceiver, before: int) -> Callable[[], bool]:
    """True once more than ``before`` alerts arrived: faults strike mid-delivery (the
    receiver takes a second to answer, so the sender is waiting for it right now)."""
    return lambda: receiver.arrivals > before


# --- Counting --------------------------------------------------------------------------------


def count(scenario: str, monitor_ids: list[int], alerts: list[Alert]) -> Counts:
    from notifications.models import DeadLetter, Delivery, DeliveryStatus

    counts = Counts(scenario)
    incidents = list(incidents_of(monitor_ids).values("id", "monitor_id", "resolved_at"))
    incident_ids = {row["id"] for row in incidents}
    counts.incidents = len(incidents)
    per_monitor = Counter(row["monitor_id"] for row in incidents)
    counts.duplicate_incidents = sum(n - 1 for n in per_monitor.values() if n > 1)

    mine = [a for a in alerts if a.incident_id in incident_ids]
    ok = [a for a in mine if a.answered and 200 <= a.status < 300]
    answered = {(a.incident_id, a.event.removeprefix("incident.")) for a in ok}
    hung_up = {a.key for a in mine if not a.answered}
    counts.resent = sum(1 for a in ok if a.key in hung_up)
    newest_ok = defaultdict(int)  # incident -> highest sequence answered 2xx
    for alert in ok:
        newest_ok[alert.incident_id] = max(newest_ok[alert.incident_id], alert.sequence or 0)
    superseded = {
        (incident_id, event)
        for incident_id, event, sequence in Delivery.objects.filter(
            incident_id__in=incident_ids,
            status=DeliveryStatus.SKIPPED,
            last_error__startswith="Superseded",
        ).values_list("incident_id", "event", "sequence")
        if newest_ok[incident_id] > sequence
    }
    counts.superseded = len(superseded)
    dead = set(
        DeadLetter.objects.filter(
            delivery__incident_id__in=incident_ids, replayed_at=None
        ).values_list("delivery__incident_id", "delivery__event")
    )
    counts.dead_letters = DeadLetter.objects.filter(delivery__incident_id__in=incident_ids).count()
    counts.replayed = DeadLetter.objects.filter(
        delivery__incident_id__in=incident_ids, replayed_at__isnull=False
    ).count()
    owed = [(row["id"], "opened") for row in incidents]
    owed += [(row["id"], "resolved") for row in incidents if row["resolved_at"]]
    counts.alerts_owed = len(owed)
    lost = [pair for pair in owed if pair not in answered | dead | superseded]
    counts.lost = len(lost)

    keys = Counter(a.key for a in ok if a.key)
    counts.duplicated = sum(n - 1 for n in keys.values() if n > 1)

    first_ok: dict[int, dict[str, int]] = defaultdict(dict)
    for position, alert in enumerate(ok):
        first_ok[alert.incident_id].setdefault(alert.event.removeprefix("incident."), position)
    # "resolved" before "opened", or without it, unless "opened" was superseded (skipped,
    # never sent: the receiver got no older state after the newer one).
    counts.out_of_order = sum(
        1
        for incident_id, events in first_ok.items()
        if "resolved" in events
        and events["resolved"] < events.get("opened", len(ok))
        and (incident_id, "opened") not in superseded
    )

    counts.stuck = (
        Delivery.objects.filter(incident_id__in=incident_ids)
        .exclude(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED])
        .count()
    )
    if lost:
        counts.notes.append(f"lost (incident, event): {lost[:5]}")
    stuck_rows = list(
        Delivery.objects.filter(incident_id__in=incident_ids)
        .exclude(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED])
        .values_list("id", "event", "status", "attempts")[:5]
    )
    if stuck_rows:
        counts.notes.append(f"stuck (id, event, status, attempts): {stuck_rows}")
    return counts


# --- Scenarios -------------------------------------------------------------------------------


def kill_worker(s: Stack, options: argparse.Namespace) -> None:
    say("  kill -9 the worker mid-delivery, restart it 2 s later")
    s.kill(s.worker)
    time.sleep(2)
    s.start_worker()


def kill_broker(s: Stack, options: argparse.Namespace) -> None:
    say("  kill -9 redis mid-delivery, restart it from its AOF 3 s later")
    s.kill(s.redis())
    time.sleep(3)
    s.restart_redis()


def wipe_broker(s: Stack, options: argparse.Namespace) -> None:
    say("  kill -9 redis mid-delivery, restart it empty (its AOF deleted) 3 s later")
    s.kill(s.redis())
    shutil.rmtree(s.redis_dir)
    s.redis_dir.mkdir()
    time.sleep(3)
    s.restart_redis()


def crash_database(s: Stack, options: argparse.Namespace) -> None:
    say("  pg_ctl stop -m immediate mid-delivery, start 3 s later")
    s.postgres.stop("immediate")
    time.sleep(3)
    s.postgres.start()


FAULTS: dict[str, Callable[[Stack, argparse.Namespace], None]] = {
    "worker-kill": kill_worker,
    "broker-kill": kill_broker,
    "broker-wipe": wipe_broker,
    "db-crash": crash_database,
}


def run_scenario(s: Stack, channel, name: str, options: argparse.Namespace) -> Counts:
    say(f"scenario {name}")
    monitor_ids = seed_group(
        channel, scenario=name, size=options.monitors, target_port=s.target_port
    )
    before = len(s.receiver.alerts())
    at_fault = (0, 0)  # (arrived, answered) when the fault struck
    if name == "receiver-outage":
        say(f"  the receiver answers 500 for {options.outage:g}s; monitors go down and back up")
        s.receiver.fail_with(500)
        outage_ends = time.monotonic() + options.outage
        control(s.target_port, "down")
        wait_until(all_open(monitor_ids), timeout=30, what="incidents to open", stack_=s)
        control(s.target_port, "up")
        wait_until(all_resolved(monitor_ids), timeout=30, what="incidents to resolve", stack_=s)
        time.sleep(max(0.0, outage_ends - time.monotonic()))
        s.receiver.fail_with(None)
        say("  the receiver is back")
    else:
        s.receiver.slow_down(1.0)
        control(s.target_port, "down")
        arrived = s.receiver.arrivals
        wait_until(in_flight(s.receiver, arrived), timeout=30, what="an alert in flight", stack_=s)
        time.sleep(0.3)  # let the others of the wave arrive too
        at_fault = (s.receiver.arrivals - arrived, len(s.receiver.alerts()) - before)
        FAULTS[name](s, options)
        s.receiver.slow_down(0.0)
        wait_until(all_open(monitor_ids), timeout=60, what="incidents to open", stack_=s)
        control(s.target_port, "up")
        wait_until(all_resolved(monitor_ids), timeout=60, what="incidents to resolve", stack_=s)
    wait_until(settled(monitor_ids), timeout=options.settle, what="deliveries to settle", stack_=s)
    if name == "receiver-outage":
        replayed = replay_dead_letters(monitor_ids)
        if replayed:
            say(f"  replayed {replayed} dead letter(s)")
            wait_until(
                settled(monitor_ids), timeout=options.settle, what="replays to settle", stack_=s
            )
    time.sleep(2)  # a stray retry or duplicate would land by now
    pause_group(monitor_ids)
    alerts = s.receiver.alerts()
    counts = db_retrying(lambda: count(name, monitor_ids, alerts))
    if name in FAULTS:
        counts.notes.insert(
            0, f"the fault struck with {at_fault[0]} alert(s) arrived, {at_fault[1]} answered"
        )
    return counts


def replay_dead_letters(monitor_ids: list[int]) -> int:
    """What ``manage.py deadletters replay --all`` does, for this group's dead letters."""
    from notifications.deadletters import dead_letter_replay
    from notifications.selectors import dead_letters_to_replay

    waiting = (
        dead_letters_to_replay()
        .filter(delivery__incident__monitor_id__in=monitor_ids)
        .values_list("id", flat=True)
    )
    for dead_letter_id in list(waiting):
        dead_letter_replay(dead_letter_id=dead_letter_id, user=None)
    return len(waiting)


# --- Report ----------------------------------------------------------------------------------

# Column: heading in the report.
COLUMNS = {
    "incidents": "incidents",
    "alerts_owed": "alerts",
    "dead_letters": "dead",
    "replayed": "replayed",
    "resent": "resent",
    "superseded": "superseded",
    "lost": "LOST",
    "duplicated": "DUPLICATED",
    "out_of_order": "OUT-OF-ORDER",
    "stuck": "STUCK",
    "duplicate_incidents": "DUP-INCIDENTS",
}


def format_report(results: list[Counts]) -> str:
    lines = ["", "healthmon fault injection: counts after each scenario settled (CAPS must be 0)"]
    widths = {key: max(len(title), 3) + 2 for key, title in COLUMNS.items()}
    lines.append(
        "  " + "scenario".ljust(16) + "".join(t.rjust(widths[k]) for k, t in COLUMNS.items())
    )
    for counts in results:
        values = asdict(counts)
        cells = "".join(str(values[key]).rjust(widths[key]) for key in COLUMNS)
        lines.append("  " + counts.scenario.ljust(16) + cells)
    for counts in results:
        for note in counts.notes:
            lines.append(f"  {counts.scenario}: {note}")
    failed = [c.scenario for c in results if c.failures]
    lines.append(
        "  RESULT: " + (f"FAIL ({', '.join(failed)})" if failed else "PASS (all counts 0)")
    )
    return "\n".join(lines) + "\n"


def say(message: str) -> None:
    print(f"[faults {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run only this scenario (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--monitors", type=int, default=5, help="monitors per scenario (5)")
    parser.add_argument("--outage", type=float, default=20.0,
                        help="seconds the receiver answers 500 (20)")  # fmt: skip
    parser.add_argument("--settle", type=float, default=90.0,
                        help="seconds to wait for deliveries to settle (90)")  # fmt: skip
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="healthmon-faults-"))
    work_dir.chmod(0o755)  # the postgres user (when we are root) must reach its directory
    s = Stack(work_dir, options.log_level)
    results: list[Counts] = []
    finished = False
    try:
        s.start()
        channel = seed_channel(s.receiver.url)
        for name in options.scenario or SCENARIOS:
            results.append(run_scenario(s, channel, name, options))
            say(f"  {asdict(results[-1])}")
        finished = True
    finally:
        from django.db import connections

        connections.close_all()
        s.stop()
        if options.keep or not finished or any(c.failures for c in results):
            say(f"logs and data kept in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(format_report(results), end="")
    return 1 if any(c.failures for c in results) else 0


if __name__ == "__main__":
    sys.exit(main())
