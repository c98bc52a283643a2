"""Team-based access control shared by every API that serves team-owned objects.

A user sees only objects of teams they belong to (anything else answers 404, as if it did
not exist) and may change them only with a sufficient role (otherwise 403). A request made with
an API key sees only the key's team, with the key's role (``accounts.api_keys``): every check
here reads ``team_roles``, so it holds for keys too.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from accounts.api_keys import ApiKeyGrant
from accounts.models import ROLE_RANK, Membership, Role, Team, User


def api_key_grant_of(request: Request | HttpRequest) -> ApiKeyGrant | None:
    """The API key the request was authenticated with (None for logins and sessions)."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKeyGrant) else None


def team_roles(request: Request | HttpRequest) -> dict[int, str]:
    """The requesting user's role per team id, read once per request; with an API key, only
    the key's team and role."""
    if not request.user.is_authenticated:  # e.g. the OpenAPI generator's fake request
        return {}
    grant = api_key_grant_of(request)
    if grant is not None:
        return {grant.team_id: grant.role}
    cached = getattr(request, "_healthmon_team_roles", None)
    if cached is None:
        memberships = Membership.objects.filter(user=request.user).order_by()
        cached = dict(memberships.values_list("team_id", "role"))
        request._healthmon_team_roles = cached
    return cached


def acting_user(request: Request | HttpRequest) -> User | None:
    """Who makes the request, for services' ``actor`` (None when nobody is logged in)."""
    user = request.user
    return user if isinstance(user, User) else None


def has_team_role(request: Request, team_id: int | None, minimum: str) -> bool:
    role = team_roles(request).get(team_id)
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


def teams_of(request: Request | HttpRequest) -> QuerySet[Team]:
    return Team.objects.filter(id__in=list(team_roles(request)))


def default_team(request: Request | HttpRequest) -> Team | None:
    """Where a new object goes when no team is named: the API key's team, else the user's
    personal team."""
    grant = api_key_grant_of(request)
    if grant is not None:
        return grant.api_key.team
    return getattr(request.user, "personal_team", None)


class UserLoginRequired(permissions.BasePermission):
    """For what acts on the person rather than a team (their password, invitations, new teams,
    API keys): an API key is refused, so a leaked key cannot outlive its revocation."""

    message = "This needs a user login; API keys cannot do it."

    def has_permission(self, request: Request, view) -> bool:
        return api_key_grant_of(request) is None


class TeamRolePermission(permissions.BasePermission):
    """Reads need membership; writes need the view's ``write_role`` in the object's team."""

    message = "Your role in this team does not allow this change."

    def has_object_permission(self, request: Request, view, obj) -> bool:
        minimum = Role.VIEWER if request.method in permissions.SAFE_METHODS else view.write_role
        return has_team_role(request, view.team_id_of(obj), minimum)


class TeamField(serializers.PrimaryKeyRelatedField):
    """The owning team: one of the user's teams; defaults to their personal team."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return Team.objects.none()
        return teams_of(request)


class TeamScopedViewSetMixin:
    """Filter a viewset's queryset to the user's teams and enforce roles.

    ``team_path`` is the lookup from the model to its team ("team" or "monitor__team").
    Creates go to ``team`` from the payload or the user's personal team, and need
    ``write_role`` there.
    """

    team_path = "team"
    write_role: str = Role.EDITOR
    permission_classes = [permissions.IsAuthenticated, TeamRolePermission]

    def get_queryset(self):
        team_ids = list(team_roles(self.request))
        return super().get_queryset().filter(**{f"{self.team_path}_id__in": team_ids})

    def team_id_of(self, obj) -> int:
        target = obj
        for part in self.team_path.split("__"):
            if part == "team":
                return target.team_id
            target = getattr(target, part)
        raise AssertionError(f"team_path {self.team_path!r} does not end in 'team'")

    def team_for_create(self, serializer) -> Team:
        team = serializer.validated_data.get("team")
        if team is None:
            team = default_team(self.request)
            if team is None:
                raise PermissionDenied("You have no personal team; pass `team`.")
        if not has_team_role(self.request, team.id, self.write_role):
            raise PermissionDenied(self.permission_classes[-1].message)
        return team

    def perform_create(self, serializer) -> None:
        serializer.save(team=self.team_for_create(serializer))
