"""Uptime and SLA with maintenance excluded: the math, and the API and CSV flag."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from incidents.maintenance import maintenance_window_create
from incidents.models import Incident
from monitors.models import CheckResult
from monitors.rollups import rollup_new_results
from monitors.tests.history_data import make_monitor
from reports.stats import monitor_stats, sla_report

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 20, 14, 30, tzinfo=UTC)
DAY = datetime(2026, 4, 3, tzinfo=UTC)


@pytest.fixture
def monitor(alice):
    """A check every 10 minutes on 3 April; down from 02:00 to 04:30 (15 checks), under an
    incident over the same time; a maintenance window from 02:00 to 04:00 (12 of them)."""
    monitor = make_monitor(alice.personal_team)
    down_from, down_until = DAY + timedelta(hours=2), DAY + timedelta(hours=4, minutes=30)
    moments = [DAY + timedelta(minutes=10 * n) for n in range(144)]
    CheckResult.objects.bulk_create(
        [
            CheckResult(
                monitor=monitor,
                checked_at=at,
                status="down" if down_from <= at < down_until else "up",
                response_time_ms=50,
            )
            for at in moments
        ]
    )
    rollup_new_results(now=NOW)
    Incident.objects.create(
        team=monitor.team, monitor=monitor, monitor_name=monitor.name, started_at=down_from,
        opened_at=down_from, resolved_at=down_until, cause="HTTP 503",
    )  # fmt: skip
    maintenance_window_create(
        team=monitor.team,
        name="router swap",
        starts_at=down_from,
        ends_at=DAY + timedelta(hours=4),
        monitors=[monitor],
    )
    return monitor


def test_the_sla_without_maintenance_leaves_out_its_checks_downtime_and_time(monitor):
    plain = sla_report(monitor=monitor, year=2026, month=4, target_percent=99.9, now=NOW)
    excluded = sla_report(
        monitor=monitor, year=2026, month=4, target_percent=99.9, now=NOW, exclude_maintenance=True
    )

    assert (plain.checks, plain.up, plain.downtime_seconds) == (144, 129, 9000.0)
    assert plain.exclude_maintenance is False and plain.maintenance_seconds == 0
    assert (excluded.checks, excluded.up) == (132, 129)
    assert excluded.uptime_percent == pytest.approx(100 * 129 / 132)
    assert excluded.downtime_seconds == 1800.0  # 04:00-04:30 only
    assert excluded.maintenance_seconds == 7200.0 and excluded.maintenance_checks == 12
    assert excluded.allowed_downtime_seconds == round((30 * 86400 - 7200) * 0.001, 1)
    day = excluded.days[2]
    assert (day.checks, day.up, day.downtime_seconds) == (132, 129, 1800.0)
    assert excluded.days[3].checks == 0


def test_stats_without_maintenance(monitor):
    now = DAY + timedelta(days=1)
    plain = monitor_stats(monitor=monitor, window="24h", now=now)
    excluded = monitor_stats(monitor=monitor, window="24h", now=now, exclude_maintenance=True)
    assert plain.checks - excluded.checks == 12 == excluded.maintenance_checks
    assert plain.up == excluded.up
    assert excluded.downtime_seconds == plain.downtime_seconds - 7200


def test_the_api_flag_and_the_csv_header(monitor, alice_client):
    base = f"/api/v1/monitors/{monitor.id}/sla/?month=2026-04"
    data = alice_client.get(f"{base}&exclude_maintenance=true").data
    assert data["exclude_maintenance"] is True and data["checks"] == 132
    assert alice_client.get(base).data["exclude_maintenance"] is False

    text = alice_client.get(f"{base}&exclude_maintenance=true&format=csv").content.decode()
    first, *rest = text.splitlines()
    assert first.startswith("# exclude_maintenance: true (7200 seconds and 12 checks")
    rows = list(csv.reader(io.StringIO("\n".join(rest))))
    assert rows[0][:3] == ["day", "checks", "up"] and rows[-1][:3] == ["2026-04", "132", "129"]
    plain = alice_client.get(f"{base}&format=csv").content.decode()
    assert plain.startswith("day,")

    stats = alice_client.get(f"/api/v1/monitors/{monitor.id}/stats/?exclude_maintenance=1")
    assert stats.status_code == 200 and stats.data["exclude_maintenance"] is True
    bad = alice_client.get(f"/api/v1/monitors/{monitor.id}/stats/?exclude_maintenance=perhaps")
    assert bad.status_code == 400 and "exclude_maintenance" in bad.data
