"""Login, the overview, a monitor's page and the monitor forms, through Django's test client."""

import html
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from conftest import PASSWORD
from dashboard.forms import _messages
from dashboard.tests.conftest import make_monitor, web_for
from monitors.models import CheckNowRequest, CheckResult, Monitor, MonitorBadge
from monitors.rollups import rollup_new_results

pytestmark = pytest.mark.django_db


# --- Login ----------------------------------------------------------------------------------


def test_pages_need_a_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_login_with_email_and_password_opens_the_overview(alice):
    client = Client()
    page = client.get("/login/")
    assert b'<label for="id_username">Email</label>' in page.content

    response = client.post("/login/", {"username": alice.email, "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_a_message(alice):
    response = Client().post("/login/", {"username": alice.email, "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_repeated_failed_logins_are_throttled(alice, settings):
    settings.AUTH_THROTTLE_RATE = "3/min"
    client = Client()
    for _ in range(3):
        client.post("/login/", {"username": alice.email, "password": "wrong"})
    response = client.post("/login/", {"username": alice.email, "password": PASSWORD})
    assert response.status_code == 429


def test_logout_is_a_post_with_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/logout/").status_code == 403  # no CSRF token
    client.get("/")
    token = client.cookies["csrftoken"].value
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302


# --- Overview -------------------------------------------------------------------------------


def test_overview_lists_only_the_users_teams(alice, bob, alice_web):
    make_monitor(alice.personal_team, "Alice API")
    make_monitor(bob.personal_team, "Bob API")

    response = alice_web.get("/")

    assert b"Alice API" in response.content
    assert b"Bob API" not in response.content


def test_overview_shows_state_last_check_uptime_and_sparkline(alice, alice_web):
    monitor = make_monitor(alice.personal_team, status="up")
    now = timezone.now()
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=now - timedelta(minutes=m), status=status,
                        response_time_ms=120)
            for m, status in [(1, "up"), (2, "up"), (3, "up"), (4, "down")]
        ]
    )  # fmt: skip
    Monitor.objects.filter(pk=monitor.pk).update(
        last_checked_at=now, last_check_status="up", last_status_code=200
    )
    rollup_new_results()

    response = alice_web.get("/live/overview/")

    page_html = response.content.decode()
    assert 'data-state="up"' in page_html
    assert "75.00%" in page_html  # 3 of 4 checks up, 24h and 30d
    assert 'class="sparkline"' in page_html and ("<polyline" in page_html or "<circle" in page_html)
    assert "UP 200" in page_html


def test_every_dashboard_page_links_to_the_local_api_docs(alice, alice_web):
    html = alice_web.get("/").content.decode()

    assert '<a href="/api/docs/">API docs</a>' in html
    assert alice_web.get("/api/docs/").status_code == 200


def test_overview_filters_by_state_and_search(alice, alice_web):
    make_monitor(alice.personal_team, "Payments", status="down")
    make_monitor(alice.personal_team, "Search", status="up")
    make_monitor(alice.personal_team, "Legacy", is_active=False)

    down = alice_web.get("/live/overview/?state=down").content.decode()
    paused = alice_web.get("/?state=paused").content.decode()
    found = alice_web.get("/?q=sear").content.decode()

    assert "Payments" in down and "Search" not in down
    assert "Legacy" in paused and "Payments" not in paused
    assert "Search" in found and "Payments" not in found


def test_down_monitors_come_first(alice, alice_web):
    make_monitor(alice.personal_team, "A healthy one", status="up")
    make_monitor(alice.personal_team, "Z broken one", status="down")
    page_html = alice_web.get("/").content.decode()
    assert page_html.index("Z broken one") < page_html.index("A healthy one")


# --- Detail ---------------------------------------------------------------------------------


def test_monitor_page_of_another_team_is_404(bob, alice_web):
    monitor = make_monitor(bob.personal_team)
    assert alice_web.get(f"/monitors/{monitor.id}/").status_code == 404
    assert alice_web.get(f"/monitors/{monitor.id}/live/").status_code == 404
    assert alice_web.post(f"/monitors/{monitor.id}/pause/").status_code == 404


def test_monitor_page_shows_chart_bars_checks_and_stats(alice, alice_web):
    monitor = make_monitor(alice.personal_team, status="down")
    now = timezone.now()
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=monitor, checked_at=now - timedelta(minutes=5), status="up",
                        status_code=200, response_time_ms=80),
            CheckResult(monitor=monitor, checked_at=now - timedelta(minutes=4), status="down",
                        status_code=503, response_time_ms=12, phase="status",
                        reason="HTTP 503 (expected 200-299)"),
        ]
    )  # fmt: skip
    rollup_new_results()

    page_html = alice_web.get(f"/monitors/{monitor.id}/").content.decode()

    assert 'class="response-chart"' in page_html
    assert page_html.count('class="bar bar-') == 90
    assert "HTTP 503 (expected 200-299)" in page_html
    assert "Last </span>24h</th>" in page_html and "Last </span>90d</th>" in page_html
    assert "50.00%" in page_html
    assert f"/api/v1/monitors/{monitor.id}/sla/?month=" in page_html


