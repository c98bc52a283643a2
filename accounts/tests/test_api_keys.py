"""API keys: issued by team owners and admins, shown once, stored as a digest, accepted on
every endpoint with their team and role, expiring, revocable and throttled when wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api_keys import LAST_USED_RESOLUTION, api_key_create, key_digest
from accounts.models import ApiKey, AuditEntry, Membership, Role
from accounts.services import team_create
from lib.logs import ConsoleFormatter, JsonFormatter
from monitors.models import Monitor
from monitors.services import monitor_create
from notifications.models import Channel

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/api-keys/"
MONITORS = "/api/v1/monitors/"
CHANNELS = "/api/v1/channels/"
MONITOR = {"name": "orders", "url": "https://orders.example.com/health"}
CHANNEL = {"name": "Hook", "kind": "webhook", "config": {"url": "https://hooks.example.com/a"}}


def key_client(key: str, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


@pytest.fixture
def team(alice):
    return team_create(owner=alice, name="Platform", actor=alice)


def issue(team, creator, role: str, **fields) -> str:
    acting_role = Membership.objects.get(team=team, user=creator).role
    return api_key_create(
        team=team,
        creator=creator,
        acting_role=acting_role,
        name=fields.pop("name", "CI"),
        role=role,
        now=timezone.now(),
        **fields,
    ).key


def a_monitor(team, name: str = "orders") -> Monitor:
    return monitor_create(team=team, name=name, url=f"https://{name}.example.com/health")


# --- issuing ---------------------------------------------------------------------------------


def test_an_admin_creates_a_key_and_sees_it_once(alice_client, team):
    created = alice_client.post(KEYS, {"team": team.id, "name": "CI", "role": "editor"})
    assert created.status_code == 201
    assert created.data["key"].startswith(created.data["prefix"] + "_")
    assert created.data["prefix"].startswith("hm_")
    listed = alice_client.get(KEYS).data["results"]
    assert [row["prefix"] for row in listed] == [created.data["prefix"]]
    assert "key" not in listed[0]
    assert created.data["key"] not in str(alice_client.get(f"{KEYS}{created.data['id']}/").data)


def test_the_key_is_stored_as_a_digest_only(alice_client, team):
    key = alice_client.post(KEYS, {"team": team.id, "name": "CI"}).data["key"]
    stored = ApiKey.objects.values().get()
    assert key not in [str(value) for value in stored.values()]
    assert stored["key_hash"] == key_digest(key)


def test_a_key_cannot_be_owner_or_above_its_creators_role(team, alice, bob, alice_client):
    Membership.objects.create(team=team, user=bob, role=Role.ADMIN)
    assert (
        alice_client.post(KEYS, {"team": team.id, "name": "x", "role": "owner"}).status_code == 400
    )
    bob_admin = APIClient()
    bob_admin.force_authenticate(bob)
    assert bob_admin.post(KEYS, {"team": team.id, "name": "x", "role": "admin"}).status_code == 201


def test_editors_and_viewers_cannot_create_keys(make_member):
    team, _, editor = make_member(Role.EDITOR)
    assert editor.post(KEYS, {"team": team.id, "name": "CI"}).status_code == 403
    assert editor.get(KEYS, {"team": team.id}).data["results"] == []


def test_keys_are_listed_per_team(alice, alice_client, team):
    issue(team, alice, Role.VIEWER, name="platform")
    issue(alice.personal_team, alice, Role.VIEWER, name="personal")
    listed = alice_client.get(KEYS, {"team": team.id}).data["results"]
    assert [row["name"] for row in listed] == ["platform"]


def test_a_past_expiry_is_refused(alice_client, team):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = alice_client.post(KEYS, {"team": team.id, "name": "CI", "expires_at": past})
    assert response.status_code == 400
    assert "expires_at" in response.data


def test_creating_and_revoking_a_key_is_audited(alice, alice_client, team):
    created = alice_client.post(KEYS, {"team": team.id, "name": "CI", "role": "viewer"}).data
    assert alice_client.delete(f"{KEYS}{created['id']}/").status_code == 204
    entries = AuditEntry.objects.filter(object_type="apikey").order_by("id")
    assert [(e.action, e.actor_id, e.team_id) for e in entries] == [
        ("create", alice.id, team.id),
        ("revoke", alice.id, team.id),
    ]
    assert created["key"] not in str(list(entries.values()))


def test_a_key_cannot_manage_keys(alice, team):
    key = issue(team, alice, Role.ADMIN)
    assert key_client(key).get(KEYS).status_code == 403
    assert key_client(key).post(KEYS, {"team": team.id, "name": "child"}).status_code == 403


# --- using a key -------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "Api-Key"])
def test_both_header_forms_authenticate(alice, team, scheme):
    a_monitor(team)
    response = key_client(issue(team, alice, Role.VIEWER), scheme).get(MONITORS)
    assert response.status_code == 200
    assert [row["name"] for row in response.data["results"]] == ["orders"]


def test_a_viewer_key_reads_but_cannot_write(alice, team):
    client = key_client(issue(team, alice, Role.VIEWER))
    monitor = a_monitor(team)
    assert client.get(f"{MONITORS}{monitor.id}/").status_code == 200
    assert client.post(MONITORS, {**MONITOR, "team": team.id}).status_code == 403
    assert client.patch(f"{MONITORS}{monitor.id}/", {"name": "x"}).status_code == 403


def test_an_editor_key_writes_monitors_but_not_channels(alice, team):
    client = key_client(issue(team, alice, Role.EDITOR))
    assert client.post(MONITORS, {**MONITOR, "team": team.id}, format="json").status_code == 201
    assert client.post(CHANNELS, {**CHANNEL, "team": team.id}, format="json").status_code == 403


def test_an_admin_key_manages_channels(alice, team):
    client = key_client(issue(team, alice, Role.ADMIN))
    response = client.post(CHANNELS, {**CHANNEL, "team": team.id}, format="json")
    assert response.status_code == 201
    assert Channel.objects.get().team_id == team.id


def test_a_key_creates_in_its_own_team_when_none_is_named(alice, team):
    client = key_client(issue(team, alice, Role.EDITOR))
    assert client.post(MONITORS, MONITOR, format="json").status_code == 201
    assert Monitor.objects.get().team_id == team.id


def test_a_key_attaches_its_teams_channels_when_no_team_is_named(alice, team):
    """The channels are checked against the key's team, where the monitor goes."""
    channel = Channel.objects.create(team=team, name="ops", kind="webhook", config={})
    client = key_client(issue(team, alice, Role.EDITOR))

    response = client.post(MONITORS, {**MONITOR, "channels": [channel.id]}, format="json")

    assert response.status_code == 201, response.data
    assert list(Monitor.objects.get().channels.all()) == [channel]


