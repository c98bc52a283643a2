"""Monitor pages: the overview, a monitor's detail, and the create/edit forms."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import teams_of
from accounts.models import Role, Team
from dashboard.access import can, get_scoped_or_404, require_role, scoped, teams_with_role
from dashboard.forms import MonitorForm, monitor_initial
from incidents import selectors as incident_selectors
from incidents.dependencies import monitor_set_dependencies
from incidents.models import Incident
from lib.forms import add_service_errors
from monitors import check_draft, check_now, services
from monitors.models import (
    CheckResult,
    CheckStatus,
    DraftCheck,
    Monitor,
    MonitorBadge,
    MonitorStatus,
)
from notifications import selectors as notification_selectors
from reports.recent_checks import recent_checks
from reports.stats import daily_bars, hourly_response_series, monitor_stats, uptime_by_monitor

PAGE_SIZE = 50
RECENT_CHECKS = 10  # the table of the detail page; the bars show more
OVERVIEW_BEATS = 30
DETAIL_BEATS = 50
RECENT_INCIDENTS = 10
CHART_HOURS = 24
CHART_MAX_RESULTS = 3000  # newest results read for the chart (index on monitor, -checked_at)
CHART_MAX_POINTS = 300
STATES = ["up", "down", "unknown", "paused"]


def public_state(monitor: Monitor) -> str:
    return monitor.status if monitor.is_active else "paused"


# --- Overview -------------------------------------------------------------------------------


def _filtered_monitors(request: HttpRequest) -> QuerySet[Monitor]:
    open_since = Incident.objects.open_of(OuterRef("pk")).values("started_at")[:1]
    monitors = (
        scoped(Monitor.objects.select_related("team"), request)
        .prefetch_related("tags")
        .annotate(
            open_incident_since=Subquery(open_since),
            # Down first, then unknown, up, paused: what needs attention is on top.
            attention=Case(
                When(is_active=False, then=Value(3)),
                When(status=MonitorStatus.DOWN, then=Value(0)),
                When(status=MonitorStatus.UNKNOWN, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            ),
        )
        .order_by("attention", "name", "id")
    )
    query = request.GET.get("q", "").strip()
    if query:
        monitors = monitors.filter(Q(name__icontains=query) | Q(url__icontains=query))
    state = request.GET.get("state", "")
    if state == "paused":
        monitors = monitors.filter(is_active=False)
    elif state in STATES:
        monitors = monitors.filter(is_active=True, status=state)
    tag = request.GET.get("tag", "").strip()
    if tag:
        monitors = monitors.filter(tags__name=tag)
    team = request.GET.get("team", "")
    if team.isdigit():  # one of your teams; another team's id simply shows nothing
        monitors = monitors.filter(team_id=int(team))
    return monitors


def _overview_context(request: HttpRequest) -> dict:
    page = Paginator(_filtered_monitors(request), PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [monitor.id for monitor in page]
    uptime_24h = uptime_by_monitor(ids, "24h")
    uptime_30d = uptime_by_monitor(ids, "30d")
    series = hourly_response_series(ids, hours=24)
    alerting_nobody = notification_selectors.monitors_alerting_nobody(ids)
    beats = recent_checks(ids, count=OVERVIEW_BEATS)  # one query for the page
    rows = [
        {
            "monitor": monitor,
            "state": public_state(monitor),
            "uptime_24h": uptime_24h.get(monitor.id),
            "uptime_30d": uptime_30d.get(monitor.id),
            "series": series.get(monitor.id, []),
            "alerts_nobody": monitor.id in alerting_nobody,
            "beats": beats.get(monitor.id, []),
        }
        for monitor in page
    ]
    counts = scoped(Monitor.objects, request).aggregate(
        total=Count("id"),
        up=Count("id", filter=Q(is_active=True, status=MonitorStatus.UP)),
        down=Count("id", filter=Q(is_active=True, status=MonitorStatus.DOWN)),
        unknown=Count("id", filter=Q(is_active=True, status=MonitorStatus.UNKNOWN)),
        paused=Count("id", filter=Q(is_active=False)),
    )
    return {
        "rows": rows,
        "page": page,
        "counts": counts,
        "filters": {k: request.GET.get(k, "") for k in ("q", "state", "tag", "team")},
        "my_teams": _teams_if_several(request),
        "query_string": request.GET.urlencode(),
        "can_create": bool(teams_with_role(request)),
        "can_bulk": bool(teams_with_role(request, Role.EDITOR)),
        "now": timezone.now(),
        "beat_count": OVERVIEW_BEATS,
    }


def _teams_if_several(request: HttpRequest) -> list[Team]:
    """The user's teams, for the overview's team filter; none if there is only one."""
    teams = list(teams_of(request).order_by("name", "id"))
    return teams if len(teams) > 1 else []


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/overview.html", _overview_context(request))


@login_required
def overview_rows(request: HttpRequest) -> HttpResponse:
    """The overview's live part, fetched every few seconds by ``live.js``."""
    return render(request, "dashboard/_overview_live.html", _overview_context(request))


