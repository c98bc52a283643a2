"""The stats, SLA and badge actions of the monitors API, and the status pages API."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from monitors.models import CheckResult, Monitor, StatusPage
from monitors.rollups import rollup_new_results
from monitors.tests.history_data import make_monitor

pytestmark = pytest.mark.django_db


def checks(monitor, *statuses, minutes_ago=5):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=at, status=s, response_time_ms=100)
            for s in statuses
        ]
    )
    rollup_new_results()


# --- Stats ----------------------------------------------------------------------------------


def test_stats_answers_uptime_latency_and_incidents(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    checks(monitor, "up", "up", "up", "down")

    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/stats/?window=7d")

    assert response.status_code == 200, response.data
    data = response.data
    assert data["window"] == "7d"
    assert (data["checks"], data["up"], data["down"]) == (4, 3, 1)
    assert data["uptime_percent"] == 75.0
    assert data["response_time_avg_ms"] == 100.0
    assert 100 <= data["response_time_p95_ms"] <= 125  # the 100-125 ms bucket
    assert data["incidents"] == 0 and data["downtime_seconds"] == 0 and data["mttr_seconds"] is None


def test_stats_default_window_is_24h(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/stats/")
    assert response.data["window"] == "24h"
    assert response.data["uptime_percent"] is None


def test_stats_refuses_an_unknown_window(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/stats/?window=1y")
    assert response.status_code == 400
    assert "window" in response.data


def test_stats_of_another_teams_monitor_is_404(bob, alice_client):
    monitor = make_monitor(bob.personal_team)
    assert alice_client.get(f"/api/v1/monitors/{monitor.id}/stats/").status_code == 404
    assert alice_client.get(f"/api/v1/monitors/{monitor.id}/sla/").status_code == 404


def test_viewers_read_stats(make_member):
    team, _, client = make_member(Role.VIEWER)
    monitor = make_monitor(team)
    assert client.get(f"/api/v1/monitors/{monitor.id}/stats/").status_code == 200


# --- SLA ------------------------------------------------------------------------------------


def test_sla_report_json(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    checks(monitor, "up", "down", minutes_ago=1)
    month = timezone.now().strftime("%Y-%m")

    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/sla/?month={month}&target=99.9")

    assert response.status_code == 200
    data = response.data
    assert data["month"] == month
    assert data["target_percent"] == 99.9
    assert data["checks"] == 2 and data["uptime_percent"] == 50.0
    assert data["target_met"] is False
    assert len(data["days"]) == timezone.now().day
    assert data["days"][-1]["checks"] == 2 or data["days"][-2]["checks"] == 2


def test_sla_report_csv_download(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    checks(monitor, "up", "up", minutes_ago=1)
    month = timezone.now().strftime("%Y-%m")

    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/sla/?month={month}&format=csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"sla-monitor-{monitor.id}-{month}.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["day", "checks", "up", "uptime_percent"]
    assert len(rows) == 1 + timezone.now().day + 1  # header, days, month total
    assert rows[-1][:4] == [month, "2", "2", "100"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("month=2026-13", "month"), ("month=may", "month"), ("target=101", "target")],
)
def test_sla_report_refuses_bad_parameters(alice, alice_client, query, field):
    monitor = make_monitor(alice.personal_team)
    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/sla/?{query}")
    assert response.status_code == 400
    assert field in response.data


def test_sla_report_of_a_future_month_is_refused(alice, alice_client):
    monitor = make_monitor(alice.personal_team)
    next_year = timezone.now().year + 1
    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/sla/?month={next_year}-01")
    assert response.status_code == 400


# --- Badges ---------------------------------------------------------------------------------


def test_badge_lifecycle_through_the_api(alice, alice_client, anon_client):
    monitor = make_monitor(alice.personal_team)
    url = f"/api/v1/monitors/{monitor.id}/badge/"
    assert alice_client.get(url).data == {"enabled": False, "status_svg": None, "uptime_svg": None}

    created = alice_client.post(url)
    again = alice_client.post(url)

    assert created.status_code == 201 and again.status_code == 200
    assert created.data["status_svg"] == again.data["status_svg"]
    svg = anon_client.get(created.data["status_svg"].replace("http://testserver", ""))
    assert svg.status_code == 200 and b"<svg" in svg.content
    assert alice_client.delete(url).status_code == 204
    assert anon_client.get(created.data["status_svg"]).status_code == 404


def test_viewer_cannot_publish_badges(make_member):
    team, _, client = make_member(Role.VIEWER)
    monitor = make_monitor(team)
    assert client.post(f"/api/v1/monitors/{monitor.id}/badge/").status_code == 403


# --- Status pages ---------------------------------------------------------------------------

PAGES = "/api/v1/status-pages/"


def test_create_a_status_page(alice, alice_client):
    monitors = [make_monitor(alice.personal_team, f"API {n}") for n in range(2)]

    response = alice_client.post(
        PAGES,
        {"slug": "acme", "title": "Acme status", "monitors": [m.id for m in monitors]},
        format="json",
    )

    assert response.status_code == 201, response.data
    page = StatusPage.objects.get()
    assert page.team == alice.personal_team and page.is_public
    assert sorted(response.data["monitors"]) == sorted(m.id for m in monitors)
    assert response.data["public_url"] == "http://testserver/status/acme/"


def test_status_page_cannot_show_another_teams_monitor(alice, bob, alice_client):
    foreign = make_monitor(bob.personal_team)
    response = alice_client.post(
        PAGES, {"slug": "acme", "title": "Acme", "monitors": [foreign.id]}, format="json"
    )
    assert response.status_code == 400 and "monitors" in response.data


def test_status_page_monitors_must_be_in_the_pages_team(alice, alice_client, shared_team):
    shared_monitor = Monitor.objects.create(
        team=shared_team,
        name="Shared",
        url="https://x.io/",
        next_check_at=timezone.now() + timedelta(hours=1),
    )
    response = alice_client.post(
        PAGES, {"slug": "acme", "title": "Acme", "monitors": [shared_monitor.id]}, format="json"
    )
    assert response.status_code == 400
    assert "another team" in str(response.data["monitors"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "Not a slug!", "title": "x"}, "slug"),
        ({"slug": "admin", "title": "x"}, "slug"),
        ({"slug": "ok"}, "title"),
    ],
)
def test_status_page_validation(alice_client, payload, field):
    response = alice_client.post(PAGES, payload, format="json")
    assert response.status_code == 400 and field in response.data


def test_status_page_slugs_are_unique(alice_client, bob_client):
    assert alice_client.post(PAGES, {"slug": "acme", "title": "A"}).status_code == 201
    response = bob_client.post(PAGES, {"slug": "acme", "title": "B"})
    assert response.status_code == 400 and "slug" in response.data


def test_status_pages_are_team_scoped(alice, bob_client, alice_client):
    page = alice_client.post(PAGES, {"slug": "acme", "title": "A"}).data
    assert bob_client.get(PAGES).data["results"] == []
    assert bob_client.get(f"{PAGES}{page['id']}/").status_code == 404
    assert bob_client.delete(f"{PAGES}{page['id']}/").status_code == 404


def test_viewers_read_status_pages_but_do_not_change_them(alice_client, make_member):
    team, _, viewer_client = make_member(Role.VIEWER)
    page = alice_client.post(PAGES, {"slug": "acme", "title": "A", "team": team.id}).data
    assert viewer_client.get(f"{PAGES}{page['id']}/").status_code == 200
    response = viewer_client.patch(f"{PAGES}{page['id']}/", {"title": "B"}, format="json")
    assert response.status_code == 403
    assert (
        viewer_client.post(PAGES, {"slug": "b", "title": "B", "team": team.id}).status_code == 403
    )
