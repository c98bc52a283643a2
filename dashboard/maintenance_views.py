"""Maintenance pages: the windows of your teams, a form for one-off and recurring windows,
"end now", and the monitor page's one-click "Maintenance 30 min"."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import acting_user
from accounts.models import Role, Team
from dashboard.access import can, get_scoped_or_404, require_role, scoped, teams_with_role
from incidents import maintenance
from incidents.models import MaintenanceWindow
from lib.forms import add_service_errors
from monitors.models import Monitor

ONE_CLICK_MINUTES = 30


class MaintenanceWindowForm(forms.Form):
    team = forms.TypedChoiceField(coerce=int)
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(
        choices=[("one-off", "One-off"), ("recurring", "Recurring")],
        initial="one-off",
        widget=forms.RadioSelect,
    )
    starts_at = forms.DateTimeField(
        required=False, label="Starts (UTC)", help_text="One-off: YYYY-MM-DD HH:MM"
    )
    ends_at = forms.DateTimeField(required=False, label="Ends (UTC)", help_text="One-off")
    recurrence = forms.CharField(
        required=False,
        max_length=500,
        help_text='Recurring: cron ("0 2 * * 0") or RRULE ("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2")',
    )
    duration_minutes = forms.IntegerField(required=False, min_value=1, help_text="Recurring")
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="IANA, e.g. Europe/Paris")
    whole_team = forms.BooleanField(required=False, label="Every monitor of the team")
    monitors = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    tags = forms.CharField(required=False, help_text="Tag names, comma-separated")

    def __init__(self, *args, teams: list[Team], monitors: list[Monitor], **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(team.id, team.name) for team in teams]  # type: ignore[attr-defined]
        self.fields["monitors"].choices = [(m.id, m.name) for m in monitors]  # type: ignore[attr-defined]
        self._monitors = {m.id: m for m in monitors}

    def service_fields(self, team: Team) -> dict:
        data = self.cleaned_data
        recurring = data["kind"] == "recurring"
        monitors = [self._monitors[i] for i in data["monitors"] if i in self._monitors]
        names = [name.strip() for name in data["tags"].split(",") if name.strip()]
        return {
            "name": data["name"],
            "starts_at": None if recurring else data["starts_at"],
            "ends_at": None if recurring else data["ends_at"],
            "recurrence": data["recurrence"] if recurring else "",
            "duration_minutes": data["duration_minutes"] if recurring else None,
            "timezone_name": data["timezone"],
            "whole_team": data["whole_team"],
            "monitors": monitors,
            "tags": maintenance.tags_named(team=team, names=names),
        }


@login_required
def maintenance_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    windows = scoped(
        MaintenanceWindow.objects.select_related("team").prefetch_related("monitors", "tags"),
        request,
    )
    rows = [
        {
            "window": window,
            "active": maintenance.active_interval(window, now),
            "next_start": maintenance.next_start(window, after=now),
            "can_edit": can(request, window.team_id, Role.EDITOR),
        }
        for window in windows
    ]
    return render(
        request,
        "dashboard/maintenance.html",
        {"rows": rows, "can_create": bool(teams_with_role(request, Role.EDITOR))},
    )


@login_required
def maintenance_create(request: HttpRequest) -> HttpResponse:
    teams = teams_with_role(request, Role.EDITOR)
    if not teams:
        raise PermissionDenied("You need the editor role in a team to plan maintenance.")
    monitors = list(scoped(Monitor.objects.filter(team__in=teams), request).order_by("name", "id"))
    form = MaintenanceWindowForm(request.POST or None, teams=teams, monitors=monitors)
    if request.method == "POST" and form.is_valid():
        team = next(t for t in teams if t.id == form.cleaned_data["team"])
        try:
            window = maintenance.maintenance_window_create(
                team=team, actor=acting_user(request), **form.service_fields(team)
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Maintenance window “{window.name}” created.")
            return redirect("dashboard:maintenance")
    return render(request, "dashboard/maintenance_form.html", {"form": form})


def _window(request: HttpRequest, pk: int) -> MaintenanceWindow:
    window = get_scoped_or_404(MaintenanceWindow.objects.all(), request, pk=pk)
    assert isinstance(window, MaintenanceWindow)
    return window


@login_required
@require_POST
def maintenance_end_now(request: HttpRequest, pk: int) -> HttpResponse:
    window = _window(request, pk)
    require_role(request, window.team_id, Role.EDITOR)
    try:
        maintenance.maintenance_window_end_now(window=window, actor=acting_user(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Maintenance “{window.name}” ended.")
    return redirect("dashboard:maintenance")


@login_required
@require_POST
def maintenance_delete(request: HttpRequest, pk: int) -> HttpResponse:
    window = _window(request, pk)
    require_role(request, window.team_id, Role.EDITOR)
    maintenance.maintenance_window_delete(window=window, actor=acting_user(request))
    messages.success(request, f"Maintenance window “{window.name}” deleted.")
    return redirect("dashboard:maintenance")


@login_required
@require_POST
def monitor_maintenance(request: HttpRequest, pk: int) -> HttpResponse:
    """The monitor page's one click: maintenance of this monitor from now for 30 minutes."""
    monitor = get_scoped_or_404(Monitor.objects.select_related("team"), request, pk=pk)
    assert isinstance(monitor, Monitor)
    require_role(request, monitor.team_id, Role.EDITOR)
    window = maintenance.maintenance_start_now(
        team=monitor.team, minutes=ONE_CLICK_MINUTES, monitors=[monitor], actor=acting_user(request)
    )
    messages.success(
        request,
        f"Maintenance until {window.ends_at:%H:%M} UTC: checks go on, no alerts are sent.",
    )
    return redirect("dashboard:monitor-detail", pk=pk)
