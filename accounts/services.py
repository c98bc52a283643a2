"""Writes for users, teams and memberships."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.audit import audit_record
from accounts.models import Invitation, InvitationStatus, Membership, Role, Team, User

INVITATION_VALIDITY = timedelta(days=7)


@transaction.atomic
def user_register(*, email: str, password: str, full_name: str = "") -> User:
    """Create a user with a personal team they own."""
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    name = f"{full_name or email.split('@')[0]}'s team"
    team_create(owner=user, name=name, personal=True, actor=user)
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
def user_update_profile(*, user: User, full_name: str, email: str) -> User:
    """Change a user's name and sign-in address (unique, compared without case)."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        # This tells a signed-in user that the address has an account here; the dashboard
        # asks for the current password first and counts failures like failed logins.
        raise ValidationError({"email": "Another account uses this address."})
    user.full_name = full_name.strip()
    fields = ["full_name"]
    if email != user.email.lower():
        user.email, user.email_changed_at = email, timezone.now()
        fields += ["email", "email_changed_at"]
    elif email != user.email:
        user.email = email
        fields.append("email")
    user.save(update_fields=fields)
    return user


@transaction.atomic
def team_create(
    *, owner: User, name: str, personal: bool = False, actor: User | None = None
) -> Team:
    team = Team.objects.create(name=name, personal_owner=owner if personal else None)
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    audit_record(team=team, actor=actor, action="create", obj=team)
    return team


@transaction.atomic
def team_rename(*, team: Team, name: str, actor: User | None = None) -> Team:
    changes = {"name": [team.name, name]} if name != team.name else {}
    team.name = name
    team.save(update_fields=["name"])
    audit_record(team=team, actor=actor, action="update", obj=team, changes=changes)
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: User | None = None) -> None:
    if team.is_personal:
        raise ValidationError({"team": "A personal team cannot be deleted."})
    # The entry outlives the team (its team becomes null): staff still see who deleted it.
    audit_record(team=team, actor=actor, action="delete", obj=team)
    team.delete()


def lock_memberships(team_id: int) -> None:
    """Serialize the changes of a team's roles and members (its row locked until commit):
    two owners demoting or removing each other at once each saw the other still an owner,
    and the team was left with none."""
    list(Team.objects.select_for_update().filter(pk=team_id).values_list("pk", flat=True))


def ensure_an_owner_remains(team: Team, leaving: Membership) -> None:
    if leaving.role != Role.OWNER:
        return
    others = team.memberships.filter(role=Role.OWNER).exclude(pk=leaving.pk)
    if not others.exists():
        raise ValidationError({"role": "A team needs at least one owner."})


# --- Invitations: a membership exists only once its invitee accepts ------------------------


@transaction.atomic
def invitation_create(
    *, team: Team, email: str, role: str, acting_role: str, actor: User | None = None
) -> Invitation:
    """Invite an address to a team, whether or not it has an account here (the answer is the
    same, so inviting does not tell who is registered). Inviting again renews the invitation."""
    if role == Role.OWNER and acting_role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can invite another owner."})
    email = email.strip().lower()
    if team.memberships.filter(user__email__iexact=email).exists():
        # Members are listed to this admin anyway: saying so reveals nothing new.
        raise ValidationError({"email": "This user is already a member of the team."})
    now = timezone.now()
    invitation, _ = Invitation.objects.update_or_create(
        team=team,
        email=email,
        defaults={
            "role": role,
            "invited_by": actor,
            "status": InvitationStatus.PENDING,
            "created_at": now,
            "expires_at": now + INVITATION_VALIDITY,
        },
    )
    audit_record(
        team=team, actor=actor, action="invite", obj=invitation, changes={"role": [None, role]}
    )
    return invitation


def invitations_open_for(user: User) -> QuerySet[Invitation]:
    """The pending invitations to the user's address, sent since it became theirs: someone
    who changes their address to an invited one (unproven) does not take the invitation; the
    team invites them again if it meant them."""
    invitations = Invitation.objects.filter(
        email__iexact=user.email, status=InvitationStatus.PENDING, expires_at__gt=timezone.now()
    )
    if user.email_changed_at is not None:
        invitations = invitations.filter(created_at__gte=user.email_changed_at)
    return invitations.select_related("team", "invited_by")


def _open_invitation(invitation_id: int, user: User) -> Invitation:
    """The user's own open invitation, locked; anyone else's (or an expired one) is 404."""
    invitation = (
        invitations_open_for(user).select_for_update(of=("self",)).filter(pk=invitation_id).first()
    )
    if invitation is None:
        raise NotFound("No open invitation with this id for you.")
    return invitation


@transaction.atomic
def invitation_accept(*, invitation_id: int, user: User) -> Membership:
    invitation = _open_invitation(invitation_id, user)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.save(update_fields=["status"])
    membership, _ = Membership.objects.get_or_create(
        team=invitation.team, user=user, defaults={"role": invitation.role}
    )
    audit_record(
        team=invitation.team,
        actor=user,
        action="accept",
        obj=membership,
        changes={"role": [None, membership.role]},
    )
    return membership


@transaction.atomic
def invitation_decline(*, invitation_id: int, user: User) -> None:
    invitation = _open_invitation(invitation_id, user)
    invitation.status = InvitationStatus.DECLINED
    invitation.save(update_fields=["status"])
    audit_record(team=invitation.team, actor=user, action="decline", obj=invitation)


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, acting_role: str, actor: User | None = None
) -> Membership:
    if acting_role != Role.OWNER and Role.OWNER in (role, membership.role):
        raise ValidationError({"role": "Only an owner can grant or change the owner role."})
    lock_memberships(membership.team_id)
    if role != Role.OWNER:
        ensure_an_owner_remains(membership.team, membership)
    changes = {"role": [membership.role, role]} if role != membership.role else {}
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        team=membership.team, actor=actor, action="update", obj=membership, changes=changes
    )
    return membership


def validate_membership_removal(membership: Membership) -> None:
    """What no one, not even an owner or staff, may remove; raises ``ValidationError``."""
    if membership.team.personal_owner_id == membership.user_id:
        raise ValidationError({"user": "The owner of a personal team cannot be removed."})
    ensure_an_owner_remains(membership.team, membership)


@transaction.atomic
def membership_remove(
    *, membership: Membership, acting_role: str, actor: User | None = None
) -> None:
    if membership.role == Role.OWNER and acting_role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can remove an owner."})
    lock_memberships(membership.team_id)
    validate_membership_removal(membership)
    audit_record(team=membership.team, actor=actor, action="delete", obj=membership)
    membership.delete()
