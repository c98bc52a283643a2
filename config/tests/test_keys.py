"""Every monitor, channel and status page has a key, unique in its team: given, or made from
its name (API, dashboard, admin, and rows older than keys alike)."""

from __future__ import annotations

import pytest

from dashboard.tests.conftest import web_for
from dashboard.tests.test_monitor_pages import form_data
from monitors.keys import backfill_keys
from monitors.models import Monitor
from monitors.services import monitor_create
from notifications.models import Channel

pytestmark = pytest.mark.django_db


def create(client, name, **extra):
    payload = {"name": name, "url": "https://orders.example.com/", **extra}
    return client.post("/api/v1/monitors/", payload, format="json")


def test_a_monitor_created_without_a_key_gets_one_from_its_name(alice_client):
    response = create(alice_client, "Orders API")

    assert response.status_code == 201 and response.data["key"] == "orders-api"


def test_a_second_monitor_of_the_same_name_gets_a_numbered_key(alice_client):
    create(alice_client, "Orders API")

    assert create(alice_client, "Orders API").data["key"] == "orders-api-2"


def test_the_same_key_may_be_used_by_another_team(alice_client, bob_client):
    create(alice_client, "Orders API")

    assert create(bob_client, "Orders API").data["key"] == "orders-api"


def test_a_key_taken_in_the_team_is_a_400_on_the_key(alice_client):
    create(alice_client, "Orders API", key="orders")

    response = create(alice_client, "Other", key="orders")

    assert response.status_code == 400
    assert response.data == {"key": ["Another monitor of this team has the key 'orders'."]}


def test_a_key_is_editable_through_the_api(alice_client):
    monitor_id = create(alice_client, "Orders API").data["id"]

    response = alice_client.patch(f"/api/v1/monitors/{monitor_id}/", {"key": "orders"})

    assert response.status_code == 200 and Monitor.objects.get(pk=monitor_id).key == "orders"


def test_a_key_must_be_a_slug(alice_client):
    response = create(alice_client, "Orders API", key="not a slug")

    assert response.status_code == 400 and "key" in response.data


def test_a_channel_key_taken_in_the_team_is_refused_on_change(alice, alice_client):
    url = "/api/v1/channels/"
    to = {"to": [alice.email]}
    alice_client.post(url, {"name": "Mail", "kind": "email", "config": to}, format="json")
    other = alice_client.post(url, {"name": "Pager", "kind": "email", "config": to}, format="json")

    response = alice_client.patch(f"{url}{other.data['id']}/", {"key": "mail"}, format="json")

    assert other.data["key"] == "pager"
    assert response.status_code == 400 and "key" in response.data


def test_a_status_page_gets_a_key_from_its_title(alice_client):
    response = alice_client.post(
        "/api/v1/status-pages/", {"slug": "acme", "title": "Acme status"}, format="json"
    )

    assert response.status_code == 201 and response.data["key"] == "acme-status"


def test_the_backfill_gives_rows_without_a_key_one_per_team(alice, bob):
    monitors = [
        monitor_create(team=team, name="API", url="https://a.example.com/")
        for team in (alice.personal_team, alice.personal_team, bob.personal_team)
    ]
    Monitor.objects.update(key="")  # as rows from before keys were

    backfill_keys(Monitor, fallback="monitor", batch_size=2)

    keys = [Monitor.objects.get(pk=m.pk).key for m in monitors]
    assert keys == ["api", "api-2", "api"]


def test_the_backfill_falls_back_when_the_name_makes_no_slug(alice):
    Channel.objects.create(team=alice.personal_team, name="!!!", kind="email", key="")

    backfill_keys(Channel, fallback="channel")

    assert Channel.objects.get().key == "channel"


def test_editing_a_monitor_in_the_dashboard_keeps_its_key(alice):
    # The dashboard's form is a full (not partial) update that carries no key.
    monitor = monitor_create(
        team=alice.personal_team, key="checkout", name="Old", url="https://a.example.com/"
    )

    response = web_for(alice).post(f"/monitors/{monitor.id}/edit/", form_data(name="Renamed"))

    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.name == "Renamed" and monitor.key == "checkout"
