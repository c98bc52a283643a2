"""The embedded default, run for real: what `make run` starts on a machine with no database or
broker server. SQLite under the var directory, Celery's filesystem broker under var/broker/,
heartbeats in files, and the Procfile's own worker and beat commands, checking a target and
notifying a webhook receiver on 127.0.0.1.

The rest of the suite runs on PostgreSQL and Redis, so this module is where the SQLite
branches run: the rollups' hour truncation, bulk_sql's fallback, the file heartbeat store.
The test process itself stays on PostgreSQL: it writes to the embedded install through
`manage.py` in subprocesses and reads the SQLite file directly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PASSWORD, wait_for
from healthmon.tests.test_processes import ROOT, procfile_process
from lib.outbound import METADATA_NETWORKS
from monitors.tests.http_target import HttpTarget
from notifications.tests.receivers import Receiver, start_receiver

pytestmark = pytest.mark.embedded

# Any of these set would take the processes off the embedded default.
NOT_EMBEDDED = ("DATABASE_URL", "CELERY_BROKER_URL", "HEARTBEAT_URL")

# Through the services, as every write goes; prints the ids the tests look up. A 3 s interval:
# a check batch expires one interval after its scheduled time, and between the dispatcher's
# 1 s tick and the filesystem broker's 1 s polling a batch may spend 2 s reaching the worker.
SEED = """
import json
from accounts.services import user_register
from monitors.services import monitor_create
from notifications.services import channel_create

