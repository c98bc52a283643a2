"""The dashboard in a real browser: headless Chromium (Playwright) against a live server, a real
Celery worker, Redis, PostgreSQL and a real HTTP target on 127.0.0.1.

One story, as an on-call engineer lives it: log in, create a monitor with the form, see it
go UP after a real check, break the target, see the incident appear without reloading,
acknowledge it, and publish a status page that shows the outage without private details.
Screenshots of each step go to test-artifacts/screenshots/story/; the README's pictures come
from the new user's walk (test_browser_walk.py).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from conftest import PASSWORD, ROOT
from incidents.models import Incident
from monitors.models import CheckResult, Monitor
from monitors.rollups import rollup_new_results
from monitors.tasks import dispatch_due_checks, rollup_check_results

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "story"
WAIT_MS = 45_000  # a check every 2 s, the page polls every 5 s: states show within seconds


class Target:
    """``/health`` answers 200 while ``healthy`` is set, else 503; ``/ok`` always 200."""

    def __init__(self) -> None:
        self.healthy = threading.Event()
        self.healthy.set()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:
                pass

            def do_GET(self) -> None:
                ok = self.path.startswith("/ok") or target.healthy.is_set()
                time.sleep(random.uniform(0.005, 0.04))  # a believable response time
                body = b"ok" if ok else b"maintenance"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def beat() -> Iterator[None]:
    """Stand in for celery beat: fire the real dispatcher and rollup tasks twice a second."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            dispatch_due_checks.delay()
            rollup_check_results.delay()
            stop.wait(0.5)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


def seed_history(monitor: Monitor, *, days: int, down_days: tuple[int, ...] = ()) -> None:
    """Past results for a monitor, so charts and bars have a history to show."""
    rng = random.Random(monitor.id)
    now = timezone.now()
    rows = []
    for hour in range(days * 24, 0, -1):
        at = now - timedelta(hours=hour)
        day = hour // 24
        failing = day in down_days and at.hour in (3, 4)
        for minute in (5, 25, 45):
            rows.append(
                CheckResult(
                    monitor=monitor,
                    checked_at=at.replace(minute=minute),
                    status="down" if failing else "up",
                    status_code=503 if failing else 200,
                    response_time_ms=int(rng.lognormvariate(4.2, 0.35)),
                )
            )
    CheckResult.objects.bulk_create(rows, batch_size=2000)


UNLABELLED = """() => {
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit"].includes(el.type)) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) problems.push(el.name);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!(el.textContent.trim() || el.getAttribute("aria-label"))) problems.push(el.outerHTML);
  }
  for (const el of document.querySelectorAll("svg[role=img]")) {
    if (!el.getAttribute("aria-label")) problems.push("svg without a text alternative");
  }
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  return problems;
}"""


def assert_accessible_basics(page) -> None:
    """Every control is labelled and every chart has a text alternative."""
    assert page.evaluate(UNLABELLED) == []


