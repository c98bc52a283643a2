"""Stats and SLA reports from rollups, compared with figures computed from raw results."""

from datetime import UTC, date, datetime, timedelta

import pytest

from incidents.models import Incident
from lib.uptime import uptime_text
from monitors.models import CheckResult
from monitors.rollups import rollup_new_results
from monitors.tests.history_data import generate_results, make_monitor, raw_figures
from monitors.tests.latency_oracle import precision_bound
from reports.stats import (
    DayBar,
    IncidentSpan,
    daily_bars,
    hourly_response_series,
    incident_figures,
    monitor_stats,
    sla_report,
    uptime_by_monitor,
    window_start,
)
from reports.status_pages import _uptime

NOW = datetime(2026, 5, 20, 14, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "period", "start"),
    [
        ("24h", "hour", datetime(2026, 5, 19, 15, tzinfo=UTC)),
        ("7d", "hour", datetime(2026, 5, 13, 15, tzinfo=UTC)),
        ("30d", "day", datetime(2026, 4, 21, tzinfo=UTC)),
        ("90d", "day", datetime(2026, 2, 20, tzinfo=UTC)),
    ],
)
def test_windows_start_on_a_bucket_boundary(window, period, start):
    assert window_start(window, NOW) == (period, start)


def close_to(value, expected, tolerance):
    if expected is None:
        return value is None
    return value is not None and abs(value - expected) <= tolerance


@pytest.fixture
def history(alice):
    """Two monitors with 100 days of results, rolled up."""
    monitors = [make_monitor(alice.personal_team, f"API {n}") for n in range(2)]
    results = generate_results(
        monitors, start=NOW - timedelta(days=100), end=NOW, per_monitor=6000, down_rate=0.08
    )
    rollup_new_results(now=NOW)
    return monitors, results


@pytest.mark.django_db
def test_stats_match_figures_computed_from_raw_results(history):
    monitors, results = history
    for monitor, window in [(m, w) for m in monitors for w in ("24h", "7d", "30d", "90d")]:
        stats = monitor_stats(monitor=monitor, window=window, now=NOW)
        raw = raw_figures(
            [r for r in results if r.monitor_id == monitor.id], since=stats.since, until=NOW
        )

        assert stats.checks == raw["checks"] and stats.checks > 0
        assert stats.up == raw["up"]
        assert stats.down == raw["checks"] - raw["up"]
        assert close_to(stats.uptime_percent, raw["uptime_percent"], 0.0001)
        assert close_to(stats.response_time_avg_ms, raw["avg"], 0.05)
        assert close_to(stats.response_time_p50_ms, raw["p50"], precision_bound(raw["p50"]) + 0.05)
        assert close_to(stats.response_time_p95_ms, raw["p95"], precision_bound(raw["p95"]) + 0.05)


@pytest.mark.django_db
def test_uptime_for_lists_matches_each_monitors_stats(history):
    monitors, _ = history
    listed = uptime_by_monitor([m.id for m in monitors], "30d", now=NOW)
    for monitor in monitors:
        assert (
            listed[monitor.id]
            == monitor_stats(monitor=monitor, window="30d", now=NOW).uptime_percent
        )


@pytest.mark.django_db
def test_daily_bars_cover_ninety_days_with_raw_counts(history):
    monitors, results = history
    bars = daily_bars([monitors[0].id], days=90, now=NOW)[monitors[0].id]

    assert len(bars) == 90
    assert bars[-1].day == date(2026, 5, 20)
    for bar in (bars[0], bars[45], bars[-1]):
        day_rows = [
            r for r in results if r.monitor_id == monitors[0].id and r.checked_at.date() == bar.day
        ]
        assert bar.checks == len(day_rows)
        assert bar.up == sum(1 for r in day_rows if r.status == "up")


@pytest.mark.django_db
def test_daily_bars_of_a_new_monitor_are_empty(alice):
    monitor = make_monitor(alice.personal_team)
    bars = daily_bars([monitor.id], days=90, now=NOW)[monitor.id]
    assert {bar.level for bar in bars} == {"none"}


@pytest.mark.django_db
def test_hourly_series_is_the_average_response_time_of_up_checks(alice):
    monitor = make_monitor(alice.personal_team)
    hour = datetime(2026, 5, 20, 13, 10, tzinfo=UTC)
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=hour, status="up", response_time_ms=100),
            CheckResult(monitor=monitor, checked_at=hour, status="up", response_time_ms=300),
            CheckResult(monitor=monitor, checked_at=hour, status="timeout", response_time_ms=9999),
        ]
    )
    rollup_new_results(now=NOW)

    series = hourly_response_series([monitor.id], hours=24, now=NOW)[monitor.id]

    assert len(series) == 24
    assert series[-2] == 200.0
    assert series[-1] is None


# --- Incidents ------------------------------------------------------------------------------

