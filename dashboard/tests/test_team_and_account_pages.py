"""The Team page (members, roles, invitations, a switcher between teams, new teams) and the
Account page (name, email, password), with the API's rules."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEntry, Invitation, Membership, Role, Team, User
from conftest import PASSWORD, make_user
from dashboard.tests.conftest import web_for
from dashboard.tests.test_channel_pages import field_block

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-long-passphrase-for-alice-97"


def role_of(team: Team, user: User) -> str:
    return Membership.objects.get(team=team, user=user).role


# --- Team page ------------------------------------------------------------------------------


def test_the_team_page_lists_members_with_their_roles(alice, bob, shared_team, alice_web):
    shared_team.add(bob, Role.EDITOR)

    html = alice_web.get(f"/team/{shared_team.id}/").content.decode()

    assert "<h1>Platform</h1>" in html
    assert 'data-member="bob@example.com"' in html
    assert '<option value="editor" selected>Editor</option>' in html
    assert 'href="/invitations/"' in html


def test_team_goes_to_your_personal_team_and_switches_between_teams(alice, shared_team, alice_web):
    response = alice_web.get("/team/")
    assert response["Location"] == f"/team/{alice.personal_team.id}/"

    html = alice_web.get(response["Location"]).content.decode()
    assert 'aria-label="Your teams"' in html
    assert f'href="/team/{shared_team.id}/"' in html


def test_an_admin_changes_a_role(alice, bob, shared_team, alice_web):
    shared_team.add(bob, Role.VIEWER)

    alice_web.post(f"/team/{shared_team.id}/members/{bob.id}/role/", {"role": "admin"})

    assert role_of(shared_team, bob) == Role.ADMIN
    assert AuditEntry.objects.filter(object_type="membership", action="update").exists()


def test_an_admin_cannot_grant_the_owner_role(alice, bob, shared_team):
    carol = make_user("carol@example.com")
    shared_team.add(bob, Role.ADMIN)
    shared_team.add(carol, Role.VIEWER)

    response = web_for(bob).post(
        f"/team/{shared_team.id}/members/{carol.id}/role/", {"role": "owner"}, follow=True
    )

    assert role_of(shared_team, carol) == Role.VIEWER
    assert "Only an owner can grant or change the owner role." in response.content.decode()


def test_the_last_owner_cannot_step_down_or_be_removed(alice, shared_team, alice_web):
    demoted = alice_web.post(
        f"/team/{shared_team.id}/members/{alice.id}/role/", {"role": "admin"}, follow=True
    )
    removed = alice_web.post(f"/team/{shared_team.id}/members/{alice.id}/remove/", follow=True)

    assert role_of(shared_team, alice) == Role.OWNER
    assert "A team needs at least one owner." in demoted.content.decode()
    assert "A team needs at least one owner." in removed.content.decode()


def test_the_owner_of_a_personal_team_cannot_be_removed(alice, bob, alice_web):
    Membership.objects.create(team=alice.personal_team, user=bob, role=Role.OWNER)

    web_for(bob).post(f"/team/{alice.personal_team.id}/members/{alice.id}/remove/")

    assert Membership.objects.filter(team=alice.personal_team, user=alice).exists()


def test_an_admin_removes_a_member(alice, bob, shared_team, alice_web):
    shared_team.add(bob, Role.EDITOR)

    response = alice_web.post(f"/team/{shared_team.id}/members/{bob.id}/remove/")

    assert response.status_code == 302
    assert not Membership.objects.filter(team=shared_team, user=bob).exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_members_below_admin_see_the_team_but_change_nothing(role, alice, bob, shared_team):
    shared_team.add(bob, role)
    web = web_for(bob)

    html = web.get(f"/team/{shared_team.id}/").content.decode()
    assert (
        "alice@example.com" in html and "Change role" not in html and "Send invitation" not in html
    )
    assert (
        web.post(f"/team/{shared_team.id}/members/{alice.id}/role/", {"role": "viewer"}).status_code
        == 403
    )
    assert web.post(f"/team/{shared_team.id}/members/{alice.id}/remove/").status_code == 403
    assert (
        web.post(f"/team/{shared_team.id}/invite/", {"email": "x@example.com"}).status_code == 403
    )
    assert role_of(shared_team, alice) == Role.OWNER


def test_another_teams_page_and_members_are_404(alice, bob, shared_team, bob_web):
    for response in (
        bob_web.get(f"/team/{shared_team.id}/"),
        bob_web.post(f"/team/{shared_team.id}/members/{alice.id}/role/", {"role": "viewer"}),
        bob_web.post(f"/team/{shared_team.id}/members/{alice.id}/remove/"),
        bob_web.post(f"/team/{shared_team.id}/invite/", {"email": "x@example.com"}),
    ):
        assert response.status_code == 404


def test_an_admin_invites_someone(alice, shared_team, alice_web):
    response = alice_web.post(
        f"/team/{shared_team.id}/invite/", {"email": "Dana@Example.com", "role": "editor"}
    )

    invitation = Invitation.objects.get(team=shared_team)
    assert response.status_code == 302
    assert (invitation.email, invitation.role) == ("dana@example.com", Role.EDITOR)
    assert "dana@example.com" in alice_web.get(f"/team/{shared_team.id}/").content.decode()


def test_a_bad_invitation_is_a_400_with_the_message_on_its_field(alice, bob, shared_team):
    shared_team.add(bob, Role.ADMIN)
    web = web_for(bob)

    bad_email = web.post(
        f"/team/{shared_team.id}/invite/", {"email": "not-an-address", "role": "viewer"}
    )
    member = web.post(
        f"/team/{shared_team.id}/invite/", {"email": "alice@example.com", "role": "viewer"}
    )
    owner = web.post(
        f"/team/{shared_team.id}/invite/", {"email": "erin@example.com", "role": "owner"}
    )

    assert bad_email.status_code == member.status_code == owner.status_code == 400
    assert "Enter a valid email address." in field_block(bad_email.content.decode(), "email")
    assert "already a member" in field_block(member.content.decode(), "email")
    invite_form = owner.content.decode().split('id="h-invite"')[1]
    assert "Only an owner can invite another owner." in field_block(invite_form, "role")
    assert not Invitation.objects.exists()


def test_create_a_team_and_own_it(alice, alice_web):
    response = alice_web.post("/team/new/", {"name": "Payments"})

    team = Team.objects.get(name="Payments")
    assert response["Location"] == f"/team/{team.id}/"
    assert role_of(team, alice) == Role.OWNER


# --- Account --------------------------------------------------------------------------------


def test_change_name_and_email_with_the_current_password(alice, alice_web):
    response = alice_web.post(
        "/account/",
        {
            "full_name": "Alice Liddell",
            "email": "Alice@Wonder.example",
            "current_password": PASSWORD,
        },
    )

    alice.refresh_from_db()
    assert response.status_code == 302
    assert (alice.full_name, alice.email) == ("Alice Liddell", "alice@wonder.example")


def test_a_wrong_current_password_changes_nothing(alice, alice_web):
    response = alice_web.post(
        "/account/",
        {"full_name": "Mallory", "email": "mallory@example.com", "current_password": "guess"},
    )

    alice.refresh_from_db()
    assert response.status_code == 400
    html = response.content.decode()
    assert "This is not your current password." in field_block(html, "current_password")
    assert alice.email == "alice@example.com"


def test_an_email_of_another_account_is_refused_on_the_email_field(alice, bob, alice_web):
    response = alice_web.post(
        "/account/", {"email": "BOB@example.com", "current_password": PASSWORD}
    )

    assert response.status_code == 400
    assert "Another account uses this address." in field_block(response.content.decode(), "email")


def test_password_change_keeps_the_session_and_the_new_password_signs_in(alice, alice_web):
    response = alice_web.post(
        "/account/password/",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert alice_web.get("/account/").status_code == 200  # still signed in
    assert Client().login(email="alice@example.com", password=NEW_PASSWORD)
    assert not Client().login(email="alice@example.com", password=PASSWORD)


@pytest.mark.parametrize(
    ("new", "again", "field", "message"),
    [
        ("short", "short", "new_password", "This password is too short."),
        ("12345678901234", "12345678901234", "new_password", "This password is entirely numeric."),
        ("password123", "password123", "new_password", "This password is too common."),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "new_password_again", "The two new passwords differ."),
    ],
)
def test_a_refused_new_password_is_a_400_on_its_field(alice, alice_web, new, again, field, message):
    response = alice_web.post(
        "/account/password/",
        {"current_password": PASSWORD, "new_password": new, "new_password_again": again},
    )

    assert response.status_code == 400
    assert message in field_block(response.content.decode(), field)
    assert Client().login(email="alice@example.com", password=PASSWORD)


def test_wrong_current_passwords_count_as_failed_logins(alice, alice_web, settings):
    settings.LOGIN_ACCOUNT_THROTTLE_RATE = "3/hour"
    for _ in range(3):
        alice_web.post(
            "/account/password/",
            {
                "current_password": "guess",
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )

    response = alice_web.post(
        "/account/password/",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )

    assert response.status_code == 400
    assert "Too many failed password attempts" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_every_page_is_reachable_from_the_navigation(alice_web):
    html = alice_web.get("/").content.decode()
    nav = html[html.index('<nav aria-label="Main">') : html.index("</nav>")]

    for href in (
        "/",
        "/incidents/",
        "/channels/",
        "/dead-letters/",
        "/status-pages/",
        "/audit/",
        "/api-keys/",
        "/team/",
        "/invitations/",
        "/account/",
        "/api/docs/",
    ):
        assert f'href="{href}"' in nav, href
