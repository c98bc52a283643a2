"""Public status pages and badges (no login), and the pages that manage status pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from dashboard.access import can, get_scoped_or_404, require_role, scoped, teams_with_role
from dashboard.forms import StatusPageForm
from lib.forms import add_service_errors
from monitors import status_pages
from monitors.models import Monitor, MonitorBadge, StatusPage
from reports.badges import status_badge, uptime_badge
from reports.stats import WINDOWS, uptime_by_monitor
from reports.status_pages import public_status_cached

# --- Public ---------------------------------------------------------------------------------


@require_GET
@cache_control(public=True, max_age=15)
def public_status_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = _public_page(slug)
    return render(
        request, "status/page.html", {"status": public_status_cached(page), "slug": page.slug}
    )


@require_GET
@cache_control(public=True, max_age=15)
def public_status_live(request: HttpRequest, slug: str) -> HttpResponse:
    """The status page's live part, fetched every 30 seconds by ``live.js``."""
    page = _public_page(slug)
    return render(request, "status/_live.html", {"status": public_status_cached(page)})


def _public_page(slug: str) -> StatusPage:
    page = StatusPage.objects.filter(slug=slug, is_public=True).first()
    if page is None:
        raise Http404("No such status page.")
    return page


def _badge_monitor(token: str) -> Monitor:
    badge = MonitorBadge.objects.select_related("monitor").filter(token=token).first()
    if badge is None:
        raise Http404("No such badge.")
    return badge.monitor


def _svg(body: str) -> HttpResponse:
    response = HttpResponse(body, content_type="image/svg+xml; charset=utf-8")
    # Short: READMEs proxy badges through caches (GitHub's camo honours this).
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
def badge_status(request: HttpRequest, token: str) -> HttpResponse:
    monitor = _badge_monitor(token)
    return _svg(status_badge(monitor.status if monitor.is_active else "paused"))


@require_GET
def badge_uptime(request: HttpRequest, token: str) -> HttpResponse:
    """Uptime over ``?window=`` (24h, 7d, 30d, 90d; default 30d). Any other window is a 400:
    a badge labelled "1y" must not show 30 days' figure."""
    monitor = _badge_monitor(token)
    window = request.GET.get("window", "30d")
    if window not in WINDOWS:
        return HttpResponseBadRequest(
            f"Unknown window {window!r}: use one of {', '.join(WINDOWS)}.",
            content_type="text/plain; charset=utf-8",
        )
    uptime = uptime_by_monitor([monitor.id], window).get(monitor.id)
    return _svg(uptime_badge(uptime, window))


# --- Management (logged in) -----------------------------------------------------------------


@login_required
def status_page_list(request: HttpRequest) -> HttpResponse:
    pages = scoped(StatusPage.objects.select_related("team"), request).prefetch_related("monitors")
    rows = [{"page": page, "can_edit": can(request, page.team_id, Role.EDITOR)} for page in pages]
    return render(
        request,
        "dashboard/status_pages.html",
        {"rows": rows, "can_create": bool(teams_with_role(request, Role.EDITOR))},
    )


def _editable_monitors(request: HttpRequest, team_id: int | None = None) -> list[Monitor]:
    monitors = scoped(Monitor.objects.select_related("team"), request).order_by("name")
    if team_id is not None:
        monitors = monitors.filter(team_id=team_id)
    return list(monitors)


@login_required
def status_page_create(request: HttpRequest) -> HttpResponse:
    teams = teams_with_role(request, Role.EDITOR)
    if not teams:
        raise PermissionDenied("You need the editor role in a team to create status pages.")
    form = StatusPageForm(
        request.POST or None,
        request=request,
        teams=teams,
        monitors=_editable_monitors(request),
    )
    if request.method == "POST" and form.is_valid():
        team = next(t for t in teams if t.id == form.cleaned_data["team"])
        form.validated.pop("team", None)
        try:
            page = status_pages.status_page_create(team=team, actor=request.user, **form.validated)
        except ValidationError as exc:  # a slug taken by a concurrent request meanwhile
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Status page “{page.title}” created.")
            return redirect("dashboard:status-pages")
    return render(request, "dashboard/status_page_form.html", {"form": form, "page": None})


@login_required
def status_page_edit(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_scoped_or_404(StatusPage.objects.select_related("team"), request, pk=pk)
    require_role(request, page.team_id, Role.EDITOR)
    form = StatusPageForm(
        request.POST or None,
        request=request,
        teams=[],
        monitors=_editable_monitors(request, page.team_id),
        instance=page,
    )
    if request.method == "POST" and form.is_valid():
        form.validated.setdefault("monitors", [])
        try:
            status_pages.status_page_update(page=page, actor=request.user, **form.validated)
        except ValidationError as exc:  # a slug taken by a concurrent request meanwhile
            add_service_errors(form, exc)
        else:
            messages.success(request, "Status page saved.")
            return redirect("dashboard:status-pages")
    return render(request, "dashboard/status_page_form.html", {"form": form, "page": page})


@login_required
@require_POST
def status_page_delete(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_scoped_or_404(StatusPage.objects, request, pk=pk)
    require_role(request, page.team_id, Role.EDITOR)
    status_pages.status_page_delete(page=page, actor=request.user)
    messages.success(request, f"Status page “{page.title}” deleted.")
    return redirect("dashboard:status-pages")