def test_viewer_sees_a_monitor_but_no_edit_controls(make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    monitor = make_monitor(team)
    client = web_for(viewer)

    page_html = client.get(f"/monitors/{monitor.id}/").content.decode()

    assert monitor.name in page_html
    assert "/edit/" not in page_html and ">Pause<" not in page_html
    assert client.get(f"/monitors/{monitor.id}/edit/").status_code == 403
    assert client.post(f"/monitors/{monitor.id}/pause/").status_code == 403
    assert client.post(f"/monitors/{monitor.id}/delete/").status_code == 403


def test_pause_resume_and_delete(alice, alice_web):
    monitor = make_monitor(alice.personal_team)

    alice_web.post(f"/monitors/{monitor.id}/pause/")
    monitor.refresh_from_db()
    assert monitor.is_active is False
    alice_web.post(f"/monitors/{monitor.id}/resume/")
    monitor.refresh_from_db()
    assert monitor.is_active is True and monitor.next_check_at is not None
    response = alice_web.post(f"/monitors/{monitor.id}/delete/")
    assert response.status_code == 302 and not Monitor.objects.filter(pk=monitor.pk).exists()


def test_state_changes_need_post(alice, alice_web):
    monitor = make_monitor(alice.personal_team)
    assert alice_web.get(f"/monitors/{monitor.id}/pause/").status_code == 405
    assert alice_web.get(f"/monitors/{monitor.id}/delete/").status_code == 405


# --- Forms ----------------------------------------------------------------------------------


def form_data(**overrides):
    data = {
        "name": "Checkout",
        "url": "https://checkout.example.com/health",
        "method": "GET",
        "expected_status": "200-299",
        "interval": "60",
        "timeout": "5",
        "failure_threshold": "2",
        "success_threshold": "1",
        "follow_redirects": "on",
        "verify_tls": "on",
        "headers": '{"Accept": "application/json"}',
        "body": "",
        "assertions": '[{"type": "body_contains", "value": "ok"}]',
        "tags": "prod, payments",
    }
    data.update(overrides)
    return data


def test_create_monitor_through_the_form(alice, alice_web):
    data = form_data(team=alice.personal_team.id)
    response = alice_web.post("/monitors/new/", data)

    monitor = Monitor.objects.get(name="Checkout")
    assert response.status_code == 302 and response["Location"] == f"/monitors/{monitor.id}/"
    assert monitor.team == alice.personal_team
    assert monitor.headers == {"Accept": "application/json"}
    assert monitor.assertions == [{"type": "body_contains", "value": "ok"}]
    assert sorted(t.name for t in monitor.tags.all()) == ["payments", "prod"]
    assert monitor.next_check_at is not None  # scheduled like an API-created monitor


def api_payload(**overrides):
    payload = {
        "name": "Checkout",
        "url": "https://checkout.example.com/health",
        "interval": 60,
        "timeout": 5,
    }
    payload.update(overrides)
    return payload


@pytest.mark.parametrize(
    ("form", "api", "message"),
    [
        ({"interval": "5"}, {"interval": 5}, "The interval must be at least"),
        (
            {"timeout": "90", "interval": "120"},
            {"timeout": 90, "interval": 120},
            "The timeout must be at most",
        ),
        (
            {"timeout": "60", "interval": "60"},
            {"timeout": 60, "interval": 60},
            "The timeout must be below the interval.",
        ),
        (
            {"url": "ftp://files.example.com/"},
            {"url": "ftp://files.example.com/"},
            "Only http:// and https:// URLs",
        ),
        (
            {"headers": '{"Bad Header": "x"}'},
            {"headers": {"Bad Header": "x"}},
            "is not a valid header name",
        ),
        ({"expected_status": "200-abc"}, {"expected_status": "200-abc"}, ""),
        ({"assertions": '[{"type": "nonsense"}]'}, {"assertions": [{"type": "nonsense"}]}, ""),
    ],
)
def test_form_refuses_what_the_api_refuses(alice, alice_web, alice_client, form, api, message):
    response = alice_web.post("/monitors/new/", form_data(team=alice.personal_team.id, **form))

    assert response.status_code == 200
    assert not Monitor.objects.exists()
    page = html.unescape(response.content.decode())
    assert 'class="form-errors"' in page and message in page
    api_response = alice_client.post("/api/v1/monitors/", api_payload(**api), format="json")
    assert api_response.status_code == 400
    for api_message in _messages(api_response.data):  # the page shows the API's own words
        assert api_message.split(": ")[-1] in page


def test_form_reports_json_syntax_errors_by_field(alice, alice_web):
    response = alice_web.post(
        "/monitors/new/", form_data(team=alice.personal_team.id, headers="{not json")
    )
    assert "Not valid JSON" in response.content.decode()
    assert not Monitor.objects.exists()


def test_form_with_broken_json_still_reports_the_url_and_interval_errors(alice, alice_web):
    data = form_data(
        team=alice.personal_team.id,
        headers="{not json",
        url="ftp://files.example.com/",
        interval="5",
    )

    errors = alice_web.post("/monitors/new/", data).context["form"].errors

    assert sorted(errors) == ["headers", "interval", "url"]
    assert errors["headers"][0].startswith("Not valid JSON")
    assert errors["url"][0].startswith("Only http:// and https:// URLs")
    assert errors["interval"][0].startswith("The interval must be at least")
    assert not Monitor.objects.exists()


def test_form_offers_only_teams_where_the_user_is_editor(alice, make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    client = web_for(viewer)

    response = client.post("/monitors/new/", form_data(team=team.id))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Monitor.objects.filter(team=team).exists()


def test_edit_monitor_keeps_its_team(alice, alice_web):
    monitor = make_monitor(alice.personal_team, "Old name")
    page = alice_web.get(f"/monitors/{monitor.id}/edit/").content.decode()
    assert 'value="Old name"' in page

    response = alice_web.post(
        f"/monitors/{monitor.id}/edit/", form_data(name="New name", team=999999, interval="120")
    )

    assert response.status_code == 302
    monitor.refresh_from_db()
    assert (monitor.name, monitor.interval, monitor.team_id) == (
        "New name",
        120,
        alice.personal_team.id,
    )


def test_forms_are_csrf_protected(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/monitors/new/", form_data(team=alice.personal_team.id))
    assert response.status_code == 403
    assert not Monitor.objects.exists()


# --- Badges ---------------------------------------------------------------------------------


def test_badges_are_opt_in_and_public_by_token(alice, alice_web):
    monitor = make_monitor(alice.personal_team, status="up")
    assert MonitorBadge.objects.count() == 0

    alice_web.post(f"/monitors/{monitor.id}/badge/", {"action": "enable"})
    token = MonitorBadge.objects.get(monitor=monitor).token
    status = Client().get(f"/badge/{token}/status.svg")
    uptime = Client().get(f"/badge/{token}/uptime.svg")

    assert len(token) >= 32
    assert status.status_code == 200 and status["Content-Type"].startswith("image/svg+xml")
    assert b"status: up" in status.content
    assert b"uptime 30d: no data" in uptime.content
    alice_web.post(f"/monitors/{monitor.id}/badge/", {"action": "disable"})
    assert Client().get(f"/badge/{token}/status.svg").status_code == 404


def test_an_uptime_badge_for_an_unknown_window_is_a_400_not_30_days(alice):
    monitor = make_monitor(alice.personal_team, status="up")
    token = MonitorBadge.objects.create(monitor=monitor).token

    response = Client().get(f"/badge/{token}/uptime.svg?window=1y")

    assert response.status_code == 400
    assert response.content.decode() == "Unknown window '1y': use one of 24h, 7d, 30d, 90d."


def test_check_now_is_queued_to_the_workers_and_back_to_the_monitor_page(alice, alice_web):
    monitor = make_monitor(alice.personal_team)

    response = alice_web.post(f"/monitors/{monitor.id}/check-now/", follow=True)

    assert response.redirect_chain == [(f"/monitors/{monitor.id}/", 302)]
    assert "Check queued" in response.content.decode()
    assert CheckNowRequest.objects.filter(monitor=monitor, finished_at=None).count() == 1
    assert not CheckResult.objects.filter(monitor=monitor).exists()


def test_check_now_over_the_team_limit_is_refused_with_a_message(settings, alice, alice_web):
    settings.CHECK_NOW_MAX_CONCURRENT_PER_TEAM = 1
    monitor = make_monitor(alice.personal_team)
    CheckNowRequest.objects.create(monitor=monitor)

    response = alice_web.post(f"/monitors/{monitor.id}/check-now/", follow=True)

    assert "limit of 1 check-now requests running" in response.content.decode()
    assert CheckNowRequest.objects.filter(monitor=monitor).count() == 1


def test_a_viewer_may_not_check_now(make_member, alice):
    team, viewer, _ = make_member(Role.VIEWER)
    monitor = make_monitor(team)

    response = web_for(viewer).post(f"/monitors/{monitor.id}/check-now/")

    assert response.status_code == 403
    assert not CheckNowRequest.objects.exists()


def test_dependencies_and_flapping_are_edited_in_the_form_and_listed(alice, alice_web):
    team = alice.personal_team
    gateway = make_monitor(team, "Gateway")
    response = alice_web.post(
        "/monitors/new/",
        form_data(team=team.id, depends_on=[gateway.id], flap_threshold="3"),
    )
    monitor = Monitor.objects.get(name="Checkout")
    assert response.status_code == 302
    assert list(monitor.parent_links.values_list("parent_id", flat=True)) == [gateway.id]
    assert monitor.flap_threshold == 3 and monitor.flap_window_minutes == 30
    page = alice_web.get(f"/monitors/{gateway.id}/").content.decode()
    assert f'href="/monitors/{monitor.id}/">Checkout</a>' in page  # depended on by
    edit = alice_web.get(f"/monitors/{monitor.id}/edit/").content.decode()
    assert f'<option value="{gateway.id}" selected>Gateway</option>' in edit

    # A cycle is refused on the field, with the API's words.
    response = alice_web.post(
        f"/monitors/{gateway.id}/edit/", form_data(name="Gateway", depends_on=[monitor.id])
    )
    assert response.status_code == 200
    assert "These dependencies would make a cycle: Gateway → Checkout → Gateway." in html.unescape(
        response.content.decode()
    )
    assert not gateway.parent_links.exists()
