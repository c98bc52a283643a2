"""Teams and memberships written through the real Django admin go through the accounts
services: audited with the staff user as actor, with the services' rules."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import AuditEntry, Membership, Role, Team

pytestmark = pytest.mark.django_db

TEAMS = "/admin/accounts/team/"
MEMBERSHIPS = "/admin/accounts/membership/"


def audit_trail(object_type: str) -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(object_type=object_type)
        .order_by("id")
        .values_list("action", "actor__email")
    )


@pytest.fixture
def ops(alice) -> Team:
    return services.team_create(owner=alice, name="Ops")


def test_team_added_in_the_admin_has_its_owner_and_is_audited(admin_client, admin_user, alice):
    response = admin_client.post(f"{TEAMS}add/", {"name": "Ops", "owner": alice.id})

    assert response.status_code == 302
    team = Team.objects.get(name="Ops")
    assert team.memberships.get().user == alice
    assert AuditEntry.objects.get(team=team).actor == admin_user


def test_team_renamed_in_the_admin_is_audited_with_the_staff_user(admin_client, admin_user, ops):
    admin_client.post(f"{TEAMS}{ops.id}/change/", {"name": "Platform"})

    entry = AuditEntry.objects.get(object_type="team", action="update")
    assert (entry.actor, entry.changes) == (admin_user, {"name": ["Ops", "Platform"]})


def test_team_deleted_in_the_admin_is_audited_with_the_staff_user(admin_client, admin_user, ops):
    admin_client.post(f"{TEAMS}{ops.id}/delete/", {"post": "yes"})

    assert not Team.objects.filter(pk=ops.pk).exists()
    assert audit_trail("team")[-1] == ("delete", admin_user.email)


def test_a_personal_team_cannot_be_deleted_in_the_admin(admin_client, alice):
    admin_client.post(f"{TEAMS}{alice.personal_team.id}/delete/", {"post": "yes"})

    assert Team.objects.filter(pk=alice.personal_team.id).exists()


def test_role_changed_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, ops, bob
):
    membership = Membership.objects.create(team=ops, user=bob, role=Role.VIEWER)

    admin_client.post(f"{MEMBERSHIPS}{membership.id}/change/", {"role": Role.EDITOR})

    entry = AuditEntry.objects.get(object_type="membership", action="update")
    assert (entry.actor, entry.changes) == (admin_user, {"role": ["viewer", "editor"]})


def test_the_admin_refuses_to_demote_a_teams_last_owner_with_the_apis_message(admin_client, ops):
    owner = ops.memberships.get()

    response = admin_client.post(f"{MEMBERSHIPS}{owner.id}/change/", {"role": Role.ADMIN})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["role"] == ["A team needs at least one owner."]
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_membership_removed_in_the_admin_is_audited_with_the_staff_user(
    admin_client, admin_user, ops, bob
):
    membership = Membership.objects.create(team=ops, user=bob, role=Role.VIEWER)

    admin_client.post(f"{MEMBERSHIPS}{membership.id}/delete/", {"post": "yes"})

    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert audit_trail("membership") == [("delete", admin_user.email)]


def test_the_admin_refuses_to_remove_a_teams_last_owner_with_the_services_message(
    admin_client, ops
):
    owner = ops.memberships.get()

    response = admin_client.post(f"{MEMBERSHIPS}{owner.id}/delete/", {"post": "yes"}, follow=True)

    assert "A team needs at least one owner." in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk).exists()