def test_a_key_never_sees_another_team(alice, team):
    other = a_monitor(alice.personal_team, "personal")
    a_monitor(team, "platform")
    client = key_client(issue(team, alice, Role.ADMIN))
    assert [row["name"] for row in client.get(MONITORS).data["results"]] == ["platform"]
    assert client.get(f"{MONITORS}{other.id}/").status_code == 404
    assert client.delete(f"{MONITORS}{other.id}/").status_code == 404
    assert client.post(MONITORS, {**MONITOR, "team": alice.personal_team.id}).status_code == 400
    assert [row["id"] for row in client.get("/api/v1/teams/").data["results"]] == [team.id]


def test_a_key_never_grants_more_than_its_creators_current_role(alice, bob, team):
    Membership.objects.create(team=team, user=bob, role=Role.ADMIN)
    client = key_client(issue(team, bob, Role.EDITOR))
    Membership.objects.filter(team=team, user=bob).update(role=Role.VIEWER)
    assert client.get(MONITORS).status_code == 200
    assert client.post(MONITORS, {**MONITOR, "team": team.id}).status_code == 403
    Membership.objects.filter(team=team, user=bob).delete()
    assert client.get(MONITORS).status_code == 401


def test_a_key_cannot_act_on_its_creators_account(alice, team):
    client = key_client(issue(team, alice, Role.ADMIN))
    assert client.post("/api/v1/teams/", {"name": "New"}).status_code == 403
    assert client.get("/api/v1/invitations/").status_code == 403
    assert client.get("/api/v1/auth/me/").status_code == 403


