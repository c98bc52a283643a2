"""One failed-login policy for the API, the admin and the dashboard (accounts/throttling.py)."""

import os
import uuid

import pytest
from django.core.cache import caches
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.throttling import _account_key, client_address
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def api_login(email: str, password: str, **meta):
    return APIClient().post(
        "/api/v1/auth/login/", {"email": email, "password": password}, format="json", **meta
    )


def form_login(path: str, email: str, password: str, **meta):
    return Client().post(path, {"username": email, "password": password}, **meta)


# --- Who the client is ----------------------------------------------------------------------


def test_forwarded_for_is_ignored_when_the_connection_is_not_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = []
    request = RequestFactory().get(
        "/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    assert client_address(request) == "203.0.113.7"


def test_the_client_is_the_right_most_untrusted_forwarded_for_entry(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    request = RequestFactory().get(
        "/",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 192.0.2.1, 10.9.9.9",
    )
    assert client_address(request) == "203.0.113.7"


# --- The API login --------------------------------------------------------------------------


def test_rotating_forwarded_for_does_not_escape_the_address_throttle(settings):
    settings.AUTH_THROTTLE_RATE = "20/min"
    codes = [
        api_login(
            f"nobody{i}@example.com", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        ).status_code
        for i in range(25)
    ]
    assert codes[:20] == [401] * 20
    assert codes[20:] == [429] * 5


def test_failures_from_many_addresses_lock_the_account_tried(settings, alice):
    settings.LOGIN_ACCOUNT_THROTTLE_RATE = "5/hour"
    for i in range(5):
        assert (
            api_login(" Alice@Example.com", "wrong", REMOTE_ADDR=f"198.51.100.{i}").status_code
            == 401
        )

    response = api_login(alice.email, PASSWORD, REMOTE_ADDR="203.0.113.50")

    assert response.status_code == 429


def test_an_attack_on_one_account_does_not_block_another_users_login(settings, alice, bob):
    settings.LOGIN_ACCOUNT_THROTTLE_RATE = "5/hour"
    settings.AUTH_THROTTLE_RATE = "5/min"
    for _ in range(10):
        api_login(alice.email, "wrong", REMOTE_ADDR="198.51.100.66")

    response = api_login(bob.email, PASSWORD, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 200


def test_failure_counters_are_shared_through_the_default_cache_by_every_process(settings, alice):
    # Two cache connections to one Redis stand for two web processes.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
            "KEY_PREFIX": f"test-throttle-{uuid.uuid4().hex}",
        }
    }
    settings.LOGIN_ACCOUNT_THROTTLE_RATE = "3/hour"
    for _ in range(3):
        api_login(alice.email, "wrong")

    other_process = caches.create_connection("default")
    key = f"throttle:login:account:{_account_key(alice.email)}"
    try:
        assert other_process.get(key) == 3
    finally:
        other_process.delete_many([key, "throttle:login:address:127.0.0.1"])


# --- The admin and the dashboard ------------------------------------------------------------


def test_the_admin_login_is_throttled_like_the_api(settings, alice):
    settings.AUTH_THROTTLE_RATE = "3/min"
    for _ in range(3):
        assert form_login("/admin/login/", alice.email, "wrong").status_code == 200

    assert form_login("/admin/login/", "someone@example.com", "wrong").status_code == 429


def test_api_failures_count_against_the_dashboard_login_of_the_same_account(settings, alice):
    settings.LOGIN_ACCOUNT_THROTTLE_RATE = "3/hour"
    for i in range(3):
        api_login(alice.email, "wrong", REMOTE_ADDR=f"198.51.100.{i}")

    assert form_login("/login/", alice.email, PASSWORD).status_code == 429


def test_a_dashboard_attack_behind_the_proxy_does_not_lock_out_another_users_login(
    settings, alice, bob
):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for _ in range(25):
        form_login("/login/", alice.email, "wrong", HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)

    response = form_login(
        "/login/", bob.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.2", **proxy
    )

    assert response.status_code == 302


# --- Registration ---------------------------------------------------------------------------


def test_rotating_forwarded_for_does_not_escape_the_registration_throttle(settings):
    settings.REGISTRATION_OPEN = True
    settings.AUTH_THROTTLE_RATE = "20/min"
    codes = [
        APIClient()
        .post(
            "/api/v1/auth/register/",
            {"email": f"user{i}@example.com", "password": PASSWORD},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
        .status_code
        for i in range(22)
    ]
    assert 429 not in codes[:20]
    assert codes[20:] == [429, 429]
