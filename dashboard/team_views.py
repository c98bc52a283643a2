"""Team pages: a team's members and roles (owners and admins change them and invite), a
switcher between your teams, new teams, the audit log (owners and admins) and your own
invitations to accept. Every change goes through accounts.services, with the API's rules
(only an owner grants or removes the owner role; a team keeps at least one owner)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound, ValidationError

from accounts import services as account_services
from accounts.access import team_roles
from accounts.models import AuditEntry, Invitation, InvitationStatus, Membership, Role, Team, User
from dashboard.access import can, require_role, teams_with_role
from dashboard.forms import _messages

PAGE_SIZE = 50


def _me(request: HttpRequest) -> User:
    assert isinstance(request.user, User), "behind login_required"
    return request.user


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    teams = teams_with_role(request, Role.ADMIN)
    if not teams:
        raise PermissionDenied("Only team owners and admins can read the audit log.")
    entries = AuditEntry.objects.filter(team__in=teams).select_related("team")
    page = Paginator(entries.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "dashboard/audit.html", {"page": page})


@login_required
def invitation_list(request: HttpRequest) -> HttpResponse:
    invitations = account_services.invitations_open_for(_me(request)).order_by("-created_at")
    return render(request, "dashboard/invitations.html", {"invitations": invitations})


@login_required
@require_POST
def invitation_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept (answer=accept) or decline the invitation."""
    try:
        if request.POST.get("answer") == "accept":
            membership = account_services.invitation_accept(invitation_id=pk, user=_me(request))
            messages.success(request, f"You joined “{membership.team.name}”.")
        else:
            account_services.invitation_decline(invitation_id=pk, user=_me(request))
            messages.success(request, "Invitation declined.")
    except NotFound as exc:
        messages.error(request, str(exc.detail))
    return redirect("dashboard:invitations")


# --- Teams, members, roles ------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(help_text="They join when they accept (within 7 days)")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class TeamNameForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")


def _team(request: HttpRequest, pk: int) -> Team:
    """One of the user's teams; any other is 404, as in the API."""
    if pk not in team_roles(request):
        raise Http404("No such team among yours.")
    return Team.objects.get(pk=pk)


def _my_teams(request: HttpRequest) -> list[dict]:
    roles = team_roles(request)
    teams = sorted(
        Team.objects.filter(id__in=list(roles)),
        key=lambda team: (team.personal_owner_id != request.user.id, team.name.lower()),
    )
    return [{"team": team, "role": roles[team.id]} for team in teams]


@login_required
def team_home(request: HttpRequest) -> HttpResponse:
    """Your personal team's page (the first of your teams if you have none of your own)."""
    teams = _my_teams(request)
    if not teams:
        return render(
            request,
            "dashboard/team.html",
            {"team": None, "teams": [], "new_team_form": TeamNameForm(label_suffix="")},
        )
    return redirect("dashboard:team-detail", pk=teams[0]["team"].pk)


def _team_page(
    request: HttpRequest, team: Team, *, invite_form: InviteForm | None = None, status: int = 200
) -> HttpResponse:
    my_role = team_roles(request)[team.id]
    can_admin = can(request, team.id, Role.ADMIN)
    members = team.memberships.select_related("user").order_by("user__email", "id")
    invitations = (
        Invitation.objects.filter(
            team=team, status=InvitationStatus.PENDING, expires_at__gt=timezone.now()
        ).select_related("invited_by")
        if can_admin
        else Invitation.objects.none()
    )
    roles = Role.choices if my_role == Role.OWNER else [c for c in Role.choices if c[0] != "owner"]
    return render(
        request,
        "dashboard/team.html",
        {
            "team": team,
            "teams": _my_teams(request),
            "my_role": my_role,
            "can_admin": can_admin,
            "members": members,
            "invitations": invitations,
            "role_choices": roles,
            "invite_form": invite_form or InviteForm(label_suffix=""),
            "new_team_form": TeamNameForm(label_suffix=""),
        },
        status=status,
    )


@login_required
def team_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _team_page(request, _team(request, pk))


@login_required
@require_POST
def team_new(request: HttpRequest) -> HttpResponse:
    form = TeamNameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A new team needs a name (at most 100 characters).")
        return redirect("dashboard:team")
    team = account_services.team_create(
        owner=_me(request), name=form.cleaned_data["name"], actor=_me(request)
    )
    messages.success(request, f"Team “{team.name}” created; you are its owner.")
    return redirect("dashboard:team-detail", pk=team.pk)


@login_required
@require_POST
def team_invite(request: HttpRequest, pk: int) -> HttpResponse:
    team = _team(request, pk)
    require_role(request, team.id, Role.ADMIN)
    form = InviteForm(request.POST, label_suffix="")
    if form.is_valid():
        try:
            invitation = account_services.invitation_create(
                team=team,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                acting_role=team_roles(request)[team.id],
                actor=_me(request),
            )
        except ValidationError as exc:
            for field, detail in exc.detail.items():  # type: ignore[union-attr]
                for message in _messages(detail):
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(
                request,
                f"Invitation for {invitation.email} ({invitation.role}) recorded: they see it "
                "under Invitations once they have an account, and join on accepting.",
            )
            return redirect("dashboard:team-detail", pk=team.pk)
    return _team_page(request, team, invite_form=form, status=400)


def _reasons(error: ValidationError) -> str:
    """A service's refusal as one sentence, without the field names."""
    detail = error.detail
    values = detail.values() if isinstance(detail, dict) else [detail]
    return " ".join(message for value in values for message in _messages(value))


def _membership(request: HttpRequest, pk: int, user_id: int) -> tuple[Membership, str]:
    team = _team(request, pk)
    require_role(request, team.id, Role.ADMIN)
    membership = (
        Membership.objects.select_related("team", "user").filter(team=team, user_id=user_id).first()
    )
    if membership is None:
        raise Http404("No such member of this team.")
    return membership, team_roles(request)[team.id]


@login_required
@require_POST
def member_change_role(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    membership, acting_role = _membership(request, pk, user_id)
    role = request.POST.get("role", "")
    if role not in Role.values:
        messages.error(request, f"“{role}” is not a role.")
        return redirect("dashboard:team-detail", pk=pk)
    try:
        account_services.membership_change_role(
            membership=membership, role=role, acting_role=acting_role, actor=_me(request)
        )
    except ValidationError as exc:
        messages.error(request, _reasons(exc))
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display()}."
        )
    return redirect("dashboard:team-detail", pk=pk)


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    membership, acting_role = _membership(request, pk, user_id)
    email = membership.user.email
    try:
        account_services.membership_remove(
            membership=membership, acting_role=acting_role, actor=_me(request)
        )
    except ValidationError as exc:
        messages.error(request, _reasons(exc))
        return redirect("dashboard:team-detail", pk=pk)
    messages.success(request, f"{email} removed from “{membership.team.name}”.")
    if membership.user_id == request.user.pk:
        return redirect("dashboard:team")  # you left the team
    return redirect("dashboard:team-detail", pk=pk)