def test_an_expired_key_is_refused(alice, team):
    key = issue(team, alice, Role.VIEWER, expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert key_client(key).get(MONITORS).status_code == 401


def test_a_revoked_key_is_refused(alice, alice_client, team):
    created = alice_client.post(KEYS, {"team": team.id, "name": "CI"}).data
    assert key_client(created["key"]).get(MONITORS).status_code == 200
    alice_client.delete(f"{KEYS}{created['id']}/")
    assert key_client(created["key"]).get(MONITORS).status_code == 401
    assert alice_client.get(f"{KEYS}{created['id']}/").data["is_active"] is False


def test_a_wrong_key_is_refused(alice, team):
    key = issue(team, alice, Role.VIEWER)
    assert key_client(key[:-1] + ("A" if key[-1] != "A" else "B")).get(MONITORS).status_code == 401
    assert key_client("hm_nothing_here").get(MONITORS).status_code == 401
    assert key_client("garbage", "Api-Key").get(MONITORS).status_code == 401


def test_wrong_keys_are_throttled_per_address_even_for_a_right_key(settings, alice, team):
    settings.AUTH_THROTTLE_RATE = "3/min"
    key = issue(team, alice, Role.VIEWER)
    for _ in range(3):
        assert key_client("hm_wrong0000_x").get(MONITORS).status_code == 401
    assert key_client("hm_wrong0000_x").get(MONITORS).status_code == 429
    assert key_client(key).get(MONITORS).status_code == 429
    elsewhere = key_client(key)
    assert elsewhere.get(MONITORS, REMOTE_ADDR="127.0.0.9").status_code == 200


def test_last_use_is_written_at_most_once_a_minute(alice, team):
    client = key_client(issue(team, alice, Role.VIEWER))
    assert ApiKey.objects.get().last_used_at is None
    client.get(MONITORS)
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    client.get(MONITORS)
    assert ApiKey.objects.get().last_used_at == first
    ApiKey.objects.update(last_used_at=first - LAST_USED_RESOLUTION)
    client.get(MONITORS)
    assert ApiKey.objects.get().last_used_at > first


def test_jwt_logins_still_work_beside_keys(alice, alice_client):
    assert alice_client.get(MONITORS).status_code == 200


def test_the_schema_documents_the_key_scheme(alice_client):
    schema = alice_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    scheme = schema["components"]["securitySchemes"]["apiKey"]
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"
    assert {"apiKey": []} in schema["paths"]["/api/v1/monitors/"]["get"]["security"]


def test_keys_never_reach_the_logs(alice, team, caplog):
    key = issue(team, alice, Role.VIEWER)
    wrong = "hm_wrong0000_" + "x" * 40
    with caplog.at_level("DEBUG"):
        key_client(key).get(MONITORS)
        key_client(wrong, "Api-Key").get(MONITORS)  # 401: django.request logs a warning
    lines = [f.format(r) for r in caplog.records for f in (JsonFormatter(), ConsoleFormatter())]
    assert any("401" in line for line in lines)
    assert not [line for line in lines if key in line or wrong in line]


def test_staff_revoke_keys_in_the_admin(alice, team, admin_client):
    key = issue(team, alice, Role.VIEWER)
    api_key = ApiKey.objects.get()
    response = admin_client.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [api_key.id]}
    )
    assert response.status_code == 302
    assert key_client(key).get(MONITORS).status_code == 401
    assert AuditEntry.objects.filter(object_type="apikey", action="revoke").count() == 1