SINCE = datetime(2026, 5, 1, tzinfo=UTC)
UNTIL = datetime(2026, 5, 2, tzinfo=UTC)


def span(start_hour: float, end_hour: float | None, base=SINCE) -> IncidentSpan:
    return IncidentSpan(
        1,
        base + timedelta(hours=start_hour),
        None if end_hour is None else base + timedelta(hours=end_hour),
    )


@pytest.mark.parametrize(
    ("case", "spans", "expected"),
    [
        ("no incidents", [], (0, 0.0, None)),
        ("inside the window", [span(1, 2)], (1, 3600.0, 3600.0)),
        ("started before the window", [span(-2, 1)], (0, 3600.0, 3 * 3600.0)),
        ("still open", [span(23, None)], (1, 3600.0, None)),
        ("resolved after the window", [span(23.5, 25)], (1, 1800.0, None)),
        (
            "two incidents",
            [span(1, 1.5), span(3, 5)],
            (2, 2.5 * 3600, (1800.0 + 7200.0) / 2),
        ),
    ],
)
def test_incident_figures(case, spans, expected):
    figures = incident_figures(spans, since=SINCE, until=UNTIL)
    assert (figures.count, figures.downtime_seconds, figures.mttr_seconds) == expected, case


def open_incident(monitor, started_at, resolved_at=None):
    return Incident.objects.create(
        team=monitor.team,
        monitor=monitor,
        monitor_name=monitor.name,
        started_at=started_at,
        opened_at=started_at,
        resolved_at=resolved_at,
        cause="HTTP 500",
    )


@pytest.mark.django_db
def test_stats_count_incidents_downtime_and_mttr(alice):
    monitor = make_monitor(alice.personal_team)
    other = make_monitor(alice.personal_team, "Other")
    open_incident(monitor, NOW - timedelta(hours=30), NOW - timedelta(hours=29))  # outside 24h
    open_incident(monitor, NOW - timedelta(hours=5), NOW - timedelta(hours=4, minutes=30))
    open_incident(monitor, NOW - timedelta(minutes=10))  # open
    open_incident(other, NOW - timedelta(hours=1), NOW)

    stats = monitor_stats(monitor=monitor, window="24h", now=NOW)

    assert stats.incidents == 2
    assert stats.downtime_seconds == 1800.0 + 600.0
    assert stats.mttr_seconds == 1800.0
    assert stats.checks == 0 and stats.uptime_percent is None
    assert stats.response_time_p95_ms is None


# --- SLA reports ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_sla_report_of_a_past_month_matches_raw_results(alice):
    monitor = make_monitor(alice.personal_team)
    april = datetime(2026, 4, 1, tzinfo=UTC)
    results = generate_results(
        [monitor], start=april - timedelta(days=2), end=april + timedelta(days=32), per_monitor=5000
    )
    open_incident(
        monitor, datetime(2026, 4, 3, 23, 0, tzinfo=UTC), datetime(2026, 4, 4, 1, 0, tzinfo=UTC)
    )
    rollup_new_results(now=NOW)

    report = sla_report(monitor=monitor, year=2026, month=4, target_percent=99.9, now=NOW)

    in_april = [r for r in results if april <= r.checked_at < datetime(2026, 5, 1, tzinfo=UTC)]
    raw = raw_figures(in_april, since=april, until=datetime(2026, 5, 1, tzinfo=UTC))
    assert report.month == "2026-04"
    assert len(report.days) == 30
    assert sum(day.checks for day in report.days) == report.checks == raw["checks"]
    assert report.up == raw["up"]
    assert close_to(report.uptime_percent, raw["uptime_percent"], 0.0001)
    assert close_to(report.response_time_p95_ms, raw["p95"], precision_bound(raw["p95"]) + 0.05)
    assert report.target_met is (report.uptime_percent >= 99.9)
    assert report.allowed_downtime_seconds == round(30 * 86400 * 0.001, 1)
    assert report.incidents == 1 and report.downtime_seconds == 7200.0
    assert report.mttr_seconds == 7200.0
    assert [d.downtime_seconds for d in report.days[2:4]] == [3600.0, 3600.0]
    assert [d.incidents for d in report.days[2:4]] == [1, 0]


@pytest.mark.django_db
def test_sla_report_of_the_current_month_stops_at_now(alice):
    monitor = make_monitor(alice.personal_team)
    report = sla_report(monitor=monitor, year=2026, month=5, now=NOW)
    assert len(report.days) == 20
    assert report.until == NOW
    assert report.target_met is None and report.allowed_downtime_seconds is None


def test_ninety_days_with_one_failed_check_never_reads_100_percent():
    """A number rounded before it is written (99.9996 -> 100.0) would show "100%"."""
    bars = [DayBar(day=date(2026, 11, 1), checks=259_200, up=259_199)]  # 90 d at 30 s

    assert uptime_text(_uptime(bars)) == "99.99%"
    assert uptime_text(bars[0].uptime_percent) == "99.99%"
