"""Beat's daily flush of expired refresh tokens."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.tasks import flush_expired_tokens

pytestmark = pytest.mark.django_db


def _token(user, *, jti: str, expires_in: timedelta) -> OutstandingToken:
    return OutstandingToken.objects.create(
        user=user, jti=jti, token=f"token-{jti}", expires_at=timezone.now() + expires_in
    )


def test_expired_tokens_and_their_blacklist_entries_are_flushed_live_ones_kept(alice):
    expired = _token(alice, jti="old", expires_in=timedelta(seconds=-1))
    BlacklistedToken.objects.create(token=expired)
    live = _token(alice, jti="new", expires_in=timedelta(days=1))

    flush_expired_tokens()

    assert list(OutstandingToken.objects.values_list("id", flat=True)) == [live.id]
    assert not BlacklistedToken.objects.exists()
