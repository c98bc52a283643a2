"""The API keys page: create (key shown once), list with prefix, revoke; admins only."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Role
from dashboard.tests.conftest import web_for

pytestmark = pytest.mark.django_db


def test_a_created_key_is_shown_once_and_works(alice, alice_web):
    team_id = alice.personal_team.id
    created = alice_web.post("/api-keys/", {"team": team_id, "name": "CI", "role": "editor"})
    assert created.status_code == 200
    assert created["Cache-Control"].startswith("max-age=0")
    key = created.context["new_key"]
    assert key in created.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/monitors/").status_code == 200
    listed = alice_web.get("/api-keys/").content.decode()
    assert key not in listed
    assert ApiKey.objects.get().prefix in listed


def test_a_key_above_my_role_is_refused_on_the_page(alice, alice_web):
    response = alice_web.post(
        "/api-keys/", {"team": alice.personal_team.id, "name": "CI", "role": "owner"}
    )
    assert response.status_code == 200
    assert "new_key" not in response.context
    assert ApiKey.objects.count() == 0


def test_revoking_on_the_page(alice, alice_web):
    alice_web.post("/api-keys/", {"team": alice.personal_team.id, "name": "CI", "role": "viewer"})
    api_key = ApiKey.objects.get()
    assert alice_web.post(f"/api-keys/{api_key.id}/revoke/").status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "revoked" in alice_web.get("/api-keys/").content.decode()


def test_other_teams_keys_are_not_found(alice_web, bob, bob_web):
    bob_web.post("/api-keys/", {"team": bob.personal_team.id, "name": "CI", "role": "viewer"})
    api_key = ApiKey.objects.get()
    assert api_key.prefix not in alice_web.get("/api-keys/").content.decode()
    assert alice_web.post(f"/api-keys/{api_key.id}/revoke/").status_code == 404


def test_the_page_is_for_owners_and_admins(make_member):
    _team, viewer, _client = make_member(Role.VIEWER)
    viewer.personal_team.delete()
    assert web_for(viewer).get("/api-keys/").status_code == 403


def test_the_navigation_links_the_page(alice_web):
    assert 'href="/api-keys/"' in alice_web.get("/audit/").content.decode()