def focused_text(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_login_create_monitor_see_it_up_then_down_acknowledge_and_publish(
    celery_worker_process, live_server, alice, target, beat, browser, settings, monkeypatch
):
    from playwright.sync_api import expect

    # Playwright's sync API runs an event loop in this thread; the ORM calls between browser
    # steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MONITOR_MIN_INTERVAL = 1  # check every 2 s so the story takes seconds, not minutes
    neighbours = [
        Monitor.objects.create(
            team=alice.personal_team,
            name=name,
            url=f"{target.base}/ok/{name.lower().replace(' ', '-')}",
            interval=30,
            timeout=5,
            status="up",
            next_check_at=timezone.now(),
        )
        for name in ("Search API", "Auth service")
    ]
    seed_history(neighbours[0], days=90, down_days=(12, 40))
    seed_history(neighbours[1], days=30)
    rollup_new_results()

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()

    def nav(name: str):
        return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)

    try:
        # Log in with the same account as the API.
        page.goto(f"{live_server.url}/")
        expect(page).to_have_url(f"{live_server.url}/login/?next=/")
        page.get_by_label("Email").fill(alice.email)
        page.get_by_label("Password").fill(PASSWORD)
        shot(page, "01-login")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Monitors")).to_be_visible()
        # The keyboard's first stop skips the navigation; Enter on a link follows it.
        page.keyboard.press("Tab")
        assert focused_text(page) == "Skip to content"
        page.get_by_role("link", name="New monitor").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="New monitor")).to_be_visible()

        # Create a monitor with the form, pointing at the local target.
        page.get_by_label("Name", exact=True).fill("Checkout API")
        page.get_by_label("URL").fill(f"{target.base}/health")
        page.get_by_label("Interval").fill("2")
        page.get_by_label("Timeout").fill("1")
        page.get_by_label("Failure threshold").fill("2")
        page.get_by_label("Success threshold").fill("1")
        page.get_by_label("Tags").fill("prod, payments")
        assert_accessible_basics(page)
        shot(page, "02-new-monitor")
        page.get_by_role("button", name="Create monitor").click()

        # A real check runs and the page turns UP by itself (live polling, no reload).
        expect(page.get_by_role("heading", name="Checkout API")).to_be_visible()
        state = page.get_by_test_id("monitor-state")
        expect(state).to_have_text("Up", timeout=WAIT_MS)
        expect(page.locator("table.checks")).to_contain_text("UP")
        shot(page, "03-monitor-up")

        # The target starts failing: after two failed checks an incident opens.
        target.healthy.clear()
        expect(state).to_have_text("Down", timeout=WAIT_MS)
        expect(page.locator("#monitor-live")).to_contain_text("503", timeout=WAIT_MS)
        expect(page.locator("#monitor-live")).to_contain_text("Open", timeout=WAIT_MS)
        assert_accessible_basics(page)
        shot(page, "04-incident-open")

        # The overview shows it on top, live.
        nav("Monitors").click()
        first_row = page.locator("table.monitors tbody tr").first
        expect(first_row).to_contain_text("Checkout API")
        expect(first_row).to_contain_text("Down")
        assert_accessible_basics(page)
        shot(page, "05-overview")

        # Acknowledge it from the incidents timeline.
        nav("Incidents").click()
        incident = page.locator(".timeline-item").first
        expect(incident).to_contain_text("Checkout API")
        expect(incident).to_contain_text("HTTP 503")
        incident.get_by_role("button", name="Acknowledge").click()
        expect(page.locator(".messages")).to_contain_text("acknowledged")
        expect(page.locator(".timeline-item").first).to_contain_text(f"by {alice.email}")
        shot(page, "06-incident-acknowledged")
        opened = Incident.objects.get(monitor__name="Checkout API", resolved_at__isnull=True)
        assert opened.acknowledged_by_id == alice.id

        # Publish a status page with the form; the public sees the outage, no private detail.
        nav("Status pages").click()
        page.get_by_role("link", name="New status page").click()
        page.get_by_label("Title").fill("Acme Shop status")
        page.get_by_label("Slug").fill("acme-shop")
        page.get_by_label("Checkout API").check()
        page.get_by_label("Search API").check()
        page.get_by_label("Auth service").check()
        page.get_by_role("button", name="Create status page").click()
        expect(page.get_by_role("link", name="/status/acme-shop/")).to_be_visible()

        public = browser.new_context(viewport={"width": 1024, "height": 800}).new_page()
        public.goto(f"{live_server.url}/status/acme-shop/")
        expect(public.get_by_test_id("overall")).to_have_text("Partial outage")
        expect(public.locator("body")).to_contain_text("Checkout API is down since")
        body = public.content()
        for private in (target.base, "127.0.0.1", "expected 200-299", "maintenance"):
            assert private not in body
        assert public.locator("svg.uptime-bars").count() == 3
        shot(public, "07-status-page")
        public.context.close()

        # Phone width: the same pages stay usable.
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
        )
        phone.add_cookies(context.cookies())
        phone_page = phone.new_page()
        phone_page.goto(f"{live_server.url}/")
        expect(phone_page.locator("table.monitors")).to_contain_text("Checkout API")
        shot(phone_page, "08-overview-phone")
        phone.close()

        # Recovery: the target answers again and the page returns to UP on its own.
        nav("Monitors").click()
        page.get_by_role("link", name="Checkout API").click()
        target.healthy.set()
        expect(page.get_by_test_id("monitor-state")).to_have_text("Up", timeout=WAIT_MS)
        expect(page.locator("#monitor-live")).to_contain_text("Resolved", timeout=WAIT_MS)
        shot(page, "09-monitor-recovered")
    finally:
        context.close()
        # Stop checking before the test database is flushed under the worker's feet.
        Monitor.objects.update(is_active=False)
        connection.close()
