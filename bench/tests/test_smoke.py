"""A tiny run of the scale benchmark, so the harness cannot rot between real runs.

It brings up the whole stack (its own database and redis-server, beat, both workers,
gunicorn, the target and the webhook receiver) for 20 monitors every 2 s and a 10 s window,
and checks that figures come out. It asserts no performance figure: those belong to
``make bench`` on a quiet machine.
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

SMOKE_ARGS = [
    "--monitors", "20", "--interval", "2", "--window", "10", "--warmup", "2",
    "--flip", "3", "--ceiling-seconds", "1", "--ceiling-concurrency", "10",
]  # fmt: skip

pytestmark = pytest.mark.worker


@pytest.fixture
def smoke_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("the benchmark needs DATABASE_URL pointing at PostgreSQL")
    if shutil.which("redis-server") is None:
        pytest.skip("the benchmark starts its own redis-server, which is not installed")
    return url


def test_tiny_scale_run_prints_figures_from_real_checks(
    smoke_database_url: str, tmp_path: Path
) -> None:
    figures_path = tmp_path / "figures.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale",
            *SMOKE_ARGS,
            "--db-name",
            f"{smoke_database_url.rsplit('/', 1)[1]}_bench_smoke",
            "--json",
            str(figures_path),
            "--out-dir",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": smoke_database_url},
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    for label in ("checks completed", "schedule lag", "down -> alert", "CPU per check",
                  "database growth", "HTTP client ceiling"):  # fmt: skip
        assert label in completed.stdout, completed.stdout

    figures = json.loads(figures_path.read_text())
    assert figures["completed_in_window"] > 0
    assert figures["expected_checks"] == 100  # 20 monitors x 10 s / 2 s
    assert figures["duplicates"] == 0
    assert figures["lag_p50_s"] is not None
    assert figures["cpu_ms_per_check"] > 0
    counted = {row["name"] for row in figures["processes"] if row["cpu_s"] > 0}
    assert {"worker checks", "postgresql"} <= counted
    assert figures["alerts"]["down_to_alert"]["arrived"] >= 1, figures["alerts"]
    assert figures["ceiling"]["requests"] > 0
