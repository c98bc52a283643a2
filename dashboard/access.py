"""The API's team rules, applied to pages: other teams' objects are 404, low roles 403."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from accounts.access import has_team_role, team_roles
from accounts.models import Role, Team


def team_ids(request: HttpRequest) -> list[int]:
    return list(team_roles(request))


def scoped(queryset: QuerySet, request: HttpRequest, team_path: str = "team") -> QuerySet:
    """Only the objects of the user's teams."""
    return queryset.filter(**{f"{team_path}_id__in": team_ids(request)})


def get_scoped_or_404(
    queryset: QuerySet, request: HttpRequest, team_path: str = "team", **lookup
) -> Model:
    obj = scoped(queryset, request, team_path).filter(**lookup).first()
    if obj is None:
        raise Http404("No such object in your teams.")
    return obj


def require_role(request: HttpRequest, team_id: int, minimum: str = Role.EDITOR) -> None:
    if not has_team_role(request, team_id, minimum):
        raise PermissionDenied("Your role in this team does not allow this change.")


def can(request: HttpRequest, team_id: int, minimum: str = Role.EDITOR) -> bool:
    return has_team_role(request, team_id, minimum)


def teams_with_role(request: HttpRequest, minimum: str = Role.EDITOR) -> list[Team]:
    """Teams where the user may create things, the personal team first."""
    ids = [team_id for team_id in team_ids(request) if has_team_role(request, team_id, minimum)]
    teams = list(Team.objects.filter(id__in=ids))
    teams.sort(key=lambda team: (team.personal_owner_id != request.user.id, team.name))
    return teams
