"""Writes for users, teams and memberships."""

from __future__ import annotations

from django.db import transaction
from rest_framework.exceptions import ValidationError

from accounts.models import Membership, Role, Team, User


@transaction.atomic
def user_register(*, email: str, password: str, full_name: str = "") -> User:
    """Create a user with a personal team they own."""
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    team_create(owner=user, name=f"{full_name or email.split('@')[0]}'s team", personal=True)
    return user


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
