"""An invitation belongs to the address as it was when the invitation was sent: a user of
another team who changes their sign-in address to an invited one (nothing proves they own
it) does not get the pending invitation, and with it a role in the team."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Membership, Role
from accounts.services import invitation_create
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

INVITED = "new-hire@example.com"


def change_address(web, address: str) -> None:
    response = web.post(
        "/account/", {"full_name": "Bob", "email": address, "current_password": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()


def test_changing_ones_address_to_an_invited_one_does_not_take_the_invitation(
    alice, shared_team, bob, bob_web
):
    invitation = invitation_create(
        team=shared_team, email=INVITED, role=Role.ADMIN, acting_role=Role.OWNER, actor=alice
    )

    change_address(bob_web, INVITED)
    listed = bob_web.get("/invitations/").content.decode()
    bob_web.post(f"/invitations/{invitation.id}/", {"answer": "accept"})

    assert "Platform" not in listed
    assert not Membership.objects.filter(team=shared_team, user=bob).exists()


def test_an_invitation_sent_after_the_change_is_accepted(alice, shared_team, bob, bob_web):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        change_address(bob_web, INVITED)
        traveller.shift(1)
        invitation = invitation_create(
            team=shared_team, email=INVITED, role=Role.EDITOR, acting_role=Role.OWNER, actor=alice
        )

        bob_web.post(f"/invitations/{invitation.id}/", {"answer": "accept"})

    assert Membership.objects.get(team=shared_team, user=bob).role == Role.EDITOR
