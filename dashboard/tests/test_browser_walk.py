"""A new user's first hour, in a real browser, at desktop (1280x800) and phone (390x844) widths.

Log in → create a webhook channel in the UI (its signing secret shown once) → create a
monitor whose two assertions are built in the form (and tried with "Test now") → check now →
it fails → an incident opens → acknowledge it → publish a status page. Headless Debian
Chromium (Playwright) against a live server, a real Celery worker (check-now, the draft check,
evaluation), PostgreSQL, Redis and a real HTTP target on 127.0.0.1; no beat: every check here
is one the user asked for.

The desktop walk saves the README's screenshots: run it with
HEALTHMON_SCREENSHOTS=docs/screenshots to refresh them (test-artifacts/ otherwise).
"""

from __future__ import annotations

import os
import re

import pytest
from django.db import connection

from conftest import PASSWORD, ROOT
from dashboard.tests.test_browser import (  # noqa: F401 - fixtures
    assert_accessible_basics,
    browser,
    seed_history,
    target,
)
from incidents.models import Incident
from monitors.models import Monitor
from monitors.rollups import rollup_new_results
from notifications.models import Channel

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ROOT / os.environ.get("HEALTHMON_SCREENSHOTS", "test-artifacts/screenshots/walk")
WAIT_MS = 45_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# The detail page of a monitor with history and an incident, at phone width, must fit in a
# few screens (it was 6,400 px tall).
PHONE_SCREENS = 3


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Monitors")).to_be_visible()


def create_webhook_channel(page, base: str, *, name: str, url: str) -> None:
    """The channel form (dashops' page: ``channels/new/``, URL name ``channel-create``)."""
    from playwright.sync_api import expect

    page.goto(f"{base}/channels/new/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Kind", exact=True).select_option("webhook")
    page.get_by_label("URL", exact=True).fill(url)
    page.get_by_role("button", name="Create channel").click()
    # A new webhook's signing secret is shown once, on the page the form answers with.
    expect(page.get_by_role("heading", name=f"Signing secret of “{name}”")).to_be_visible()
    channel = Channel.objects.get(name=name, kind="webhook")
    secret = page.get_by_label("Signing secret").input_value()
    assert secret and secret == channel.secrets["signing_secret"]
    page.get_by_role("link", name="Back to channels").click()
    expect(page).to_have_url(re.compile(r"/channels/$"))
    expect(page.locator("main")).to_contain_text(name)


def fill_assertion(page, number: int, check: str, operator: str, value: str) -> None:
    row = page.locator(".assertion-row").nth(number - 1)
    row.get_by_label("Check").select_option(label=check)
    row.get_by_label("Operator").select_option(label=operator)
    row.get_by_label("Value").fill(value)


def create_monitor_with_two_assertions(page, base: str, *, name: str, url: str, shots: bool):
    from playwright.sync_api import expect

    page.goto(f"{base}/monitors/new/")
    expect(page.get_by_role("heading", name="New monitor")).to_be_visible()
    # Kind first: choosing TCP hides the URL; HTTP(S) shows it again.
    page.get_by_label("TCP port").check()
    expect(page.get_by_label("URL", exact=True)).to_be_hidden()
    expect(page.get_by_label("Port", exact=True)).to_be_visible()
    page.get_by_label("HTTP(S)").check()
    expect(page.get_by_label("Port", exact=True)).to_be_hidden()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("URL", exact=True).fill(url)
    page.get_by_label("Interval", exact=True).fill(
        "300"
    )  # only the checks asked for run in this walk
    page.get_by_label("Timeout", exact=True).fill("5")
    page.get_by_label("Failure threshold", exact=True).fill("1")
    page.get_by_label("Header 1 name").fill("Accept")
    page.get_by_label("Header 1 value").fill("text/plain")
    fill_assertion(page, 1, "Status code", "is", "200")
    fill_assertion(page, 2, "Body", "contains", "ok")

    # Try the draft: it fails, and each assertion says so on its row.
    page.get_by_role("button", name="Test now").click()
    result = page.locator("[data-test-result]")
    expect(result).to_contain_text("DOWN", timeout=WAIT_MS)
    expect(result).to_contain_text("HTTP 503")
    expect(result).to_contain_text("maintenance")  # the body excerpt
    rows = page.locator(".assertion-row")
    expect(rows.nth(0).locator("[data-assertion-result]")).to_contain_text(
        "fails: status code 503 is not 200"
    )
    expect(rows.nth(1).locator("[data-assertion-result]")).to_contain_text("fails: body does")
    assert_accessible_basics(page)
    if shots:
        shot(page, "03-new-monitor")
    page.get_by_role("button", name="Create monitor").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    monitor = Monitor.objects.get(name=name)
    assert monitor.assertions == [
        {"type": "status_code", "value": "200"},
        {"type": "body_contains", "value": "ok"},
    ]
    assert monitor.headers == {"Accept": "text/plain"}
    return monitor