# --- Detail ---------------------------------------------------------------------------------


def chart_points(monitor: Monitor, *, now: datetime) -> list[tuple[datetime, float | None, bool]]:
    """The last day of checks as (time, ms, ok), averaged into at most CHART_MAX_POINTS."""
    rows = list(
        CheckResult.objects.filter(
            monitor=monitor, checked_at__gte=now - timedelta(hours=CHART_HOURS)
        )
        .order_by("-checked_at")
        .values_list("checked_at", "response_time_ms", "status")[:CHART_MAX_RESULTS]
    )
    rows.reverse()
    points = [(at, ms, status == CheckStatus.UP) for at, ms, status in rows]
    if len(points) <= CHART_MAX_POINTS:
        return points
    # Average consecutive checks; a slot with any failure is drawn as a failure.
    size = -(-len(points) // CHART_MAX_POINTS)
    merged = []
    for start in range(0, len(points), size):
        slot = points[start : start + size]
        ok = [ms for _, ms, good in slot if good and ms is not None]
        all_ok = all(good for _, _, good in slot)
        merged.append((slot[-1][0], sum(ok) / len(ok) if ok and all_ok else None, all_ok))
    return merged


def _live_context(request: HttpRequest, monitor: Monitor) -> dict:
    incidents = list(
        incident_selectors.with_opening_failures(Incident.objects.filter(monitor=monitor))
        .select_related("acknowledged_by")
        .order_by("-started_at")[:RECENT_INCIDENTS]
    )
    now = timezone.now()
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return {
        "monitor": monitor,
        "state": public_state(monitor),
        "stats": [
            monitor_stats(monitor=monitor, window=w, now=now) for w in ("24h", "7d", "30d", "90d")
        ],
        "chart": chart_points(monitor, now=now),
        "sla_months": [now.strftime("%Y-%m"), last_month],
        "checks": list(
            CheckResult.objects.filter(monitor=monitor).order_by("-checked_at", "-id")[
                :RECENT_CHECKS
            ]
        ),
        "incidents": incidents,
        "beats": recent_checks([monitor.id], count=DETAIL_BEATS)[monitor.id],
        "beat_count": DETAIL_BEATS,
        "open_incident": next((i for i in incidents if i.resolved_at is None), None),
        "can_edit": can(request, monitor.team_id, Role.EDITOR),
        "can_ack": can(request, monitor.team_id, Role.EDITOR),
    }


def _get_monitor(request: HttpRequest, pk: int) -> Monitor:
    return get_scoped_or_404(
        Monitor.objects.select_related("team").prefetch_related("tags"), request, pk=pk
    )


@login_required
def monitor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _get_monitor(request, pk)
    context = _live_context(request, monitor)
    context.update(
        {
            "bars": daily_bars([monitor.id], days=90)[monitor.id],
            "badge": MonitorBadge.objects.filter(monitor=monitor).first(),
            "alert_channels": notification_selectors.monitor_channels(monitor),
            "alerts_nobody": bool(notification_selectors.monitors_alerting_nobody([monitor.id])),
            "parents": Monitor.objects.filter(child_links__child=monitor).order_by("name"),
            "children": Monitor.objects.filter(parent_links__parent=monitor).order_by("name"),
        }
    )
    return render(request, "dashboard/monitor_detail.html", context)


@login_required
def monitor_live(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _get_monitor(request, pk)
    return render(request, "dashboard/_monitor_live.html", _live_context(request, monitor))


# --- Create, edit, pause, resume, delete, badges --------------------------------------------


def _create_page(request: HttpRequest, initial: dict | None = None) -> HttpResponse:
    teams = teams_with_role(request, Role.EDITOR)
    if not teams:
        raise PermissionDenied("You need the editor role in a team to create monitors.")
    form = MonitorForm(request.POST or None, request=request, teams=teams, initial=initial)
    if request.method == "POST" and form.is_valid():
        team = next(t for t in teams if t.id == form.cleaned_data["team"])
        fields = {k: v for k, v in form.validated.items() if k != "team"}
        parents = fields.pop("depends_on", None)
        try:
            with transaction.atomic():
                monitor = services.monitor_create(team=team, actor=request.user, **fields)
                if parents:
                    monitor_set_dependencies(monitor=monitor, parents=parents, actor=request.user)
        except ValidationError as exc:  # checked again under the team lock: a quota's last slot
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Monitor “{monitor.name}” created; its first check is due.")
            return redirect("dashboard:monitor-detail", pk=monitor.pk)
    return render(request, "dashboard/monitor_form.html", {"form": form, "monitor": None})


@login_required
def monitor_create(request: HttpRequest) -> HttpResponse:
    return _create_page(request)


@login_required
def monitor_clone(request: HttpRequest, pk: int) -> HttpResponse:
    """The create form, filled in from a monitor: "Copy of …", its own new key."""
    source = _get_monitor(request, pk)
    require_role(request, source.team_id, Role.EDITOR)
    initial = {**monitor_initial(source), "name": f"Copy of {source.name}"[:200]}
    return _create_page(request, initial)


@login_required
def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _get_monitor(request, pk)
    require_role(request, monitor.team_id, Role.EDITOR)
    form = MonitorForm(request.POST or None, request=request, teams=[], instance=monitor)
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.validated.items() if k != "team"}
        parents = fields.pop("depends_on", None)
        try:
            with transaction.atomic():
                services.monitor_update(monitor=monitor, actor=request.user, **fields)
                monitor_set_dependencies(monitor=monitor, parents=parents or [], actor=request.user)
        except ValidationError as exc:  # checked again under the team lock: the checks/s quota
            add_service_errors(form, exc)
        else:
            messages.success(request, "Monitor saved.")
            return redirect("dashboard:monitor-detail", pk=monitor.pk)
    return render(request, "dashboard/monitor_form.html", {"form": form, "monitor": monitor})


@login_required
@require_POST
def monitor_test(request: HttpRequest) -> HttpResponse:
    """The form's "Test now": validate the draft as a save would, then queue one check of
    it (monitors/check_draft.py). 400 with the form's messages, or 202 with where the
    result appears."""
    monitor_id = request.POST.get("monitor")
    instance = _get_monitor(request, int(monitor_id)) if monitor_id else None
    teams = [] if instance is not None else teams_with_role(request, Role.EDITOR)
    if instance is not None:
        require_role(request, instance.team_id, Role.EDITOR)
    elif not teams:
        raise PermissionDenied("You need the editor role in a team to test monitors.")
    form = MonitorForm(request.POST, request=request, teams=teams, instance=instance)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    if instance is not None:
        team = instance.team
        fields = {name: getattr(instance, name) for name in check_draft.CHECK_FIELDS}
        fields.update(form.validated)
    else:
        team = next(t for t in teams if t.id == form.cleaned_data["team"])
        fields = dict(form.validated)
    try:
        draft = check_draft.draft_check_request(team=team, requested_by=request.user, fields=fields)
    except check_now.CheckNowLimitReached as exc:
        return JsonResponse({"errors": {"__all__": [str(exc)]}}, status=429)
    except check_now.NothingToCheck as exc:  # a heartbeat: the form does not offer it
        return JsonResponse({"errors": {"__all__": [str(exc)]}}, status=400)
    result = reverse("dashboard:monitor-test-result", args=[draft.id])
    return JsonResponse({"id": str(draft.id), "result": result}, status=202)


@login_required
def monitor_test_result(request: HttpRequest, pk: str) -> HttpResponse:
    """A draft check's state and, once done, its outcome (only for who asked for it)."""
    draft = get_object_or_404(DraftCheck, pk=pk, requested_by=request.user)
    state = check_draft.draft_check_state(draft)
    return JsonResponse({"state": state, "outcome": draft.outcome if state == "done" else None})


@login_required
@require_POST
def monitor_pause(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _get_monitor(request, pk)
    require_role(request, monitor.team_id, Role.EDITOR)
    services.monitor_pause(monitor=monitor, actor=request.user)
    messages.success(request, "Monitor paused: no checks until you resume it.")
    return redirect("dashboard:monitor-detail", pk=pk)


@login_required
@require_POST
def monitor_resume(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _get_monitor(request, pk)
    require_role(request, monitor.team_id, Role.EDITOR)
    try:
        services.monitor_resume(monitor=monitor, actor=request.user)
    except ValidationError as exc:  # the team's checks-per-second quota
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Monitor resumed: the next check runs within seconds.")
    return redirect("dashboard:monitor-detail", pk=pk)


@login_required
@require_POST
def monitor_check_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a check to the workers (as the API does); the live panel shows its result."""
    monitor = _get_monitor(request, pk)
    require_role(request, monitor.team_id, Role.EDITOR)
    try:
        check_now.check_now_request(monitor=monitor, requested_by=request.user)
    except check_now.CheckNowRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Check queued: its result appears under the latest checks.")
    return redirect("dashboard:monitor-detail", pk=pk)


@login_required
@require_POST
def monitor_delete(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _get_monitor(request, pk)
    require_role(request, monitor.team_id, Role.EDITOR)
    name = monitor.name
    services.monitor_delete(monitor=monitor, actor=request.user)
    messages.success(request, f"Monitor “{name}” deleted.")
    return redirect("dashboard:overview")


@login_required
@require_POST
def monitor_badge(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish (action=enable) or withdraw (action=disable) the monitor's SVG badges."""
    monitor = _get_monitor(request, pk)
    require_role(request, monitor.team_id, Role.EDITOR)
    if request.POST.get("action") == "disable":
        MonitorBadge.objects.filter(monitor=monitor).delete()
        messages.success(request, "Badges withdrawn; their old addresses now answer 404.")
    else:
        MonitorBadge.objects.get_or_create(monitor=monitor)
        messages.success(request, "Badges published; copy their addresses below.")
    return redirect("dashboard:monitor-detail", pk=pk)


BULK_ACTIONS = {"pause": "paused", "resume": "resumed"}


@login_required
@require_POST
def monitor_bulk(request: HttpRequest) -> HttpResponse:
    """Pause or resume the ticked monitors of the overview. All or nothing on access: an id
    of another team (or none at all) is 404, a monitor you may not change 403."""
    action = request.POST.get("action", "")
    if action not in BULK_ACTIONS:
        messages.error(request, "Choose pause or resume.")
        return redirect("dashboard:overview")
    try:
        ids = {int(value) for value in request.POST.getlist("ids")}
    except ValueError:
        raise Http404("No such monitor in your teams.") from None
    if not ids:
        messages.error(request, "Tick the monitors to change first.")
        return redirect("dashboard:overview")
    monitors = list(scoped(Monitor.objects.filter(id__in=ids), request).order_by("id"))
    if len(monitors) != len(ids):
        raise Http404("No such monitor in your teams.")
    for monitor in monitors:
        require_role(request, monitor.team_id, Role.EDITOR)
    changed, refused = 0, []
    for monitor in monitors:
        if action == "pause":
            if monitor.is_active:
                services.monitor_pause(monitor=monitor, actor=request.user)
                changed += 1
        elif not monitor.is_active:
            try:
                services.monitor_resume(monitor=monitor, actor=request.user)
            except ValidationError as exc:  # the team's checks-per-second quota
                refused.append(f"{monitor.name}: {' '.join(exc.messages)}")
            else:
                changed += 1
    messages.success(
        request, f"{changed} monitor{'s' if changed != 1 else ''} {BULK_ACTIONS[action]}."
    )
    for reason in refused:
        messages.error(request, f"Not resumed: {reason}")
    return _back_to_overview(request)


def _back_to_overview(request: HttpRequest) -> HttpResponse:
    """Back to the overview with the filters it was posted from."""
    query = QueryDict(request.POST.get("query", "")).urlencode()
    url = reverse("dashboard:overview")
    return redirect(f"{url}?{query}" if query else url)
