"""Heartbeat bars (the last checks as coloured bars, details on hover and focus) on the
overview and the detail page, read in one query for a whole page; times in <time>."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.charts import heartbeat_bars
from dashboard.templatetags.dashboard import when
from dashboard.tests.conftest import make_monitor
from monitors.models import CheckResult
from reports.recent_checks import Beat, _recent_checks_portable, recent_checks

pytestmark = pytest.mark.django_db


def add_checks(monitor, statuses: str, *, end=None) -> None:
    """One check a minute ending at ``end``: "u" up, "d" down, oldest first."""
    end = end or timezone.now()
    CheckResult.objects.bulk_create(
        CheckResult(
            monitor=monitor,
            checked_at=end - timedelta(minutes=len(statuses) - 1 - i),
            status="up" if s == "u" else "down",
            status_code=200 if s == "u" else 503,
            response_time_ms=40 + i,
            reason="" if s == "u" else "HTTP 503, expected 200-299",
        )
        for i, s in enumerate(statuses)
    )


def test_the_newest_checks_of_each_monitor_come_oldest_first_in_one_query(alice):
    first = make_monitor(alice.personal_team, "First")
    second = make_monitor(alice.personal_team, "Second")
    add_checks(first, "uuuuddu")
    add_checks(second, "ud")

    with CaptureQueriesContext(connection) as queries:
        beats = recent_checks([first.id, second.id], count=4)

    assert len(queries) == 1
    assert [b.status for b in beats[first.id]] == ["up", "down", "down", "up"]
    assert [b.status for b in beats[second.id]] == ["up", "down"]
    assert beats[first.id][1].reason == "HTTP 503, expected 200-299"


def test_the_portable_query_agrees(alice):
    monitor = make_monitor(alice.personal_team)
    add_checks(monitor, "uduuud")

    portable = _recent_checks_portable(
        {monitor.id: []}, since=timezone.now() - timedelta(days=1), count=3
    )

    assert portable == recent_checks([monitor.id], count=3)


def test_checks_older_than_a_week_are_not_recent(alice):
    monitor = make_monitor(alice.personal_team)
    add_checks(monitor, "dd", end=timezone.now() - timedelta(days=8))
    add_checks(monitor, "u")

    assert [b.status for b in recent_checks([monitor.id])[monitor.id]] == ["up"]


def test_the_overview_reads_bars_without_a_query_per_monitor(alice, alice_web):
    def queries_for_overview() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert alice_web.get("/").status_code == 200
        return len(queries)

    for name in ("A", "B"):
        add_checks(make_monitor(alice.personal_team, name), "uudu")
    two = queries_for_overview()
    for name in ("C", "D", "E", "F"):
        add_checks(make_monitor(alice.personal_team, name), "uudu")

    assert queries_for_overview() == two
    page = alice_web.get("/").content.decode()
    assert page.count('class="beats"') == 6
    assert page.count("beat beat-down") == 6


def test_the_detail_page_shows_the_last_fifty_checks_with_their_details(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    add_checks(monitor, "u" * 55 + "d")

    page = alice_web.get(f"/monitors/{monitor.id}/").content.decode()

    bars = re.findall(r'<li class="beat beat-(up|down)"', page)
    assert len(bars) == 50 and bars[-1] == "down"
    assert 'aria-label="Last 50 checks: 49 up, 1 failed"' in page
    assert "DOWN · HTTP 503 · 95 ms · HTTP 503, expected 200-299" in page


def test_bars_are_one_tab_stop_and_padded_to_the_count():
    at = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)
    beats = [
        Beat(at, "up", 200, 41, ""),
        Beat(at + timedelta(minutes=1), "timeout", None, None, "No complete response within 5s"),
    ]

    html = str(heartbeat_bars(beats, count=5))

    assert html.count('aria-hidden="true"') == 3  # empty slots before the first check
    assert html.count('tabindex="0"') == 1 and html.count('tabindex="-1"') == 1
    assert 'data-tip="2026-11-18 12:31:00 UTC · TIMEOUT · No complete response within 5s"' in html
    assert 'data-at="2026-11-18T12:30:00+00:00"' in html


def test_a_moment_is_written_as_utc_time_that_the_page_shows_locally():
    at = datetime(2026, 11, 18, 12, 30, 5, tzinfo=UTC)

    assert str(when(at)) == (
        '<time datetime="2026-11-18T12:30:05+00:00" title="2026-11-18 12:30:05 UTC" '
        'data-local="datetime">2026-11-18 12:30:05 UTC</time>'
    )
    assert ">12:30:05 UTC</time>" in str(when(at, "time"))
    assert when(None) == "—"
