"""Every dashboard page and the public status page, scanned by axe-core in headless Chromium,
at desktop (1280x800) and phone (390x844) widths, in the light and the dark colour scheme:
no serious or critical violation. axe-core is the copy bundled in axe-playwright-python
(nothing is fetched). And the monitor page at phone width fits in a few screens.

The pages are found from the dashboard's URL patterns: a page added without parameters is
scanned without a change here; a page that takes an id needs one line in ``sample_ids``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from conftest import PASSWORD
from dashboard.tests.test_browser import browser, seed_history  # noqa: F401 - fixtures
from dashboard.urls import urlpatterns
from incidents.models import Incident
from monitors.models import CheckResult, Monitor, StatusPage
from monitors.rollups import rollup_new_results
from notifications import services as channel_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")
BLOCKING = ("serious", "critical")
# Fragments fetched by live.js, JSON endpoints and the login page (scanned logged out).
NOT_PAGES = {"overview-live", "monitor-live", "monitor-test", "monitor-test-result", "logout"}


@pytest.fixture
def history(alice) -> dict:
    """A team with what every page can show: monitors with checks and incidents, a channel,
    a status page."""
    team = alice.personal_team
    now = timezone.now()
    monitor = Monitor.objects.create(
        team=team,
        name="Checkout API",
        url="https://checkout.example.com/health",
        interval=60,
        timeout=5,
        failure_threshold=2,
        status="down",
        last_checked_at=now,
        last_check_status="down",
        last_status_code=503,
        last_response_time_ms=38,
        last_reason="HTTP 503, expected 200-299",
        next_check_at=now + timedelta(hours=1),
    )
    other = Monitor.objects.create(
        team=team,
        name="Search API",
        url="https://search.example.com/health",
        status="up",
        next_check_at=now + timedelta(hours=1),
    )
    seed_history(monitor, days=30, down_days=(2, 9))
    seed_history(other, days=7)
    CheckResult.objects.bulk_create(
        CheckResult(
            monitor=monitor,
            checked_at=now - timedelta(minutes=minute),
            status="down",
            status_code=503,
            response_time_ms=38,
            phase="status",
            reason="HTTP 503, expected 200-299",
        )
        for minute in range(1, 4)
    )
    rollup_new_results()
    Incident.objects.create(
        team=team,
        monitor=monitor,
        monitor_name=monitor.name,
        started_at=now - timedelta(minutes=3),
        opened_at=now - timedelta(minutes=2),
        cause="HTTP 503, expected 200-299",
        last_reason="HTTP 503, expected 200-299",
        failure_count=3,
        acknowledged_by=alice,
        acknowledged_at=now - timedelta(minutes=1),
    )
    Incident.objects.create(
        team=team,
        monitor=monitor,
        monitor_name=monitor.name,
        started_at=now - timedelta(days=2, hours=1),
        opened_at=now - timedelta(days=2, hours=1),
        resolved_at=now - timedelta(days=2),
        resolution="recovered",
        cause="Connection refused",
        failure_count=4,
    )
    channel = channel_services.channel_create(
        team=team,
        name="Ops webhook",
        kind="webhook",
        config={"url": "https://hooks.example.com/healthmon"},
        monitors=[monitor],
    )
    status_page = StatusPage.objects.create(team=team, slug="acme", title="Acme status")
    status_page.monitors.set([monitor, other])
    return {"monitor": monitor, "channel": channel, "status_page": status_page}


def sample_ids(history: dict) -> dict[str, dict]:
    monitor = history["monitor"].id
    return {
        "monitor-detail": {"pk": monitor},
        "monitor-edit": {"pk": monitor},
        "monitor-clone": {"pk": monitor},
        "status-page-edit": {"pk": history["status_page"].id},
        "channel-edit": {"pk": history["channel"].id},
        "channel-default": {"pk": history["channel"].id},
        "team-detail": {"pk": history["monitor"].team_id},
    }


def dashboard_pages(alice, history: dict) -> list[str]:
    """Every GET page of the dashboard (a view answering 405 to GET is an action)."""
    client = Client()
    client.force_login(alice)
    samples = sample_ids(history)
    pages = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        name = pattern.name or ""
        if name in NOT_PAGES or name == "login":
            continue
        if pattern.pattern.converters:
            if name not in samples:
                if client.get(_with_dummy_ids(pattern)).status_code == 405:
                    continue  # an action (POST only)
                pytest.fail(f"add an id for the page {name!r} to sample_ids")
            url = reverse(f"dashboard:{name}", kwargs=samples[name])
        else:
            url = reverse(f"dashboard:{name}")
        if client.get(url).status_code == 405:
            continue
        pages.append(url)
    return pages


def _with_dummy_ids(pattern: URLPattern) -> str:
    path = re.sub(r"<int:\w+>", "1", str(pattern.pattern))
    return "/" + re.sub(r"<uuid:\w+>", "0" * 32, path)


@pytest.fixture
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def blocking_violations(axe, page) -> list[str]:
    results = axe.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


@pytest.fixture
def contexts(browser) -> Iterator:  # noqa: F811 - the fixture imported above
    opened = []

    def make(width: str, scheme: str, **options):
        context = browser.new_context(
            viewport=WIDTHS[width], color_scheme=scheme, is_mobile=width == "phone", **options
        )
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_page_has_a_serious_or_critical_accessibility_violation(
    live_server, alice, history, contexts, axe, width, scheme, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    base = live_server.url
    page = contexts(width, scheme).new_page()
    found: dict[str, list[str]] = {}

    page.goto(f"{base}/login/")
    found["/login/"] = blocking_violations(axe, page)
    log_in(page, base, alice.email)
    urls = dashboard_pages(alice, history)
    assert "/" in urls and f"/monitors/{history['monitor'].id}/" in urls
    for url in urls:
        page.goto(f"{base}{url}")
        found[url] = blocking_violations(axe, page)
    # A form with errors: every message on its field, still accessible.
    page.goto(f"{base}/monitors/new/")
    page.get_by_role("button", name="Create monitor").click()
    page.wait_for_selector(".form-errors")
    found["/monitors/new/ (errors)"] = blocking_violations(axe, page)
    page.goto(f"{base}/status/acme/")
    found["/status/acme/"] = blocking_violations(axe, page)

    assert {url: problems for url, problems in found.items() if problems} == {}
    connection.close()


def test_the_monitor_page_at_phone_width_fits_in_three_screens(
    live_server, alice, history, contexts, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    page = contexts("phone", "light", timezone_id="Asia/Tokyo").new_page()
    log_in(page, live_server.url, alice.email)

    response = page.goto(f"{live_server.url}/monitors/{history['monitor'].id}/")
    assert response is not None and response.status == 200
    # Folded on a phone, still there: one tap opens dependencies, escalation and badges.
    assert page.locator("details.more-about").get_attribute("open") is None
    assert page.locator("details.more-about").count() == 1
    height = page.evaluate("document.documentElement.scrollHeight")

    assert height < 3 * WIDTHS["phone"]["height"], height
    connection.close()


def test_times_show_in_the_readers_zone_with_utc_on_hover_and_bars_take_arrow_keys(
    live_server, alice, history, contexts, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    page = contexts("desktop", "dark", timezone_id="Asia/Tokyo").new_page()
    log_in(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/monitors/{history['monitor'].id}/")

    last_check = page.locator('#monitor-live time[data-local="datetime"]').first
    assert "GMT+9" in last_check.inner_text()
    assert last_check.get_attribute("title").endswith(" UTC")
    newest = page.locator("#monitor-live .beat[tabindex='0']")
    newest.focus()
    page.keyboard.press("ArrowLeft")
    focused = page.evaluate(
        "[document.activeElement.className, document.activeElement.dataset.tip]"
    )
    assert focused[0].startswith("beat ") and "GMT+9" in focused[1]
    # Dark mode follows the system setting.
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    connection.close()
