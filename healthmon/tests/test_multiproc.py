"""Multiprocess metrics: file naming by host and pid, and the worker-side exporter that
Kubernetes pods use when they share no directory with the web."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from healthmon import multiproc

ROOT = Path(__file__).resolve().parents[2]

COUNT_CHECKS = """
import django
django.setup()
from lib import metrics
metrics.record_check(kind="http", status="timeout", duration_seconds=2.0)
metrics.record_check(kind="http", status="timeout", duration_seconds=2.0)
"""


@pytest.fixture
def written_metrics(tmp_path) -> Path:
    """A multiprocess directory holding counters written by another (finished) process."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "healthmon.settings",
        "DEBUG": "true",
        "HEALTHMON_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    done = subprocess.run(
        [sys.executable, "-c", COUNT_CHECKS], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return directory


def test_process_identifier_is_host_and_pid_without_underscores():
    identifier = multiproc.process_identifier(1234)

    assert identifier.endswith("-1234")
    assert "_" not in identifier  # prometheus_client splits file names on "_"


def test_files_are_named_by_host_and_pid(written_metrics):
    host = multiproc.process_identifier(0).removesuffix("-0")
    names = [path.name for path in written_metrics.glob("*.db")]

    assert names
    for name in names:  # counter_<host>-<pid>.db, histogram_<host>-<pid>.db
        assert name.split("_", 1)[1].startswith(f"{host}-")


def test_worker_exporter_serves_the_multiprocess_directory(written_metrics, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(written_metrics))
    monkeypatch.setenv("WORKER_METRICS_PORT", "0")
    monkeypatch.setenv("WORKER_METRICS_ADDR", "127.0.0.1")

    server = multiproc.start_worker_exporter()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()

    assert 'healthmon_checks_total{kind="http",status="timeout"} 2.0' in text
    assert "healthmon_check_duration_seconds_count 2.0" in text


def test_worker_exporter_is_off_without_a_port(monkeypatch):
    monkeypatch.delenv("WORKER_METRICS_PORT", raising=False)

    assert multiproc.start_worker_exporter() is None
