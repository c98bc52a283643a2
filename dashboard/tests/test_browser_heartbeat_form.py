"""In a real browser: the monitor form offers "Test now" for probed kinds only, not for a
heartbeat (passive: its job's pings are its checks)."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from dashboard.tests.test_browser import browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_test_now_hides_for_a_heartbeat_and_returns_for_a_probed_kind(
    live_server,
    alice,
    browser,  # noqa: F811
):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/monitors/new/")
    test_now = page.get_by_role("button", name="Test now")
    expect(test_now).to_be_visible()

    page.get_by_label("Heartbeat (cron job, backup)").check()

    expect(test_now).to_be_hidden()
    expect(page.get_by_label("Grace", exact=True)).to_be_visible()
    expect(page.get_by_label("Timeout", exact=True)).to_be_hidden()

    page.get_by_label("TCP port").check()

    expect(test_now).to_be_visible()
    page.close()
