"""Tiny runs of ``bench.kinds`` and ``bench.ceiling_ramp``, so neither harness can rot.

Each brings up the real stack (its own database and redis-server, beat, a gevent check
worker, the evaluation worker, the local targets) with a handful of monitors and
seconds-long windows, and checks that the figures come out and are sane: checks were made
and stored for every kind, none failed against healthy targets, CPU per check and the raw
clients' figures are there. No performance figure is asserted: those belong to the full
runs on a quiet machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.stack import ROOT

KINDS = ["http", "tcp", "dns", "tls", "icmp", "api"]
KINDS_SMOKE_ARGS = [
    "--monitors", "10", "--interval", "2", "--window", "3", "--warmup", "1",
    "--reference-seconds", "1", "--reference-concurrency", "10",
]  # fmt: skip
RAMP_SMOKE_ARGS = [
    "--workers", "1,2", "--interval", "2", "--start-rate", "5", "--factor", "2",
    "--max-rate", "10", "--min-rate", "1", "--window", "3", "--warmup", "1",
    "--ceiling-seconds", "1", "--ceiling-concurrency", "10",
]  # fmt: skip

pytestmark = pytest.mark.worker


@pytest.fixture
def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("the benchmark needs DATABASE_URL pointing at PostgreSQL")
    if shutil.which("redis-server") is None:
        pytest.skip("the benchmark starts its own redis-server, which is not installed")
    return url


def run_bench(module: str, args: list[str], url: str, tmp_path: Path) -> tuple[str, dict]:
    """Run ``python -m <module>``; its stdout and the figures of its last (JSON) line."""
    completed = subprocess.run(
        [
            sys.executable, "-m", module, *args,
            "--db-name", f"{url.rsplit('/', 1)[1]}_{module.rsplit('.', 1)[1]}_smoke",
            "--out-dir", str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout, json.loads(completed.stdout.strip().splitlines()[-1])


def test_tiny_kinds_run_checks_every_kind_on_one_worker_beside_the_raw_clients(
    bench_database_url: str, tmp_path: Path
) -> None:
    stdout, figures = run_bench("bench.kinds", KINDS_SMOKE_ARGS, bench_database_url, tmp_path)
    for label in ("on ONE check worker", "x raw HTTP", "raw clients", "lag p99"):
        assert label in stdout, stdout
    rows = {row["kind"]: row for row in figures["kinds"]}
    assert list(rows) == KINDS
    for kind, row in rows.items():
        # 10 monitors every 2 s for 3 s: about 15 checks, each stored once and UP.
        assert row["checks_per_second"] > 0, (kind, row)
        assert 14 <= row["expected_checks"] <= 16, (kind, row)
        assert row["failed_checks"] == 0, (kind, row["failure_reasons"])
        assert row["dropped_checks"] == 0, (kind, row)
        assert row["duplicates"] == 0, (kind, row)
        assert row["worker_cpu_ms_per_check"] > 0, (kind, row)
        assert row["all_in_cpu_ms_per_check"] >= row["worker_cpu_ms_per_check"], (kind, row)
        # The raw HTTP ratio is there for every kind (it is what travels between machines).
        assert row["worker_x_raw_http"] > 0, (kind, row)
        assert row["all_in_x_raw_kind"] > 0, (kind, row)
        assert f"  {kind:<6}" in stdout
    for kind, reference in figures["references"].items():
        assert reference["requests"] > 0, (kind, reference)
        assert reference["errors"] == 0, (kind, reference)


def test_tiny_ramp_finds_a_sustained_rate_for_one_and_two_workers(
    bench_database_url: str, tmp_path: Path
) -> None:
    stdout, figures = run_bench("bench.ceiling_ramp", RAMP_SMOKE_ARGS, bench_database_url, tmp_path)
    assert "ceiling, 1 check worker(s):" in stdout, stdout
    assert "ceiling, 2 check worker(s):" in stdout, stdout
    steps = figures["steps"]
    for step in steps:
        assert step["checks_per_second"] > 0, step
        assert step["failed_checks"] == 0, step  # a healthy target, a few checks per second
        assert step["worker_x_raw_http"] > 0 and step["all_in_x_raw_http"] > 0, step
    phases = {n: [s for s in steps if s["workers"] == n] for n in (1, 2)}
    # 5 checks/s is far below any ceiling; each sustained step doubles the rate up to 10/s.
    assert phases[1][0]["offered_per_second"] == 5.0 and phases[1][0]["sustained"], steps
    for phase in phases.values():
        rates = [s["offered_per_second"] for s in phase]
        assert rates == sorted(set(rates)) and all(r <= 10.0 for r in rates), steps
        assert all(s["sustained"] for s in phase[:-1]), steps
    ceilings = {c["workers"]: c["best"] for c in figures["ceilings"]}
    assert ceilings[1]["sustained"], figures["ceilings"]
    # Two workers start where one was last sustained.
    assert phases[2][0]["offered_per_second"] == ceilings[1]["offered_per_second"], steps
    assert figures["reference"]["requests"] > 0 and figures["reference"]["errors"] == 0
