"""Writes for users, teams and memberships."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import Membership, Role, Team, User


@transaction.atomic
def user_register(*, email: str, password: str, full_name: str = "") -> User:
    """Create a user with a personal team they own."""
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    team_create(owner=user, name=f"{full_name or email.split('@')[0]}'s team", personal=True)
    return user


def user_register_request(*, email: str, password: str, full_name: str = "") -> User | None:
    """Public registration: the new user, or None if the email is taken. The caller answers
    both alike, so registration does not tell who has an account here; the existing account
    is left as it was."""
    if User.objects.filter(email__iexact=email).exists():
        make_password(password)  # the hashing a new account costs, so timing tells nothing
        return None
    try:
        return user_register(email=email, password=password, full_name=full_name)
    except IntegrityError:  # registered by a concurrent request in the meantime
        return None


def user_change_password(*, user: User, password: str) -> None:
    """Set a new password and revoke every refresh token issued before it (the access tokens
    fail by themselves: they carry a digest of the old password hash)."""
    user.set_password(password)
    user.save(update_fields=["password"])
    live = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now())
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )


@transaction.atomic
def team_create(*, owner: User, name: str, personal: bool = False) -> Team:
    team = Team.objects.create(name=name, personal_owner=owner if personal else None)
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def _ensure_an_owner_remains(team: Team, leaving: Membership) -> None:
    if leaving.role != Role.OWNER:
        return
    others = team.memberships.filter(role=Role.OWNER).exclude(pk=leaving.pk)
    if not others.exists():
        raise ValidationError({"role": "A team needs at least one owner."})


def membership_add(*, team: Team, email: str, role: str, acting_role: str) -> Membership:
    if role == Role.OWNER and acting_role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can add another owner."})
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise ValidationError({"email": "No user with this email address."})
    if team.memberships.filter(user=user).exists():
        raise ValidationError({"email": "This user is already a member of the team."})
    return Membership.objects.create(team=team, user=user, role=role)


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, acting_role: str) -> Membership:
    if acting_role != Role.OWNER and Role.OWNER in (role, membership.role):
        raise ValidationError({"role": "Only an owner can grant or change the owner role."})
    if role != Role.OWNER:
        _ensure_an_owner_remains(membership.team, membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, acting_role: str) -> None:
    if membership.role == Role.OWNER and acting_role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can remove an owner."})
    if membership.team.personal_owner_id == membership.user_id:
        raise ValidationError({"user": "The owner of a personal team cannot be removed."})
    _ensure_an_owner_remains(membership.team, membership)
    membership.delete()
