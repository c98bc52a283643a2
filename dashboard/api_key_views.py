"""The API keys page: team owners and admins list, create and revoke their teams' keys.

A new key is in the answer to the POST that created it and nowhere else: the page is rendered
there (not redirected to, which would mean keeping the key in the session), and not cached.
"""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from accounts import api_keys
from accounts.access import team_roles
from accounts.models import API_KEY_ROLES, ApiKey, Role, Team, User
from accounts.serializers import ApiKeySerializer
from dashboard.access import get_scoped_or_404, require_role, teams_with_role
from dashboard.forms import SerializerForm, _messages


class ApiKeyForm(SerializerForm):
    serializer_class = ApiKeySerializer

    team = forms.TypedChoiceField(coerce=int)
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “CI deploy”")
    role = forms.ChoiceField(
        choices=API_KEY_ROLES,
        help_text="At most your own role in the team",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Optional (UTC); empty: until revoked",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, request: HttpRequest, teams: list[Team], **kwargs) -> None:
        super().__init__(*args, request=request, **kwargs)
        team_field = cast(forms.TypedChoiceField, self.fields["team"])
        team_field.choices = [(team.id, team.name) for team in teams]


def _admin_teams(request: HttpRequest) -> list[Team]:
    teams = teams_with_role(request, Role.ADMIN)
    if not teams:
        raise PermissionDenied("Only team owners and admins manage API keys.")
    return teams


def _page(request: HttpRequest, teams: list[Team], form: ApiKeyForm, **context) -> HttpResponse:
    keys = ApiKey.objects.filter(team__in=teams).select_related("team", "created_by")
    now = timezone.now()
    rows = [{"key": key, "active": key.is_usable(now)} for key in keys]
    return render(request, "dashboard/api_keys.html", {"rows": rows, "form": form, **context})


@never_cache
@login_required
def api_key_list(request: HttpRequest) -> HttpResponse:
    teams = _admin_teams(request)
    form = ApiKeyForm(request.POST or None, request=request, teams=teams)
    if request.method != "POST" or not form.is_valid():
        return _page(request, teams, form)
    team = next(t for t in teams if t.id == form.cleaned_data["team"])
    assert isinstance(request.user, User), "behind login_required"
    try:
        issued = api_keys.api_key_create(
            team=team,
            creator=request.user,
            acting_role=team_roles(request)[team.id],
            name=form.validated["name"],
            role=form.validated["role"],
            expires_at=form.validated.get("expires_at"),
            now=timezone.now(),
        )
    except ValidationError as exc:
        for message in _messages(exc.detail):
            form.add_error(None, message)
        return _page(request, teams, form)
    blank = ApiKeyForm(request=request, teams=teams)
    return _page(request, teams, blank, new_key=issued.key, new_api_key=issued.api_key)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    api_key = cast(ApiKey, get_scoped_or_404(ApiKey.objects.select_related("team"), request, pk=pk))
    require_role(request, api_key.team_id, Role.ADMIN)
    assert isinstance(request.user, User), "behind login_required"
    api_keys.api_key_revoke(api_key=api_key, actor=request.user, now=timezone.now())
    messages.success(request, f"API key “{api_key.name}” revoked.")
    return redirect("dashboard:api-keys")
