import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def register(client: APIClient, email="carol@example.com", password=PASSWORD, **extra):
    return client.post(
        "/api/v1/auth/register/", {"email": email, "password": password, **extra}, format="json"
    )


def test_register_creates_user_with_personal_team_owned_by_them(anon_client, registration_open):
    response = register(anon_client, email="Carol@Example.com", full_name="Carol Smith")

    assert response.status_code == 202, response.content
    assert response.data["email"] == "carol@example.com"
    user = User.objects.get(email="carol@example.com")
    assert user.full_name == "Carol Smith"
    membership = Membership.objects.get(user=user)
    assert membership.team == user.personal_team
    assert membership.role == Role.OWNER
    assert "password" not in response.data


def test_register_rejects_weak_password_with_field_error(anon_client, registration_open):
    response = register(anon_client, password="123")

    assert response.status_code == 400
    assert "password" in response.data
    assert not User.objects.exists()


def test_register_answers_a_registered_email_like_a_new_one(anon_client, registration_open, alice):
    taken = register(anon_client, email="ALICE@example.com", password="another passphrase 77")
    new = register(anon_client, email="dave@example.com", password="another passphrase 77")

    assert (taken.status_code, new.status_code) == (202, 202)
    assert taken.data["detail"] == new.data["detail"]
    assert taken.data.keys() == new.data.keys()


def test_register_with_a_registered_email_leaves_that_account_unchanged(
    anon_client, registration_open, alice
):
    register(anon_client, email="ALICE@example.com", password="another passphrase 77")

    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_register_is_refused_while_registration_is_closed(anon_client, settings):
    settings.REGISTRATION_OPEN = False

    response = register(anon_client)

    assert response.status_code == 403
    assert "REGISTRATION_OPEN" in response.data["detail"]
    assert not User.objects.exists()


def test_register_rejects_invalid_email(anon_client, registration_open):
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


# --- Sessions and tokens --------------------------------------------------------------------


def login(email: str, password: str = PASSWORD) -> dict:
    response = APIClient().post(
        "/api/v1/auth/login/", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.data


def me(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/auth/me/").status_code


def refresh(token: str):
    return APIClient().post("/api/v1/auth/refresh/", {"refresh": token}, format="json")


def change_password(access: str, current: str, new: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.post(
        "/api/v1/auth/password/",
        {"current_password": current, "new_password": new},
        format="json",
    )


NEW_PASSWORD = "a different long passphrase 7"


def test_password_change_refuses_the_refresh_tokens_issued_before(alice):
    old = login(alice.email)

    assert change_password(old["access"], PASSWORD, NEW_PASSWORD).status_code == 200

    assert refresh(old["refresh"]).status_code == 401


def test_password_change_refuses_the_access_tokens_issued_before(alice):
    old = login(alice.email)

    change_password(old["access"], PASSWORD, NEW_PASSWORD)

    assert me(old["access"]) == 401


def test_password_change_returns_tokens_that_work_and_the_new_password_logs_in(alice):
    new = change_password(login(alice.email)["access"], PASSWORD, NEW_PASSWORD).data

    assert me(new["access"]) == 200
    assert refresh(new["refresh"]).status_code == 200
    assert me(login(alice.email, NEW_PASSWORD)["access"]) == 200


def test_password_change_with_a_wrong_current_password_changes_nothing(alice):
    tokens = login(alice.email)

    response = change_password(tokens["access"], "not my password", NEW_PASSWORD)

    assert response.status_code == 400 and "current_password" in response.data
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert me(tokens["access"]) == 200


def test_a_password_set_elsewhere_also_refuses_old_tokens(alice):
    # The admin, `manage.py changepassword`: anything that changes the stored hash.
    old = login(alice.email)
    alice.set_password(NEW_PASSWORD)
    alice.save()

    assert (me(old["access"]), refresh(old["refresh"]).status_code) == (401, 401)


def test_logout_revokes_the_refresh_token(alice):
    tokens = login(alice.email)

    response = APIClient().post(
        "/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json"
    )

    assert response.status_code == 204
    assert refresh(tokens["refresh"]).status_code == 401


def test_logout_with_a_garbage_token_is_401(anon_client):
    response = anon_client.post("/api/v1/auth/logout/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401


def test_refresh_with_a_deleted_users_token_is_401(alice):
    tokens = login(alice.email)
    alice.delete()

    assert refresh(tokens["refresh"]).status_code == 401
