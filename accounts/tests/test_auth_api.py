import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def register(client: APIClient, email="carol@example.com", password=PASSWORD, **extra):
    return client.post(
        "/api/v1/auth/register/", {"email": email, "password": password, **extra}, format="json"
    )


def test_register_creates_user_with_personal_team_owned_by_them(anon_client):
    response = register(anon_client, full_name="Carol Smith")

    assert response.status_code == 201, response.content
    user = User.objects.get(email="carol@example.com")
    assert response.data["personal_team"] == user.personal_team.id
    membership = Membership.objects.get(user=user)
    assert membership.team == user.personal_team
    assert membership.role == Role.OWNER
    assert "password" not in response.data


def test_register_rejects_weak_password_with_field_error(anon_client):
    response = register(anon_client, password="123")

    assert response.status_code == 400
    assert "password" in response.data
    assert not User.objects.exists()


def test_register_rejects_duplicate_email_case_insensitively(anon_client, alice):
    response = register(anon_client, email="ALICE@example.com")

    assert response.status_code == 400
    assert "email" in response.data


def test_register_rejects_invalid_email(anon_client):
    response = register(anon_client, email="not-an-email")

    assert response.status_code == 400
    assert "email" in response.data


def test_login_returns_tokens_that_authenticate_me(anon_client, alice):
    response = anon_client.post(
        "/api/v1/auth/login/", {"email": alice.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert {"access", "refresh"} <= response.data.keys()

    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.data['access']}")
    me = anon_client.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.data["email"] == "alice@example.com"
    assert me.data["teams"][0]["role"] == "owner"


def test_login_with_wrong_password_is_401(anon_client, alice):
    response = anon_client.post(
        "/api/v1/auth/login/", {"email": alice.email, "password": "wrong"}, format="json"
    )
    assert response.status_code == 401


def test_refresh_exchanges_refresh_token_for_new_access(anon_client, alice):
    tokens = anon_client.post(
        "/api/v1/auth/login/", {"email": alice.email, "password": PASSWORD}, format="json"
    ).data

    response = anon_client.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]})

    assert response.status_code == 200
    assert "access" in response.data


def test_refresh_with_garbage_token_is_401(anon_client):
    response = anon_client.post("/api/v1/auth/refresh/", {"refresh": "garbage"})
    assert response.status_code == 401


def test_me_requires_authentication(anon_client):
    assert anon_client.get("/api/v1/auth/me/").status_code == 401


def test_auth_endpoints_are_throttled(anon_client, alice):
    codes = [
        anon_client.post(
            "/api/v1/auth/login/", {"email": alice.email, "password": "wrong"}, format="json"
        ).status_code
        for _ in range(25)
    ]
    assert codes[0] == 401
    assert codes[-1] == 429
