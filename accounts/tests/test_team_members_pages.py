"""``GET /teams/{id}/members/`` is paginated like every other list (and as documented)."""

import pytest

from accounts.models import Membership, Role
from conftest import make_user

pytestmark = pytest.mark.django_db


def test_members_are_listed_in_pages_by_email(alice, alice_client, shared_team):
    for name in ("carol", "dave", "erin"):
        Membership.objects.create(
            team=shared_team, user=make_user(f"{name}@example.com"), role=Role.VIEWER
        )

    first = alice_client.get(f"/api/v1/teams/{shared_team.id}/members/", {"page_size": 2})
    second = alice_client.get(first.data["next"])

    assert first.status_code == 200 and first.data["count"] == 4
    emails = [m["email"] for m in first.data["results"] + second.data["results"]]
    assert emails == sorted(
        ["alice@example.com", "carol@example.com", "dave@example.com", "erin@example.com"]
    )
    assert second.data["next"] is None
