import pytest

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


def test_owner_adds_existing_user_by_email(alice_client, shared_team, bob):
    response = alice_client.post(
        f"{URL}{shared_team.id}/members/", {"email": "BOB@example.com", "role": "editor"}
    )

    assert response.status_code == 201, response.data
    assert Membership.objects.get(team=shared_team, user=bob).role == Role.EDITOR


def test_adding_unknown_email_is_400(alice_client, shared_team):
    response = alice_client.post(f"{URL}{shared_team.id}/members/", {"email": "x@example.com"})

    assert response.status_code == 400
    assert "email" in response.data


def test_adding_twice_is_400(alice_client, shared_team, bob):
    shared_team.add(bob, Role.VIEWER)

    response = alice_client.post(f"{URL}{shared_team.id}/members/", {"email": bob.email})

    assert response.status_code == 400


def test_admin_manages_members_but_cannot_grant_owner(shared_team, make_member, bob):
    _team, _admin, admin_client = make_member(Role.ADMIN)

    added = admin_client.post(
        f"{URL}{shared_team.id}/members/", {"email": bob.email, "role": "viewer"}
    )
    assert added.status_code == 201
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
