"""The shortest fault-injection scenario, so the harness cannot rot between real runs.

``python -m bench.faults --scenario worker-kill`` starts its own PostgreSQL cluster,
redis-server, worker, beat, target and receiver (about a minute here). It checks that the
report comes out and that the exit status agrees with it; whether the counts are 0 is the
benchmark's verdict (``make bench-faults``), not this test's.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys

import pytest

from bench.stack import ROOT

pytestmark = pytest.mark.worker

# Three monitors, and 15 s for deliveries to settle (what has not by then counts as stuck).
SMOKE_ARGS = ["--scenario", "worker-kill", "--monitors", "3", "--settle", "15"]

KEPT = re.compile(r"logs and data kept in (?P<path>\S+)")
ROW = re.compile(r"^  worker-kill\s+(?P<counts>(\d+\s+){10}\d+)$", re.MULTILINE)


@pytest.fixture
def servers_installed() -> None:
    if shutil.which("redis-server") is None or not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("the fault suite starts its own redis-server and PostgreSQL cluster")


def test_worker_kill_scenario_reports_counts_and_exits_by_them(servers_installed) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.faults", *SMOKE_ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )

    kept = KEPT.search(completed.stderr)
    if kept:  # a failing count keeps the logs and data for a human; not needed here
        shutil.rmtree(kept["path"], ignore_errors=True)
    row = ROW.search(completed.stdout)
    assert row, f"no worker-kill row in the report:\n{completed.stdout}\n{completed.stderr[-3000:]}"
    incidents, alerts, *_, lost, duplicated, out_of_order, stuck, duplicates = map(
        int, row["counts"].split()
    )
    assert (incidents, alerts) == (3, 6)
    failures = lost + duplicated + out_of_order + stuck + duplicates
    assert completed.returncode == (1 if failures else 0), completed.stderr[-3000:]
