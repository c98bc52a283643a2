"""API keys for scripts and CI: issued to a team with a role, shown once, stored as a digest.

A key reads ``hm_<8 characters>_<40 characters>``. The first part (``hm_`` and 8 characters)
is its prefix: stored in clear to find the row and shown in lists. The key itself is never
stored; its SHA-256 digest is. A slow password hasher protects guessable passwords; a key
carries 238 random bits, so a fast digest is as safe and keeps every request cheap.

A request authenticated by a key acts for the key's creator, limited to the key's team and to
the weaker of the key's role and the creator's current role there: removing or demoting the
creator narrows their keys at once, and a key never grants more than its creator holds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from rest_framework.exceptions import PermissionDenied, ValidationError

from accounts.audit import audit_record
from accounts.models import ROLE_RANK, ApiKey, Membership, Role, Team, User

KEY_START = "hm_"
_ALPHABET = string.ascii_letters + string.digits  # no "_": it separates prefix and secret
_PREFIX_LENGTH = 8
_SECRET_LENGTH = 40
# last_used_at is a hint for people, not an audit trail: one write per key per minute at most,
# instead of one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``key`` is the only copy of the secret, to show once."""

    api_key: ApiKey
    key: str


@dataclass(frozen=True)
class ApiKeyGrant:
    """What a key-authenticated request may do (DRF's ``request.auth``)."""

    api_key: ApiKey
    team_id: int
    role: str


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _prefix_of(key: str) -> str | None:
    prefix, separator, secret = key.rpartition("_")
    if not (separator and prefix.startswith(KEY_START) and secret):
        return None
    return prefix


def _weaker(role: str, other: str) -> str:
    return min(role, other, key=lambda name: ROLE_RANK[Role(name)])


@transaction.atomic
def api_key_create(
    *,
    team: Team,
    creator: User,
    acting_role: str,
    name: str,
    role: str,
    expires_at: datetime | None = None,
    now: datetime,
) -> IssuedKey:
    """Issue a key; ``acting_role`` is the creator's role in ``team`` (admin or owner)."""
    if ROLE_RANK[Role(acting_role)] < ROLE_RANK[Role.ADMIN]:
        raise PermissionDenied("Only team owners and admins can create API keys.")
    if role == Role.OWNER:
        raise ValidationError({"role": "A key cannot have the owner role."})
    if ROLE_RANK[Role(role)] > ROLE_RANK[Role(acting_role)]:
        raise ValidationError({"role": "A key cannot have more rights than your own role."})
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    prefix = f"{KEY_START}{_random(_PREFIX_LENGTH)}"
    key = f"{prefix}_{_random(_SECRET_LENGTH)}"
    api_key = ApiKey.objects.create(
        team=team,
        created_by=creator,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=key_digest(key),
        created_at=now,
        expires_at=expires_at,
    )
    audit_record(
        team=team,
        actor=creator,
        action="create",
        obj=api_key,
        changes={"role": [None, role], "expires_at": [None, expires_at and expires_at.isoformat()]},
    )
    return IssuedKey(api_key=api_key, key=key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None, now: datetime) -> ApiKey:
    """Revoke a key for good; revoking a revoked key changes nothing (and is not audited)."""
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = now
        locked.save(update_fields=["revoked_at"])
        audit_record(team=locked.team, actor=actor, action="revoke", obj=locked)
    return locked


def api_key_grant(*, key: str, now: datetime) -> ApiKeyGrant | None:
    """What ``key`` allows now, or None for an unknown, wrong, expired or revoked key, or one
    whose creator is inactive or no longer in the team."""
    prefix = _prefix_of(key)
    if prefix is None:
        return None
    api_key = ApiKey.objects.select_related("created_by").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, key_digest(key)):
        return None
    if not api_key.is_usable(now) or not api_key.created_by.is_active:
        return None
    creator_role = (
        Membership.objects.filter(team_id=api_key.team_id, user_id=api_key.created_by_id)
        .values_list("role", flat=True)
        .first()
    )
    if creator_role is None:
        return None
    _note_use(api_key, now)
    return ApiKeyGrant(
        api_key=api_key, team_id=api_key.team_id, role=_weaker(api_key.role, creator_role)
    )


def _note_use(api_key: ApiKey, now: datetime) -> None:
    stale = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > stale:
        return
    # Conditional, so concurrent requests of one key write once.
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)
    ).update(last_used_at=now)
    api_key.last_used_at = now