user = user_register(email="alice@example.com", password={password!r}, full_name="Alice")
team = user.personal_team
hook = channel_create(team=team, name="receiver", kind="webhook", config={{"url": {hook!r}}})
steady = monitor_create(
    team=team, name="steady", url={steady!r}, interval=3, timeout=1, channels=[]
)
switched = monitor_create(
    team=team, name="switched", url={switched!r}, interval=3, timeout=1, channels=[hook]
)
print(json.dumps({{"steady": steady.id, "switched": switched.id}}))
"""


@dataclass
class Embedded:
    var: Path
    env: dict[str, str]
    monitors: dict[str, int]
    worker_log: Path

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            pytest.fail(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def rows(self, *queries: tuple) -> list[list[tuple]]:
        """Run ``(sql, *params)`` queries in one read transaction (one consistent snapshot
        while the worker writes), straight on the SQLite file."""
        uri = f"file:{self.var / 'healthmon.sqlite3'}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)) as db:
            db.execute("BEGIN")
            return [db.execute(sql, params).fetchall() for sql, *params in queries]

    def row(self, sql: str, *params) -> tuple | None:
        found = self.rows((sql, *params))[0]
        return found[0] if found else None


def embedded_env(var: Path) -> dict[str, str]:
    """`make run`'s environment (its RUN_ENV and metrics directory) in a private var dir."""
    env = {name: value for name, value in os.environ.items() if name not in NOT_EMBEDDED}
    env.update(
        {
            "DEBUG": "true",
            # A single-user install: metadata blocked, the target and receiver on 127.0.0.1 not.
            "BLOCKED_NETWORKS": ",".join(METADATA_NETWORKS),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "HEALTHMON_VAR_DIR": str(var),
            "PROMETHEUS_MULTIPROC_DIR": str(var / "prometheus"),
            "PYTHONUNBUFFERED": "1",
            # The monitors below are checked every 3 s, below the production floor of 30 s.
            "MONITOR_MIN_INTERVAL": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def target() -> Iterator[HttpTarget]:
    with HttpTarget() as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    stop = start_receiver(receiver)
    yield receiver
    stop()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, target: HttpTarget, receiver: Receiver) -> Iterator[Embedded]:
    """Migrated, seeded, with the Procfile's worker and beat running; both are stopped (and
    killed if they do not stop) when the module ends, whatever happened."""
    var = tmp_path_factory.mktemp("embedded") / "var"
    (var / "prometheus").mkdir(parents=True)
    env = embedded_env(var)
    install = Embedded(var=var, env=env, monitors={}, worker_log=var.parent / "worker.log")
    install.manage("migrate", "--noinput", "--verbosity", "0")
    seed = SEED.format(
        password=PASSWORD,
        hook=receiver.url,
        steady=target.url("/ok"),
        switched=target.url("/switch"),
    )
    seeded = install.manage("shell", "--verbosity", "0", "-c", seed)
    install.monitors = json.loads(seeded.stdout.strip().splitlines()[-1])
    with ExitStack() as processes:
        worker = processes.enter_context(procfile_process("worker", env, install.worker_log))
        wait_for(
            lambda: worker.poll() is not None or " ready." in install.worker_log.read_text(),
            timeout=60,
            message=f"the worker did not start; see {install.worker_log}",
        )
        assert worker.poll() is None, install.worker_log.read_text()
        beat = processes.enter_context(procfile_process("beat", env, var.parent / "beat.log"))
        yield install
        assert beat.poll() is None, (var.parent / "beat.log").read_text()


def test_checks_of_a_healthy_target_are_stored_up_and_mirrored_on_the_monitor(embedded):
    steady = embedded.monitors["steady"]

    wait_for(
        lambda: embedded.row("SELECT status FROM monitors_monitor WHERE id = ?", steady) == ("up",),
        timeout=30,
        message=f"the steady monitor never became up; see {embedded.worker_log}",
    )
    checks = embedded.row(
        "SELECT COUNT(*), SUM(status = 'up'), MIN(status_code) FROM monitors_checkresult "
        "WHERE monitor_id = ?",
        steady,
    )

    count, up, status_code = checks
    assert count >= 1
    assert up == count
    assert status_code == 200


def test_failing_target_opens_an_incident_and_the_webhook_delivers_it(embedded, target, receiver):
    switched = embedded.monitors["switched"]
    wait_for(
        lambda: (
            embedded.row("SELECT status FROM monitors_monitor WHERE id = ?", switched) == ("up",)
        ),
        timeout=30,
        message=f"the switched monitor never became up; see {embedded.worker_log}",
    )

    target.switch_status = 500

    incident_id, cause = wait_for(
        lambda: embedded.row(
            "SELECT id, cause FROM incidents_incident WHERE monitor_id = ? AND resolved_at IS NULL",
            switched,
        ),
        timeout=30,
        message=f"no incident opened; see {embedded.worker_log}",
    )
    delivery = wait_for(
        lambda: embedded.row(
            "SELECT status, response_code FROM notifications_delivery "
            "WHERE incident_id = ? AND event = 'opened' AND status = 'delivered'",
            incident_id,
        ),
        timeout=30,
        message=f"the opened delivery was not delivered; see {embedded.worker_log}",
    )
    opened = [r.json() for r in receiver.successes if r.json()["event"] == "incident.opened"]
    monitor_status = embedded.row("SELECT status FROM monitors_monitor WHERE id = ?", switched)

    assert "500" in cause
    assert delivery == ("delivered", 200)
    assert len(opened) == 1
    assert monitor_status == ("down",)


def test_rollups_on_sqlite_add_up_to_the_checks_they_cover(embedded):
    # Wait until a rollup run covered at least the checks stored so far.
    stored = wait_for(
        lambda: embedded.row("SELECT MAX(id) FROM monitors_checkresult")[0],
        timeout=30,
        message=f"no check stored; see {embedded.worker_log}",
    )
    wait_for(
        lambda: (embedded.row("SELECT last_id FROM monitors_rollupwatermark") or (0,))[0] >= stored,
        timeout=30,
        message=f"the rollup never covered check #{stored}; see {embedded.worker_log}",
    )
    covered = "FROM monitors_checkresult WHERE id <= (SELECT last_id FROM monitors_rollupwatermark)"
    results, hours, days = embedded.rows(
        (
            "SELECT monitor_id, strftime('%Y-%m-%d %H:00:00', checked_at), COUNT(*), "
            f"SUM(status = 'up') {covered} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        (
            "SELECT monitor_id, period_start, checks, up FROM monitors_checkrollup "
            "WHERE period = 'hour' ORDER BY 1, 2",
        ),
        (
            "SELECT monitor_id, SUM(checks), SUM(up) FROM monitors_checkrollup "
            "WHERE period = 'day' GROUP BY 1 ORDER BY 1",
        ),
    )
    per_monitor = {}
    for monitor_id, _hour, checks, up in results:
        total = per_monitor.get(monitor_id, (0, 0))
        per_monitor[monitor_id] = (total[0] + checks, total[1] + up)

    assert hours == results
    assert {monitor_id: (checks, up) for monitor_id, checks, up in days} == per_monitor
    assert set(per_monitor) == set(embedded.monitors.values())


def test_worker_and_beat_report_through_file_heartbeats(embedded):
    def status() -> dict | None:
        done = embedded.manage("healthmon_status", "--json", "--check", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None

    healthy = wait_for(
        status, timeout=30, interval=1, message="healthmon_status --check never passed"
    )
    workers = list((embedded.var / "heartbeats" / "workers").iterdir())

    assert healthy["components"]["beat"]["status"] == "up"
    assert healthy["components"]["workers"]["queues"] == {
        "checks": 1,
        "incidents": 1,
        "notifications": 1,
    }
    assert (embedded.var / "heartbeats" / "beat").is_file()
    assert [path.name for path in workers] == [healthy["components"]["workers"]["workers"][0]]
