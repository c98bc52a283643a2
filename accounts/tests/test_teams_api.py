from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership, Role, Team

pytestmark = pytest.mark.django_db

URL = "/api/v1/teams/"


def test_lists_only_my_teams_with_my_role(alice, alice_client, bob):
    response = alice_client.get(URL)

    assert response.status_code == 200
    assert [(t["id"], t["role"], t["is_personal"]) for t in response.data["results"]] == [
        (alice.personal_team.id, "owner", True)
    ]


def test_create_team_makes_me_owner(alice, alice_client):
    response = alice_client.post(URL, {"name": "SRE"}, format="json")

    assert response.status_code == 201, response.data
    team = Team.objects.get(pk=response.data["id"])
    assert Membership.objects.get(team=team, user=alice).role == Role.OWNER
    assert response.data["role"] == "owner"
    assert response.data["member_count"] == 1


def invite(client, team, email, role="viewer"):
    return client.post(f"{URL}{team.id}/members/", {"email": email, "role": role})


def accept_invitation(client, team):
    invitations = client.get("/api/v1/invitations/").data["results"]
    (invitation,) = [i for i in invitations if i["team"] == team.id]
    return client.post(f"/api/v1/invitations/{invitation['id']}/accept/")


def test_inviting_makes_no_membership_until_accepted(alice_client, shared_team, bob, bob_client):
    response = invite(alice_client, shared_team, "BOB@example.com", "editor")

    assert response.status_code == 202, response.data
    assert not Membership.objects.filter(team=shared_team, user=bob).exists()
    assert accept_invitation(bob_client, shared_team).status_code == 201
    assert Membership.objects.get(team=shared_team, user=bob).role == Role.EDITOR


def test_inviting_answers_alike_for_known_and_unknown_emails(alice_client, shared_team, bob):
    known = invite(alice_client, shared_team, bob.email)
    unknown = invite(alice_client, shared_team, "nobody@example.com")

    assert (known.status_code, unknown.status_code) == (202, 202)
    assert set(known.data) == set(unknown.data)
    assert known.data["detail"] == unknown.data["detail"]


def test_invitee_sees_only_own_invitations(alice_client, shared_team, bob, bob_client, alice):
    invite(alice_client, shared_team, "carol@example.com")
    invite(alice_client, shared_team, bob.email)

    listed = bob_client.get("/api/v1/invitations/").data["results"]

    assert [(i["team"], i["email"]) for i in listed] == [(shared_team.id, bob.email)]


def test_someone_else_cannot_accept_an_invitation(alice_client, shared_team, make_member):
    invite(alice_client, shared_team, "carol@example.com")
    invitation = shared_team.invitations.get()
    _team, _user, other_client = make_member(Role.VIEWER, email="dave@example.com")

    response = other_client.post(f"/api/v1/invitations/{invitation.id}/accept/")

    assert response.status_code == 404
    assert not shared_team.memberships.filter(user__email="carol@example.com").exists()


def test_declined_invitation_makes_no_membership(alice_client, shared_team, bob, bob_client):
    invite(alice_client, shared_team, bob.email)
    invitation = shared_team.invitations.get()

    assert bob_client.post(f"/api/v1/invitations/{invitation.id}/decline/").status_code == 204
    assert bob_client.post(f"/api/v1/invitations/{invitation.id}/accept/").status_code == 404
    assert not Membership.objects.filter(team=shared_team, user=bob).exists()


def test_expired_invitation_cannot_be_accepted(alice_client, shared_team, bob, bob_client):
    invite(alice_client, shared_team, bob.email)
    invitation = shared_team.invitations.get()
    shared_team.invitations.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert bob_client.get("/api/v1/invitations/").data["results"] == []
    assert bob_client.post(f"/api/v1/invitations/{invitation.id}/accept/").status_code == 404
    assert not Membership.objects.filter(team=shared_team, user=bob).exists()


def test_invitations_expire_after_seven_days(alice_client, shared_team, bob):
    invite(alice_client, shared_team, bob.email)

    invitation = shared_team.invitations.get()
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)


def test_inviting_a_member_is_400(alice_client, shared_team, bob):
    shared_team.add(bob, Role.VIEWER)

    response = invite(alice_client, shared_team, bob.email)

    assert response.status_code == 400


def test_admin_manages_members_but_cannot_grant_owner(shared_team, make_member, bob, bob_client):
    _team, _admin, admin_client = make_member(Role.ADMIN)

    assert invite(admin_client, shared_team, bob.email).status_code == 202
    assert invite(admin_client, shared_team, "x@example.com", "owner").status_code == 400
    assert accept_invitation(bob_client, shared_team).status_code == 201
    promoted = admin_client.patch(
        f"{URL}{shared_team.id}/members/{bob.id}/", {"role": "editor"}, format="json"
    )
    assert promoted.status_code == 200
    assert promoted.data["role"] == "editor"
    to_owner = admin_client.patch(
        f"{URL}{shared_team.id}/members/{bob.id}/", {"role": "owner"}, format="json"
    )
    assert to_owner.status_code == 400
    removed = admin_client.delete(f"{URL}{shared_team.id}/members/{bob.id}/")
    assert removed.status_code == 204
    assert not Membership.objects.filter(team=shared_team, user=bob).exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_editors_and_viewers_cannot_manage_members(shared_team, make_member, bob, role):
    _team, _user, client = make_member(role)

    assert client.get(f"{URL}{shared_team.id}/members/").status_code == 200
    response = client.post(f"{URL}{shared_team.id}/members/", {"email": bob.email})
    assert response.status_code == 403
    assert client.patch(f"{URL}{shared_team.id}/", {"name": "x"}).status_code == 403


def test_last_owner_cannot_be_demoted(alice, alice_client, shared_team):
    response = alice_client.patch(
        f"{URL}{shared_team.id}/members/{alice.id}/", {"role": "admin"}, format="json"
    )

    assert response.status_code == 400
    assert Membership.objects.get(team=shared_team, user=alice).role == Role.OWNER


def test_other_users_team_is_404(bob_client, shared_team):
    assert bob_client.get(f"{URL}{shared_team.id}/").status_code == 404
    assert bob_client.get(f"{URL}{shared_team.id}/members/").status_code == 404


def test_personal_team_cannot_be_deleted(alice, alice_client):
    response = alice_client.delete(f"{URL}{alice.personal_team.id}/")

    assert response.status_code == 400
    assert Team.objects.filter(pk=alice.personal_team.id).exists()


def test_owner_deletes_shared_team(alice_client, shared_team):
    assert alice_client.delete(f"{URL}{shared_team.id}/").status_code == 204
    assert not Team.objects.filter(pk=shared_team.id).exists()


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_an_invitation_id_that_is_not_a_number_is_not_found(bob_client, action):
    response = bob_client.post(f"/api/v1/invitations/%C2%AB%1Cq/{action}/")

    assert response.status_code == 404
