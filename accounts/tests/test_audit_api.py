"""The audit log: one entry per audited write, whoever made it, never a secret value, readable
by the team's owners and admins only."""

import json

import pytest
from django.utils import timezone

from accounts.models import AuditEntry, Role
from incidents.models import Incident
from monitors.models import Monitor, StatusPage
from monitors.services import monitor_create
from notifications.models import Channel, DeadLetter

pytestmark = pytest.mark.django_db

AUDIT = "/api/v1/audit/"
REQUEST_ID = "audit-test-request-1"


@pytest.fixture
def team_and_admin(make_member):
    team, admin, client = make_member(Role.ADMIN)
    client.credentials(HTTP_X_REQUEST_ID=REQUEST_ID, **client._credentials)
    return team, admin, client


@pytest.fixture
def monitor(team_and_admin) -> Monitor:
    team, _admin, _client = team_and_admin
    return monitor_create(team=team, name="orders", url="https://orders.example.com/health")


def the_new_entry(before_ids: set[int]) -> AuditEntry:
    (entry,) = AuditEntry.objects.exclude(id__in=before_ids)
    return entry


def existing_ids() -> set[int]:
    return set(AuditEntry.objects.values_list("id", flat=True))


def test_monitor_create_records_one_entry_with_actor_and_request_id(team_and_admin):
    team, admin, client = team_and_admin
    before = existing_ids()

    response = client.post(
        "/api/v1/monitors/",
        {"team": team.id, "name": "orders", "url": "https://orders.example.com/health"},
        format="json",
    )

    assert response.status_code == 201, response.data
    entry = the_new_entry(before)
    assert (entry.team_id, entry.actor_id, entry.actor_label) == (team.id, admin.id, admin.email)
    assert (entry.action, entry.object_type, entry.object_id) == (
        "create",
        "monitor",
        response.data["id"],
    )
    assert entry.object_label == "orders"
    assert entry.request_id == REQUEST_ID


def test_monitor_update_records_old_and_new_values(team_and_admin, monitor):
    _team, _admin, client = team_and_admin
    before = existing_ids()

    response = client.patch(f"/api/v1/monitors/{monitor.id}/", {"interval": 120}, format="json")

    assert response.status_code == 200, response.data
    entry = the_new_entry(before)
    assert entry.action == "update"
    assert entry.changes == {"interval": [monitor.interval, 120]}


