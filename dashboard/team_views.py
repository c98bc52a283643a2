"""Team pages: the audit log (owners and admins) and your own invitations to accept."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound

from accounts import services as account_services
from accounts.models import AuditEntry, Role, User
from dashboard.access import teams_with_role

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
