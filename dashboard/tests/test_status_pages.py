"""Public status pages (no login, nothing private) and the pages that manage them."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from dashboard.tests.conftest import make_monitor, web_for
from incidents.models import Incident
from monitors.models import CheckResult, StatusPage
from monitors.rollups import rollup_new_results
from reports.status_pages import overall_state

pytestmark = pytest.mark.django_db

SECRET_URL = "https://db-admin.internal.corp:8443/health?token=hunter2"
SECRET_REASON = "connect to 10.2.3.4:8443 refused"


@pytest.fixture
def page(alice):
    api = make_monitor(alice.personal_team, "Public API", status="up", url=SECRET_URL)
    web = make_monitor(alice.personal_team, "Website", status="down", url=SECRET_URL)
    make_monitor(alice.personal_team, "Not on the page", status="up")
    now = timezone.now()
    CheckResult.objects.bulk_create(
        [
            CheckResult(monitor=api, checked_at=now - timedelta(hours=1), status="up"),
            CheckResult(monitor=web, checked_at=now - timedelta(hours=1), status="down",
                        reason=SECRET_REASON),
        ]
    )  # fmt: skip
    rollup_new_results()
    Incident.objects.create(
        team=alice.personal_team, monitor=web, monitor_name=web.name,
        started_at=now - timedelta(minutes=20), opened_at=now - timedelta(minutes=19),
        cause=SECRET_REASON, last_reason=SECRET_REASON,
    )  # fmt: skip
    Incident.objects.create(
        team=alice.personal_team, monitor=api, monitor_name=api.name,
        started_at=now - timedelta(days=2), opened_at=now - timedelta(days=2),
        resolved_at=now - timedelta(days=2) + timedelta(minutes=7), cause=SECRET_REASON,
    )  # fmt: skip
    status_page = StatusPage.objects.create(
        team=alice.personal_team, slug="acme", title="Acme Cloud", description="Our services"
    )
    status_page.monitors.set([api, web])
    return status_page


def test_public_page_needs_no_login_and_shows_state_bars_and_incidents(page):
    response = Client().get("/status/acme/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Cloud" in html and "Our services" in html
    assert "Partial outage" in html
    assert "Public API" in html and "Website" in html
    assert "Not on the page" not in html
    assert html.count('class="uptime-bars"') == 2
    assert "Current incidents" in html and "Website</strong> is down since" in html
    assert "Past incidents" in html and "(7m 00s)" in html
    assert "max-age=15" in response["Cache-Control"]


def test_public_page_leaks_no_urls_or_reasons(page):
    html = Client().get("/status/acme/").content.decode()
    for private in ("internal.corp", "hunter2", "10.2.3.4", "refused", "8443"):
        assert private not in html


def test_unpublished_and_unknown_pages_are_404(page):
    page.is_public = False
    page.save()
    assert Client().get("/status/acme/").status_code == 404
    assert Client().get("/status/nope/").status_code == 404


@pytest.mark.parametrize(
    ("states", "overall"),
    [
        (["up", "up"], "operational"),
        (["up", "down"], "partial_outage"),
        (["down", "down", "paused"], "major_outage"),
        (["up", "unknown"], "unknown"),
        (["paused"], "unknown"),
        ([], "unknown"),
    ],
)
def test_overall_state(states, overall):
    assert overall_state(states) == overall


# --- Management pages -----------------------------------------------------------------------


def test_create_edit_and_delete_a_status_page_through_forms(alice, alice_web):
    monitor = make_monitor(alice.personal_team, "Public API")

    created = alice_web.post(
        "/status-pages/new/",
        {
            "team": alice.personal_team.id,
            "title": "Acme",
            "slug": "acme",
            "monitors": [monitor.id],
            "is_public": "on",
        },
    )
    page = StatusPage.objects.get()
    edited = alice_web.post(
        f"/status-pages/{page.id}/edit/", {"title": "Acme Cloud", "slug": "acme-cloud"}
    )
    listing = alice_web.get("/status-pages/").content.decode()

    assert created.status_code == 302 and edited.status_code == 302
    page.refresh_from_db()
    assert (page.title, page.slug, page.is_public) == ("Acme Cloud", "acme-cloud", False)
    assert list(page.monitors.all()) == []  # unticked in the edit
    assert "/status/acme-cloud/" in listing
    assert alice_web.post(f"/status-pages/{page.id}/delete/").status_code == 302
    assert not StatusPage.objects.exists()


def test_status_page_form_shows_the_apis_messages(alice, bob, alice_web):
    StatusPage.objects.create(team=bob.personal_team, slug="taken", title="Bob")
    response = alice_web.post(
        "/status-pages/new/", {"team": alice.personal_team.id, "title": "A", "slug": "taken"}
    )
    assert response.status_code == 200
    assert "status page with this slug already exists" in response.content.decode()


def test_viewer_cannot_manage_status_pages(alice, make_member):
    team, viewer, _ = make_member(Role.VIEWER)
    page = StatusPage.objects.create(team=team, slug="acme", title="Acme")
    client = web_for(viewer)

    assert "Acme" in client.get("/status-pages/").content.decode()
    refused = client.post("/status-pages/new/", {"team": team.id, "title": "B", "slug": "b"})
    assert "Select a valid choice" in refused.content.decode()  # only teams they may edit
    assert client.post(f"/status-pages/{page.id}/edit/", {"title": "x"}).status_code == 403
    assert client.post(f"/status-pages/{page.id}/delete/").status_code == 403


def test_other_teams_status_pages_are_404(bob, alice_web):
    page = StatusPage.objects.create(team=bob.personal_team, slug="bob", title="Bob")
    assert alice_web.get(f"/status-pages/{page.id}/edit/").status_code == 404
    assert "Bob" not in alice_web.get("/status-pages/").content.decode()


def test_public_page_shows_maintenance_now_ahead_and_incident_updates(page, alice):
    from incidents import maintenance
    from incidents.updates import incident_update_post

    api = page.monitors.get(name="Public API")
    maintenance.maintenance_start_now(team=alice.personal_team, minutes=30, monitors=[api])
    start = timezone.now() + timedelta(days=2)
    maintenance.maintenance_window_create(
        team=alice.personal_team, name="Database upgrade", starts_at=start,
        ends_at=start + timedelta(hours=1), whole_team=True,
    )  # fmt: skip
    maintenance.maintenance_window_create(
        team=alice.personal_team, name="Too far ahead", whole_team=True,
        starts_at=start + timedelta(days=10), ends_at=start + timedelta(days=11),
    )  # fmt: skip
    incident = Incident.objects.get(monitor__name="Website")
    incident_update_post(incident=incident, status="identified", message="A bad deploy.")
    incident_update_post(incident=incident, status="monitoring", message="Rolled back.")

    html = Client().get("/status/acme/").content.decode()

    assert html.count('data-testid="maintenance"') == 1  # the API only
    assert "Scheduled maintenance" in html and "Database upgrade" in html
    assert "Too far ahead" not in html
    assert html.index("Rolled back.") < html.index("A bad deploy.")  # newest first
    assert "Identified" in html and "Monitoring" in html