def walk(chromium, base: str, user, server, *, viewport: dict, suffix: str, shots: bool) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(viewport=viewport, is_mobile=viewport is PHONE)
    page = context.new_page()
    try:
        page.goto(f"{base}/")
        if shots:
            shot(page, "01-login")
        log_in(page, base, user.email)

        receiver = f"{server.base}/hooks/{suffix}"
        create_webhook_channel(page, base, name=f"On-call webhook {suffix}", url=receiver)
        if shots:
            shot(page, "02-new-channel")

        name = f"Checkout API {suffix}"
        monitor = create_monitor_with_two_assertions(
            page, base, name=name, url=f"{server.base}/health", shots=shots
        )

        # Check now: the failure opens an incident (threshold 1); the page shows it live.
        page.get_by_role("button", name="Check now").click()
        expect(page.locator(".messages")).to_contain_text("Check queued")
        state = page.get_by_test_id("monitor-state")
        expect(state).to_have_text("Down", timeout=WAIT_MS)
        live = page.locator("#monitor-live")
        expect(live).to_contain_text("HTTP 503, expected 200-299")
        expect(live.locator(".beat-down")).to_have_count(1)
        expect(live.locator(".timeline-item.is-open")).to_contain_text(
            "Incident opened, after 1 failed check", timeout=WAIT_MS
        )
        if shots:
            shot(page, "04-incident-open")

        # Acknowledge from the monitor's own timeline.
        live.get_by_role("button", name="Acknowledge").click()
        expect(page.locator(".messages")).to_contain_text("acknowledged")
        expect(page.locator("#monitor-live")).to_contain_text(f"Acknowledged by {user.email}")
        incident = Incident.objects.get(monitor=monitor, resolved_at__isnull=True)
        assert incident.acknowledged_by_id == user.id
        if shots:
            shot(page, "05-incident-acknowledged")
        if viewport is PHONE:
            height = page.evaluate("document.documentElement.scrollHeight")
            assert height < PHONE_SCREENS * PHONE["height"], height
            shot(page, "08-monitor-phone")

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Monitors").click()
        expect(page.locator("table.monitors tbody")).to_contain_text(name)
        if shots:
            shot(page, "06-overview")

        # Publish a status page; the public sees the outage, none of the private details.
        page.goto(f"{base}/status-pages/new/")
        page.get_by_label("Title").fill(f"Acme Shop status {suffix}")
        page.get_by_label("Slug").fill(f"acme-{suffix}")
        page.get_by_label(name).check()
        page.get_by_role("button", name="Create status page").click()
        expect(page.get_by_role("link", name=f"/status/acme-{suffix}/")).to_be_visible()
        page.goto(f"{base}/status/acme-{suffix}/")
        expect(page.get_by_test_id("overall")).not_to_have_text("All systems operational")
        expect(page.locator("body")).to_contain_text(f"{name} is down since")
        assert server.base not in page.content()
        if shots:
            shot(page, "07-status-page")
    finally:
        context.close()


def test_a_new_user_walks_from_login_to_a_status_page_at_desktop_and_phone_widths(
    celery_worker_process,
    live_server,
    alice,
    target,  # noqa: F811 - the fixture imported above
    browser,  # noqa: F811
    settings,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    target.healthy.clear()  # the checked endpoint answers 503 "maintenance" throughout
    neighbour = Monitor.objects.create(
        team=alice.personal_team,
        name="Search API",
        url=f"{target.base}/ok/search",
        interval=300,
        timeout=5,
        status="up",
        is_active=False,  # history only: nothing checks it during the walk
    )
    seed_history(neighbour, days=30, down_days=(3,))
    rollup_new_results()
    try:
        walk(browser, live_server.url, alice, target, viewport=DESKTOP, suffix="desk", shots=True)
        walk(browser, live_server.url, alice, target, viewport=PHONE, suffix="phone", shots=False)
        # The phone's overview and the detail page in the dark scheme, for the README.
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        page = context.new_page()
        log_in(page, live_server.url, alice.email)
        shot(page, "09-overview-phone")
        context.close()
        dark = browser.new_context(viewport=DESKTOP, color_scheme="dark")
        page = dark.new_page()
        log_in(page, live_server.url, alice.email)
        page.get_by_role("link", name="Checkout API desk").click()
        shot(page, "10-monitor-dark")
        dark.close()
    finally:
        Monitor.objects.update(is_active=False)
        connection.close()
