"""Monitors written through the real Django admin: validated by the model, saved by the
services (so they are scheduled like any other monitor)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import AuditEntry
from monitors import services, status_pages
from monitors.models import Monitor, StatusPage
from monitors.scheduling import claim_due_monitors

pytestmark = pytest.mark.django_db

ADD = "/admin/monitors/monitor/add/"


def admin_form(team, **overrides) -> dict:
    """What the admin's add form posts for a valid monitor, with ``overrides``."""
    data = {
        "team": team.id,
        "name": "Checkout",
        "kind": "http",
        "url": "https://checkout.example.com/health",
        "is_active": "on",
        "method": "GET",
        "headers": "{}",
        "body": "",
        "timeout": "5",
        "follow_redirects": "on",
        "verify_tls": "on",
        "expected_status": "200-299",
        "assertions": "[]",
        "failure_threshold": "2",
        "success_threshold": "1",
        "interval": "60",
        "tz": "UTC",  # the heartbeat schedule's defaults, shown in the form
        "grace": "60",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def admin_errors(response) -> dict[str, list[str]]:
    return dict(response.context["adminform"].form.errors)


def test_monitor_added_in_the_admin_is_claimed_by_the_dispatcher(admin_client, alice):
    response = admin_client.post(ADD, admin_form(alice.personal_team))

    assert response.status_code == 302, admin_errors(response)
    monitor = Monitor.objects.get(name="Checkout")
    assert monitor.next_check_at is not None
    # The first check is spread over one interval, like a monitor made by the API; the
    # dispatcher claims it when it falls due (a claim a whole interval late would re-spread).
    assert monitor.next_check_at <= timezone.now() + timedelta(seconds=monitor.interval)
    claims, _ = claim_due_monitors(now=monitor.next_check_at)
    assert [claim.monitor_id for claim in claims] == [monitor.id]


def test_tags_chosen_in_the_admin_are_saved_by_the_service(admin_client, alice):
    from monitors.models import Tag

    prod = Tag.objects.create(team=alice.personal_team, name="prod")

    admin_client.post(ADD, admin_form(alice.personal_team, tags=[prod.id]))

    assert [tag.name for tag in Monitor.objects.get(name="Checkout").tags.all()] == ["prod"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("assertions", '[{"type": "nonsense"}]', "Assertion 1: Unknown assertion type 'nonsense'"),
        ("url", "ftp://files.example.com/", "Only http:// and https:// URLs can be monitored."),
        ("interval", "10", "The interval must be at least 30 seconds."),
        ("timeout", "60", "The timeout must be below the interval."),
    ],
)
def test_invalid_monitor_in_the_admin_shows_field_errors_and_creates_nothing(
    admin_client, alice, field, value, message
):
    response = admin_client.post(ADD, admin_form(alice.personal_team, **{field: value}))

    assert response.status_code == 200
    assert any(error.startswith(message) for error in admin_errors(response)[field])
    assert not Monitor.objects.exists()


def test_reactivating_a_paused_monitor_in_the_admin_makes_it_due_within_seconds(
    admin_client, alice
):
    admin_client.post(ADD, admin_form(alice.personal_team, interval="3600", is_active=""))
    monitor = Monitor.objects.get(name="Checkout")

    response = admin_client.post(
        f"/admin/monitors/monitor/{monitor.id}/change/",
        admin_form(alice.personal_team, interval="3600"),
    )

    assert response.status_code == 302, admin_errors(response)
    monitor.refresh_from_db()
    assert monitor.is_active
    assert monitor.next_check_at <= timezone.now() + timedelta(seconds=6)


def test_a_tcp_monitor_is_added_in_the_admin_and_its_kind_is_then_read_only(admin_client, alice):
    tcp = admin_form(alice.personal_team, kind="tcp", url="", host="db.internal", port="5432")
    response = admin_client.post(ADD, tcp)

    assert response.status_code == 302, admin_errors(response)
    monitor = Monitor.objects.get(name="Checkout")
    assert (monitor.kind, monitor.host, monitor.port) == ("tcp", "db.internal", 5432)
    change_page = admin_client.get(f"/admin/monitors/monitor/{monitor.id}/change/")
    assert "kind" in change_page.context["adminform"].readonly_fields


def test_the_admin_gives_the_apis_message_for_a_kinds_missing_field(admin_client, alice):
    response = admin_client.post(
        ADD, admin_form(alice.personal_team, kind="dns", url="", host="a.test")
    )

    assert response.status_code == 200
    assert admin_errors(response) == {
        "dns_record_type": ["This field is required for dns monitors."]
    }


# --- Every admin write is one audited service call -----------------------------------------

STATUS_PAGES = "/admin/monitors/statuspage/"
MONITORS = "/admin/monitors/monitor/"


def audit_trail(object_type: str) -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(object_type=object_type)
        .order_by("id")
        .values_list("action", "actor__email")
    )


def make_monitor(team, name: str = "Checkout") -> Monitor:
    return services.monitor_create(team=team, name=name, url="https://checkout.example.com/")


def test_monitor_added_in_the_admin_is_audited_with_the_staff_user(admin_client, admin_user, alice):
    admin_client.post(ADD, admin_form(alice.personal_team))

    assert audit_trail("monitor") == [("create", admin_user.email)]