@pytest.mark.parametrize(
    "header", ["Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "X-Custom-Auth", "Accept"]
)
def test_monitor_header_change_records_no_value(team_and_admin, monitor, header):
    """Headers are encrypted at rest: whatever their names, the log says only "changed"."""
    _team, _admin, client = team_and_admin
    before = existing_ids()

    response = client.patch(
        f"/api/v1/monitors/{monitor.id}/",
        {"headers": {header: "hunter2-secret-value", "Accept": "text/plain"}},
        format="json",
    )

    assert response.status_code == 200, response.data
    entry = the_new_entry(before)
    assert entry.changes == {"headers": "changed"}
    assert "hunter2" not in json.dumps(entry.changes)
    assert "text/plain" not in json.dumps(entry.changes)


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_are_recorded(team_and_admin, monitor, action):
    _team, admin, client = team_and_admin
    before = existing_ids()

    assert client.post(f"/api/v1/monitors/{monitor.id}/{action}/").status_code == 200

    entry = the_new_entry(before)
    assert (entry.action, entry.object_id, entry.actor_id) == (action, monitor.id, admin.id)


def test_monitor_delete_is_recorded_and_outlives_the_monitor(team_and_admin, monitor):
    team, _admin, client = team_and_admin
    before = existing_ids()

    assert client.delete(f"/api/v1/monitors/{monitor.id}/").status_code == 204

    entry = the_new_entry(before)
    assert not Monitor.objects.filter(pk=monitor.id).exists()
    assert (entry.team_id, entry.action, entry.object_id, entry.object_label) == (
        team.id,
        "delete",
        monitor.id,
        "orders",
    )


def test_channel_secret_change_records_no_secret_value(team_and_admin):
    team, _admin, client = team_and_admin
    created = client.post(
        "/api/v1/channels/",
        {
            "team": team.id,
            "name": "hook",
            "kind": "webhook",
            "config": {"url": "https://hooks.example.com/x"},
            "secrets": {"signing_secret": "first-signing-secret-1234"},
        },
        format="json",
    )
    assert created.status_code == 201, created.data
    before = existing_ids()

    response = client.patch(
        f"/api/v1/channels/{created.data['id']}/",
        {
            "name": "hook 2",
            "secrets": {
                "signing_secret": "second-signing-secret-5678",
                "headers": {"Authorization": "Bearer top-secret-token"},
            },
        },
        format="json",
    )

    assert response.status_code == 200, response.data
    entry = the_new_entry(before)
    assert entry.changes == {"name": ["hook", "hook 2"], "secrets": "changed"}
    stored = json.dumps([entry.changes, entry.object_label])
    for secret in ("first-signing", "second-signing", "top-secret"):
        assert secret not in stored


def test_channel_delete_is_recorded(team_and_admin):
    team, _admin, client = team_and_admin
    channel = Channel.objects.create(team=team, name="hook", kind="webhook", config={})
    before = existing_ids()

    assert client.delete(f"/api/v1/channels/{channel.id}/").status_code == 204

    entry = the_new_entry(before)
    assert (entry.action, entry.object_type, entry.object_id) == ("delete", "channel", channel.id)


def test_status_page_create_update_delete_are_recorded(team_and_admin):
    team, _admin, client = team_and_admin
    pages = "/api/v1/status-pages/"
    before = existing_ids()

    created = client.post(pages, {"team": team.id, "slug": "acme", "title": "Acme"}, format="json")
    assert created.status_code == 201, created.data
    page_id = created.data["id"]
    patched = client.patch(f"{pages}{page_id}/", {"title": "Acme status"}, format="json")
    assert patched.status_code == 200
    assert client.delete(f"{pages}{page_id}/").status_code == 204

    entries = AuditEntry.objects.exclude(id__in=before).order_by("id")
    assert [(e.action, e.object_type, e.object_id) for e in entries] == [
        ("create", "statuspage", page_id),
        ("update", "statuspage", page_id),
        ("delete", "statuspage", page_id),
    ]
    assert entries[1].changes == {"title": ["Acme", "Acme status"]}
    assert not StatusPage.objects.filter(pk=page_id).exists()


def test_acknowledge_is_recorded(team_and_admin, monitor):
    team, admin, client = team_and_admin
    now = timezone.now()
    incident = Incident.objects.create(
        team=team,
        monitor=monitor,
        monitor_name=monitor.name,
        started_at=now,
        opened_at=now,
        cause="HTTP 503",
    )
    before = existing_ids()

    assert client.post(f"/api/v1/incidents/{incident.id}/acknowledge/").status_code == 200

    entry = the_new_entry(before)
    assert (entry.action, entry.object_type, entry.object_id, entry.actor_id) == (
        "acknowledge",
        "incident",
        incident.id,
        admin.id,
    )


def test_dead_letter_replay_is_recorded(team_and_admin):
    team, admin, client = team_and_admin
    now = timezone.now()
    letter = DeadLetter.objects.create(
        team=team,
        task_name="notifications.deliver",
        task_id="dead-1",
        exception_type="TransportError",
        error="HTTP 500",
        first_failed_at=now,
        last_failed_at=now,
    )
    before = existing_ids()

    assert client.post(f"/api/v1/dead-letters/{letter.id}/replay/").status_code == 202

    entry = the_new_entry(before)
    assert (entry.team_id, entry.action, entry.object_id, entry.actor_id) == (
        team.id,
        "replay",
        letter.id,
        admin.id,
    )


def test_team_and_membership_changes_are_recorded(alice, alice_client, shared_team, bob):
    shared_team.add(bob, Role.VIEWER)
    team_url = f"/api/v1/teams/{shared_team.id}/"
    before = existing_ids()

    assert alice_client.patch(team_url, {"name": "Infra"}, format="json").status_code == 200
    member_url = f"{team_url}members/{bob.id}/"
    assert alice_client.patch(member_url, {"role": "editor"}, format="json").status_code == 200
    assert alice_client.delete(member_url).status_code == 204

    entries = AuditEntry.objects.exclude(id__in=before).order_by("id")
    assert [(e.action, e.object_type, e.changes) for e in entries] == [
        ("update", "team", {"name": ["Platform", "Infra"]}),
        ("update", "membership", {"role": ["viewer", "editor"]}),
        ("delete", "membership", {}),
    ]
    assert {e.actor_id for e in entries} == {alice.id}


def test_invitation_and_acceptance_are_recorded(alice, alice_client, shared_team, bob, bob_client):
    before = existing_ids()

    alice_client.post(f"/api/v1/teams/{shared_team.id}/members/", {"email": bob.email})
    (invitation,) = bob_client.get("/api/v1/invitations/").data["results"]
    bob_client.post(f"/api/v1/invitations/{invitation['id']}/accept/")

    entries = AuditEntry.objects.exclude(id__in=before).order_by("id")
    assert [(e.actor_id, e.action, e.object_type) for e in entries] == [
        (alice.id, "invite", "invitation"),
        (bob.id, "accept", "membership"),
    ]


def test_owner_deleting_a_team_leaves_an_entry(alice, alice_client, shared_team):
    before = existing_ids()

    assert alice_client.delete(f"/api/v1/teams/{shared_team.id}/").status_code == 204

    entry = the_new_entry(before)
    assert (entry.team_id, entry.action, entry.object_label) == (None, "delete", "Platform")


# --- Reading the log ------------------------------------------------------------------------


def test_admins_read_their_teams_log_newest_first(team_and_admin, monitor):
    team, _admin, client = team_and_admin
    client.post(f"/api/v1/monitors/{monitor.id}/pause/")
    client.post(f"/api/v1/monitors/{monitor.id}/resume/")

    response = client.get(AUDIT, {"team": team.id, "object_type": "monitor"})

    assert response.status_code == 200
    assert [e["action"] for e in response.data["results"]] == ["resume", "pause", "create"]
    assert response.data["count"] == 3


def test_log_filters_by_action_and_actor(team_and_admin, monitor):
    team, admin, client = team_and_admin
    client.post(f"/api/v1/monitors/{monitor.id}/pause/")

    by_action = client.get(AUDIT, {"action": "pause"}).data["results"]
    by_actor = client.get(AUDIT, {"actor": admin.id, "team": team.id}).data["results"]

    assert [e["action"] for e in by_action] == ["pause"]
    assert [e["action"] for e in by_actor] == ["pause"]  # the create was a system write


def test_log_filters_by_time(team_and_admin, monitor):
    _team, _admin, client = team_and_admin
    cut = timezone.now()
    client.post(f"/api/v1/monitors/{monitor.id}/pause/")

    since = client.get(AUDIT, {"since": cut.isoformat()}).data["results"]
    until = client.get(AUDIT, {"until": cut.isoformat()}).data["results"]

    assert [e["action"] for e in since] == ["pause"]
    assert "pause" not in [e["action"] for e in until]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_cannot_read_the_log(make_member, role):
    team, _user, client = make_member(role)

    assert client.get(AUDIT, {"team": team.id}).status_code == 403
    # Their personal team's log (they own it) is theirs to read; the shared team's is not.
    assert team.id not in {e["team"] for e in client.get(AUDIT).data["results"]}


def test_a_user_who_administers_no_team_cannot_read_the_log(shared_team, make_member):
    _team, user, client = make_member(Role.VIEWER)
    user.personal_team.delete()

    assert client.get(AUDIT).status_code == 403


def test_other_teams_entries_are_never_visible(team_and_admin, monitor, bob, bob_client):
    team, _admin, _client = team_and_admin
    monitor_create(team=bob.personal_team, name="bob's", url="https://bob.example.com/")

    mine = bob_client.get(AUDIT).data["results"]
    asked_for_theirs = bob_client.get(AUDIT, {"team": team.id})

    assert {e["team"] for e in mine} == {bob.personal_team.id}
    assert asked_for_theirs.status_code == 403
