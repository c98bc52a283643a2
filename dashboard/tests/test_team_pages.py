import pytest

from accounts.models import Membership, Role
from accounts.services import invitation_create
from dashboard.tests.conftest import make_monitor, web_for
from monitors.services import monitor_pause

pytestmark = pytest.mark.django_db


def test_audit_page_lists_my_teams_entries(alice, alice_web, shared_team, bob):
    monitor = make_monitor(shared_team, "Orders API")
    monitor_pause(monitor=monitor, actor=alice)
    theirs = make_monitor(bob.personal_team, "Bob's API")
    monitor_pause(monitor=theirs, actor=bob)

    page = alice_web.get("/audit/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Orders API" in html and alice.email in html
    assert "Bob&#x27;s API" not in html and "Bob's API" not in html


def test_audit_page_is_for_owners_and_admins(make_member):
    _team, viewer, _client = make_member(Role.VIEWER)
    viewer.personal_team.delete()

    assert web_for(viewer).get("/audit/").status_code == 403


def test_invitee_accepts_an_invitation_on_the_page(alice, shared_team, bob, bob_web):
    invitation = invitation_create(
        team=shared_team, email=bob.email, role=Role.EDITOR, acting_role=Role.OWNER, actor=alice
    )
    assert "Platform" in bob_web.get("/invitations/").content.decode()

    response = bob_web.post(f"/invitations/{invitation.id}/", {"answer": "accept"})

    assert response.status_code == 302
    assert Membership.objects.get(team=shared_team, user=bob).role == Role.EDITOR


def test_invitation_of_someone_else_cannot_be_accepted_on_the_page(alice, shared_team, bob_web):
    invitation = invitation_create(
        team=shared_team, email="carol@example.com", role=Role.VIEWER, acting_role=Role.OWNER
    )

    bob_web.post(f"/invitations/{invitation.id}/", {"answer": "accept"})

    assert not shared_team.memberships.exclude(user=alice).exists()