def test_monitor_changed_in_the_admin_is_audited_with_its_changes(admin_client, admin_user, alice):
    monitor = make_monitor(alice.personal_team)

    response = admin_client.post(
        f"{MONITORS}{monitor.id}/change/", admin_form(alice.personal_team, name="Renamed")
    )

    assert response.status_code == 302, admin_errors(response)
    entry = AuditEntry.objects.get(object_type="monitor", action="update")
    assert (entry.actor, entry.changes["name"]) == (admin_user, ["Checkout", "Renamed"])


def test_monitor_deleted_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, alice
):
    monitor = make_monitor(alice.personal_team)

    admin_client.post(f"{MONITORS}{monitor.id}/delete/", {"post": "yes"})

    assert not Monitor.objects.exists()
    assert audit_trail("monitor")[1:] == [("delete", admin_user.email)]


def test_bulk_delete_of_monitors_in_the_admin_audits_each_one(admin_client, admin_user, alice):
    monitors = [make_monitor(alice.personal_team, name) for name in ("A", "B")]

    admin_client.post(
        MONITORS,
        {"action": "delete_selected", "post": "yes", "_selected_action": [m.id for m in monitors]},
    )

    assert not Monitor.objects.exists()
    assert audit_trail("monitor")[2:] == [("delete", admin_user.email)] * 2


def status_page_form(team, **overrides) -> dict:
    data = {"team": team.id, "slug": "shop", "title": "Shop", "description": "", "is_public": "on"}
    data.update(overrides)
    return data


def test_status_page_added_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, alice
):
    monitor = make_monitor(alice.personal_team)

    response = admin_client.post(
        f"{STATUS_PAGES}add/", status_page_form(alice.personal_team, monitors=[monitor.id])
    )

    assert response.status_code == 302, admin_errors(response)
    page = StatusPage.objects.get()
    assert list(page.monitors.all()) == [monitor]
    assert audit_trail("statuspage") == [("create", admin_user.email)]


def test_status_page_changed_in_the_admin_is_audited_with_its_changes(
    admin_client, admin_user, alice
):
    page = status_pages.status_page_create(team=alice.personal_team, slug="shop", title="Shop")

    response = admin_client.post(
        f"{STATUS_PAGES}{page.id}/change/", status_page_form(alice.personal_team, title="Store")
    )

    assert response.status_code == 302, admin_errors(response)
    entry = AuditEntry.objects.get(object_type="statuspage", action="update")
    assert (entry.actor, entry.changes) == (admin_user, {"title": ["Shop", "Store"]})


def test_status_page_deleted_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, alice
):
    page = status_pages.status_page_create(team=alice.personal_team, slug="shop", title="Shop")

    admin_client.post(f"{STATUS_PAGES}{page.id}/delete/", {"post": "yes"})

    assert not StatusPage.objects.exists()
    assert audit_trail("statuspage")[1:] == [("delete", admin_user.email)]


def test_bulk_delete_of_status_pages_in_the_admin_audits_each_one(admin_client, admin_user, alice):
    pages = [
        status_pages.status_page_create(team=alice.personal_team, slug=slug, title=slug)
        for slug in ("a", "b")
    ]

    admin_client.post(
        STATUS_PAGES,
        {"action": "delete_selected", "post": "yes", "_selected_action": [p.id for p in pages]},
    )

    assert not StatusPage.objects.exists()
    assert audit_trail("statuspage")[2:] == [("delete", admin_user.email)] * 2


def test_admin_refuses_a_reserved_slug_with_the_apis_message(admin_client, alice, alice_client):
    api = alice_client.post("/api/v1/status-pages/", {"slug": "admin", "title": "Shop"})

    response = admin_client.post(
        f"{STATUS_PAGES}add/", status_page_form(alice.personal_team, slug="admin")
    )

    assert response.status_code == 200
    assert admin_errors(response)["slug"] == [str(message) for message in api.data["slug"]]
    assert not StatusPage.objects.exists()


def test_admin_refuses_another_teams_monitor_on_a_status_page_with_the_apis_message(
    admin_client, alice, bob
):
    foreign = make_monitor(alice.personal_team)
    with pytest.raises(ValidationError) as refused:
        status_pages.status_page_create(
            team=bob.personal_team, slug="shop", title="Shop", monitors=[foreign]
        )

    response = admin_client.post(
        f"{STATUS_PAGES}add/", status_page_form(bob.personal_team, monitors=[foreign.id])
    )

    assert response.status_code == 200
    assert admin_errors(response)["monitors"] == refused.value.message_dict["monitors"]
    assert not StatusPage.objects.exists()


def test_a_heartbeat_monitor_is_added_in_the_admin_with_its_ping_url(admin_client, alice):
    form = admin_form(
        alice.personal_team, kind="heartbeat", url="", cron="*/10 * * * *", grace="120"
    )
    response = admin_client.post(ADD, form)

    assert response.status_code == 302, admin_errors(response)
    monitor = Monitor.objects.get(kind="heartbeat")
    assert (monitor.cron, monitor.grace) == ("*/10 * * * *", 120)
    assert monitor.ping_token is not None
    page = admin_client.get(f"{MONITORS}{monitor.id}/change/").content.decode()
    assert f"/ping/{monitor.ping_token}" in page
