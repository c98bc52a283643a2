"""One uptime, one string: every page, badge, tooltip and CSV writes 5 of 11 checks as 45.45%."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from dashboard.tests.conftest import make_monitor
from lib.uptime import uptime_figure, uptime_text
from monitors.models import CheckResult, MonitorBadge, StatusPage
from monitors.rollups import rollup_new_results

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)  # mid-month, mid-day: one day, one month
EXPECTED = "45.45%"  # 5 / 11 = 45.4545...%, rounded down


@pytest.fixture
def monitor(alice):
    with time_machine.travel(NOW, tick=False):
        monitor = make_monitor(alice.personal_team, "Orders API", status="down")
        CheckResult.objects.bulk_create(
            CheckResult(
                monitor=monitor,
                checked_at=NOW - timedelta(minutes=minute + 1),
                status="up" if minute < 5 else "down",
            )
            for minute in range(11)
        )
        rollup_new_results()
    return monitor


@pytest.fixture
def at_now():
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        yield


def test_overview_shows_the_one_string(monitor, alice_web, at_now):
    html = alice_web.get("/").content.decode()

    assert re.findall(r'class="num">([^<]*%)</td>', html) == [EXPECTED, EXPECTED]


def test_monitor_page_and_its_day_bar_show_the_one_string(monitor, alice_web, at_now):
    html = alice_web.get(f"/monitors/{monitor.id}/").content.decode()

    assert f'<td class="num big">{EXPECTED}</td>' in html
    assert f"2026-11-18: {EXPECTED} of 11 checks" in html
    assert f"{EXPECTED} overall" in html


def test_status_page_shows_the_one_string(monitor, alice, anon_client, at_now):
    page = StatusPage.objects.create(team=alice.personal_team, slug="acme", title="Acme")
    page.monitors.set([monitor])

    html = anon_client.get("/status/acme/").content.decode()

    assert f"{EXPECTED} uptime" in html


def test_uptime_badge_shows_the_one_string(monitor, anon_client, at_now):
    badge = MonitorBadge.objects.create(monitor=monitor)

    svg = anon_client.get(f"/badge/{badge.token}/uptime.svg?window=30d").content.decode()

    assert f">{EXPECTED}</text>" in svg


def test_sla_csv_writes_the_same_figure_without_the_sign(monitor, alice, at_now):
    client = APIClient()
    client.force_authenticate(alice)  # a JWT issued outside the travelled time is not valid yet
    csv = client.get(f"/api/v1/monitors/{monitor.id}/sla/?format=csv").content.decode()
    header, *rows = [line.split(",") for line in csv.strip().splitlines()]
    column = header.index("uptime_percent")

    assert {row[column] for row in rows if row[1] != "0"} == {EXPECTED.rstrip("%")}


@pytest.mark.parametrize(
    ("percent", "text"),
    [(None, "—"), (100.0, "100%"), (99.99996, "99.99%"), (45.4545, "45.45%"), (50.0, "50.00%")],
)
def test_uptime_text_rounds_down_to_two_decimals(percent, text):
    assert uptime_text(percent) == text


def test_uptime_figure_is_the_text_without_the_sign():
    assert uptime_figure(45.4545) == "45.45"
