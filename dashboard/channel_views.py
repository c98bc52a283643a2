"""Channel pages: list, create, edit, delete, send a test, make default (and attach to the
team's existing monitors). Members read; owners and admins change, as in the API.

A generated or regenerated webhook signing secret is in the answer to the POST that made it
and nowhere else (rendered there, not kept in the session for a redirect; not cached).
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import Role, Team, User
from dashboard.access import can, get_scoped_or_404, require_role, scoped, teams_with_role
from dashboard.channel_forms import ChannelForm
from lib.forms import add_service_errors
from monitors.models import Monitor
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import Channel, ChannelKind
from notifications.throttles import ChannelTestThrottled, channel_test_throttle


def _me(request: HttpRequest) -> User:
    assert isinstance(request.user, User), "behind login_required"
    return request.user


def _admin_teams(request: HttpRequest) -> list[Team]:
    teams = teams_with_role(request, Role.ADMIN)
    if not teams:
        raise PermissionDenied("Only team owners and admins manage channels.")
    return teams


def _monitors_of(teams: list[Team]) -> list[Monitor]:
    return list(
        Monitor.objects.filter(team__in=teams).select_related("team").order_by("name", "id")
    )


def _get_channel(request: HttpRequest, pk: int) -> Channel:
    channel = get_scoped_or_404(Channel.objects.select_related("team"), request, pk=pk)
    return cast(Channel, channel)


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = scoped(
        Channel.objects.select_related("team").prefetch_related("monitors"), request
    ).order_by("team__name", "name")
    rows = []
    for channel in channels:
        # A default channel reaches new monitors only: say how many existing ones it misses.
        missing = (
            notification_selectors.monitors_missing_channel(channel).count()
            if channel.is_default
            else 0
        )
        rows.append(
            {
                "channel": channel,
                "can_admin": can(request, channel.team_id, Role.ADMIN),
                "missing": missing,
            }
        )
    return render(
        request,
        "dashboard/channels.html",
        {"rows": rows, "can_create": bool(teams_with_role(request, Role.ADMIN))},
    )


def _after_save(
    request: HttpRequest, channel: Channel, *, secret: str | None, default_now: bool
) -> HttpResponse:
    """Where a saved channel leads: the new signing secret (once), then the offer to attach
    a channel just made default to the team's existing monitors, else the list."""
    missing = list(notification_selectors.monitors_missing_channel(channel)) if default_now else []
    next_url = (
        reverse("dashboard:channel-default", args=[channel.pk])
        if missing
        else reverse("dashboard:channels")
    )
    if secret:
        return render(
            request,
            "dashboard/channel_secret.html",
            {"channel": channel, "secret": secret, "next_url": next_url, "missing": missing},
        )
    return redirect(next_url)


def _form_page(request: HttpRequest, form: ChannelForm, channel: Channel | None) -> HttpResponse:
    """The form; a refused POST answers 400 with each message on its field."""
    return render(
        request,
        "dashboard/channel_form.html",
        {"form": form, "channel": channel},
        status=400 if request.method == "POST" else 200,
    )


@never_cache
@login_required
def channel_create(request: HttpRequest) -> HttpResponse:
    teams = _admin_teams(request)
    form = ChannelForm(
        request.POST or None, request=request, teams=teams, monitors=_monitors_of(teams)
    )
    if request.method == "POST" and form.is_valid():
        team = next(t for t in teams if t.id == form.validated["team"].id)
        given_secret = (form.validated.get("secrets") or {}).get("signing_secret")
        try:
            channel = notification_services.channel_create(
                team=team,
                kind=form.validated["kind"],
                actor=_me(request),
                **form.service_fields(),
            )
        except ValidationError as exc:  # the channel quota, checked again under the team lock
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Channel “{channel.name}” created.")
            generated = channel.kind == ChannelKind.WEBHOOK and not given_secret
            return _after_save(
                request,
                channel,
                secret=channel.secrets["signing_secret"] if generated else None,
                default_now=channel.is_default,
            )
    return _form_page(request, form, None)


@never_cache
@login_required
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _get_channel(request, pk)
    require_role(request, channel.team_id, Role.ADMIN)
    was_default = channel.is_default
    form = ChannelForm(
        request.POST or None,
        request=request,
        teams=[],
        monitors=_monitors_of([channel.team]),
        instance=channel,
    )
    if request.method == "POST" and form.is_valid():
        regenerate = (
            channel.kind == ChannelKind.WEBHOOK
            and form.cleaned_data.get("regenerate_secret")
            and not form.cleaned_data.get("signing_secret")
        )
        try:
            notification_services.channel_update(
                channel=channel, actor=_me(request), **form.service_fields()
            )
        except ValidationError as exc:  # a key taken in the team
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Channel “{channel.name}” saved.")
            return _after_save(
                request,
                channel,
                secret=channel.secrets["signing_secret"] if regenerate else None,
                default_now=channel.is_default and not was_default,
            )
    return _form_page(request, form, channel)


@login_required
def channel_default(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a channel default; confirm whether to attach it to the existing monitors too."""
    channel = _get_channel(request, pk)
    require_role(request, channel.team_id, Role.ADMIN)
    if request.method == "POST":
        attached = notification_services.channel_make_default(
            channel=channel, attach_existing=request.POST.get("attach") == "yes", actor=_me(request)
        )
        if attached:
            messages.success(
                request,
                f"“{channel.name}” is a default channel and now alerts for {attached} more "
                f"monitor{'s' if attached != 1 else ''}.",
            )
        else:
            messages.success(
                request, f"“{channel.name}” is a default channel: new monitors get it."
            )
        return redirect("dashboard:channels")
    missing = list(notification_selectors.monitors_missing_channel(channel))
    return render(
        request, "dashboard/channel_default.html", {"channel": channel, "missing": missing}
    )


@login_required
@require_POST
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _get_channel(request, pk)
    require_role(request, channel.team_id, Role.ADMIN)
    name = channel.name
    notification_services.channel_delete(channel=channel, actor=_me(request))
    messages.success(request, f"Channel “{name}” deleted.")
    return redirect("dashboard:channels")


@login_required
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test message now (admins, like the API) and show what happened."""
    channel = _get_channel(request, pk)
    require_role(request, channel.team_id, Role.ADMIN)
    try:
        channel_test_throttle(user_id=_me(request).pk, team_id=channel.team_id)
        outcome = notification_services.channel_send_test(channel=channel)
    except ChannelTestThrottled as exc:
        messages.error(request, f"{exc} Try again in {exc.wait or 0:.0f} s.")
        return redirect("dashboard:channels")
    except ValidationError as exc:  # a recipient who left the team
        messages.error(
            request, f"Test message to “{channel.name}” not sent: {' '.join(exc.messages)}"
        )
        return redirect("dashboard:channels")
    if outcome.delivered:
        code = f" (HTTP {outcome.response_code})" if outcome.response_code else ""
        messages.success(
            request, f"Test message sent to “{channel.name}”{code} in {outcome.duration_ms} ms."
        )
    else:
        messages.error(request, f"Test message to “{channel.name}” failed: {outcome.error}")
    return redirect("dashboard:channels")
