"""API keys as DRF authentication, for every API endpoint.

Accepted as ``Authorization: Api-Key hm_…`` or ``Authorization: Bearer hm_…`` (the ``hm_`` start
tells a key from a JWT, which the next authentication class reads). Wrong keys are limited like
wrong passwords: they count in the login throttle's per-address counter, and an address over it
gets 429 even with a right key, or the limit would only slow down the wrong guesses.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from accounts.api_keys import KEY_START, ApiKeyGrant, api_key_grant
from accounts.models import User
from accounts.throttling import login_throttle

KEYWORD = "Api-Key"


def _presented_key(request: Request) -> str | None:
    parts = get_authorization_header(request).split()
    if not parts:
        return None
    scheme = parts[0].decode("latin-1").lower()
    is_key = scheme == KEYWORD.lower() or (
        scheme == "bearer" and len(parts) == 2 and parts[1].startswith(KEY_START.encode())
    )
    if not is_key:
        return None
    if len(parts) != 2:
        raise AuthenticationFailed(f"Send the key as `Authorization: {KEYWORD} hm_…`.")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        return ""  # no key has such characters: a wrong key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiKeyGrant] | None:
        key = _presented_key(request)
        if key is None:
            return None
        # An empty email: keys count per address only (there is no account to protect).
        if login_throttle.blocked(request, email=""):
            raise Throttled(detail="Too many failed logins or API keys; try again later.")
        grant = api_key_grant(key=key, now=timezone.now())
        if grant is None:
            login_throttle.record_failure(request, email="")
            raise AuthenticationFailed("Invalid, expired or revoked API key.")
        return grant.api_key.created_by, grant

    def authenticate_header(self, request: Request) -> str:
        # The same challenge as the JWT class after it, so 401 answers do not change.
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A team API key (created under /api/v1/api-keys/ or the dashboard's API keys "
                "page): `Authorization: Bearer hm_…` or `Authorization: Api-Key hm_…`."
            ),
        }
