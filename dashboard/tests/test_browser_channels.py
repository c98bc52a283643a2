"""Alerts set up in a real browser: headless Chromium (Playwright) against a live server, with
a real webhook receiver on 127.0.0.1.

A team has two monitors that alert nobody (the overview flags them). Its admin creates a
signed webhook channel with the form, copies the signing secret shown once, sends a test
message (the receiver checks the signature with that secret), makes the channel default and
accepts the offer to attach it to the existing monitors; the overview's flags are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from conftest import PASSWORD
from dashboard.tests.test_browser import CHROMIUM, CHROMIUM_ARGS, assert_accessible_basics, shot
from monitors.models import Monitor
from notifications.models import Channel
from notifications.tests.receivers import Receiver, start_receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000


@pytest.fixture
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    stop = start_receiver(receiver)
    yield receiver
    stop()


def test_create_a_webhook_channel_make_it_default_and_the_alerts_nobody_flags_go(
    live_server, alice, chromium, receiver, monkeypatch
):
    from playwright.sync_api import expect

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM reads between browser steps
    for name in ("Checkout API", "Search API"):
        Monitor.objects.create(
            team=alice.personal_team,
            name=name,
            url=f"https://{name.split()[0].lower()}.example.com/health",
            next_check_at=timezone.now() + timedelta(hours=1),
        )

    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()

    def nav(name: str):
        return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)

    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Email").fill(alice.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Monitors")).to_be_visible()
        flags = page.locator("[data-alerts-nobody]")
        expect(flags).to_have_count(2)

        # Create the channel with the form: only the chosen kind's fields are shown.
        nav("Channels").click()
        page.get_by_role("link", name="New channel").click()
        page.get_by_label("Name", exact=True).fill("Ops webhook")
        page.get_by_label("Kind").select_option("webhook")
        expect(page.get_by_label("Recipients")).to_be_hidden()
        page.get_by_label("URL", exact=True).fill(receiver.url)
        page.get_by_label("Default channel").check()
        assert_accessible_basics(page)
        shot(page, "channel-01-new")
        page.get_by_role("button", name="Create channel").click()

        # The generated signing secret, shown once.
        expect(page.get_by_role("heading", name="Signing secret of “Ops webhook”")).to_be_visible()
        secret = page.get_by_label("Signing secret").input_value()
        channel = Channel.objects.get(name="Ops webhook")
        assert secret == channel.secrets["signing_secret"]
        shot(page, "channel-02-secret")

        # Being default reaches new monitors only: the page offers the existing ones.
        page.get_by_role("link", name="Continue: attach to existing monitors").click()
        expect(page.locator("[data-missing-monitors]")).to_contain_text("Checkout API")
        expect(page.locator("[data-missing-monitors]")).to_contain_text("Search API")
        shot(page, "channel-03-attach")
        page.get_by_role("button", name="Attach to these 2 monitors").click()
        expect(page.locator(".messages")).to_contain_text("now alerts for 2 more monitors")

        # A test message arrives, signed with the secret the page showed.
        page.get_by_role("button", name="Send test to Ops webhook").click()
        expect(page.locator(".messages")).to_contain_text(
            "Test message sent to “Ops webhook” (HTTP 200)"
        )
        assert len(receiver.requests) == 1 and receiver.requests[0].signature_valid(secret)

        # Nobody is left unalerted; the monitor page says where its alerts go.
        nav("Monitors").click()
        expect(page.get_by_role("heading", name="Monitors")).to_be_visible()
        expect(flags).to_have_count(0, timeout=WAIT_MS)
        page.get_by_role("link", name="Checkout API").click()
        expect(page.locator("[data-monitor-alerts]")).to_contain_text("Ops webhook (Signed webhook")
        assert_accessible_basics(page)
        shot(page, "channel-04-monitor-alerts")
        assert set(channel.monitors.values_list("name", flat=True)) == {
            "Checkout API",
            "Search API",
        }
    finally:
        context.close()
        connection.close()  # the ORM ran in Playwright's thread too: let the test DB go
