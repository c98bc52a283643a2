"""A strict Content-Security-Policy on every response, and pages that live within it."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class Resources(HTMLParser):
    """The URLs a page loads scripts and styles from, and anything inline the CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.inline.append(f"<{tag} {attrs}>")
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(attributes["src"])
            else:
                self.inline.append("<script> without src")
        elif tag == "style":
            self.inline.append("<style>")
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.urls.append(attributes["href"])


def resources(content: bytes) -> Resources:
    parser = Resources()
    parser.feed(content.decode())
    return parser


@pytest.mark.parametrize("path", ["/login/", "/api/v1/auth/me/", "/live", "/no-such-page/"])
def test_every_response_carries_the_policy(db, path):
    assert Client().get(path)["Content-Security-Policy"] == POLICY


@pytest.mark.django_db
def test_swagger_ui_loads_its_scripts_and_styles_from_this_server_only():
    page = Client().get("/api/docs/")

    assert page.status_code == 200
    found = resources(page.content)
    assert found.inline == []
    assert any("swagger-ui-bundle.js" in url for url in found.urls)
    assert all(url.startswith("/") and not url.startswith("//") for url in found.urls), found.urls
    for url in found.urls:  # served by whitenoise from the collected static files
        path = url.split("?")[0].removeprefix("/static/")
        assert url.startswith("/api/docs/?") or finders.find(path), url


def test_the_dashboard_pages_have_no_inline_scripts_or_styles(alice):
    client = Client()
    assert resources(client.get("/login/").content).inline == []
    client.force_login(alice)
    for path in ["/", "/incidents/", "/channels/", "/status-pages/", "/monitors/new/"]:
        found = resources(client.get(path).content)
        assert found.inline == [], path
        assert all(url.startswith("/static/") for url in found.urls), (path, found.urls)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_runs_in_a_browser_without_breaking_the_policy(live_server):
    # The check that matters: Chromium enforces the header and reports every violation.
    from playwright.sync_api import sync_playwright

    chromium_path = Path("/usr/bin/chromium")
    if not chromium_path.exists():
        pytest.skip(f"needs Debian's chromium at {chromium_path}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = chromium.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{live_server.url}/api/docs/")
            page.wait_for_selector(".opblock-tag", timeout=30_000)  # the schema's operations
        finally:
            chromium.close()
    assert [p for p in problems if "Content Security Policy" in p] == []
