"""Operations pages: the incidents timeline, notification channels, dead letters."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Role
from dashboard.access import can, get_scoped_or_404, require_role, scoped
from incidents import selectors as incident_selectors
from incidents import services as incident_services
from incidents.models import Incident
from notifications import deadletters
from notifications import services as notification_services
from notifications.models import Channel, DeadLetter
from notifications.throttles import ChannelTestThrottled, channel_test_throttle

PAGE_SIZE = 50


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Return to the page the form was posted from (same site only)."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


# --- Incidents ------------------------------------------------------------------------------


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    incidents = incident_selectors.with_opening_failures(
        scoped(Incident.objects.select_related("acknowledged_by", "monitor"), request)
    ).order_by("-started_at", "-id")
    show = request.GET.get("show", "all")
    if show == "open":
        incidents = incidents.filter(resolved_at__isnull=True)
    elif show == "unacknowledged":
        incidents = incidents.filter(resolved_at__isnull=True, acknowledged_at__isnull=True)
    page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"incident": incident, "can_ack": can(request, incident.team_id, Role.EDITOR)}
        for incident in page
    ]
    open_count = scoped(Incident.objects.filter(resolved_at__isnull=True), request).count()
    return render(
        request,
        "dashboard/incidents.html",
        {"rows": rows, "page": page, "show": show, "open_count": open_count},
    )


@login_required
@require_POST
def incident_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_scoped_or_404(Incident.objects, request, pk=pk)
    require_role(request, incident.team_id, Role.EDITOR)
    try:
        incident_services.incident_acknowledge(incident=incident, user=request.user)
    except incident_services.IncidentAlreadyResolved as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Incident of “{incident.monitor_name}” acknowledged.")
    return _back(request, "dashboard:incidents")


# --- Channels -------------------------------------------------------------------------------


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = scoped(
        Channel.objects.select_related("team").prefetch_related("monitors"), request
    ).order_by("team__name", "name")
    rows = [
        {"channel": channel, "can_test": can(request, channel.team_id, Role.ADMIN)}
        for channel in channels
    ]
    return render(request, "dashboard/channels.html", {"rows": rows})


@login_required
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test message now (admins, like the API) and show what happened."""
    channel = get_scoped_or_404(Channel.objects.select_related("team"), request, pk=pk)
    require_role(request, channel.team_id, Role.ADMIN)
    try:
        channel_test_throttle(user_id=request.user.pk, team_id=channel.team_id)
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


# --- Dead letters ---------------------------------------------------------------------------


@login_required
def dead_letter_list(request: HttpRequest) -> HttpResponse:
    letters = scoped(DeadLetter.objects.select_related("replayed_by"), request)
    show = request.GET.get("show", "pending")
    if show == "pending":
        letters = letters.filter(replayed_at__isnull=True)
    page = Paginator(letters.order_by("-last_failed_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    alerts = deadletters.lost_alerts(page)
    rows = [
        {
            "letter": letter,
            "alert": alerts.get(letter.id),
            "can_replay": can(request, letter.team_id, Role.ADMIN),
        }
        for letter in page
    ]
    return render(
        request, "dashboard/dead_letters.html", {"rows": rows, "page": page, "show": show}
    )


@login_required
@require_POST
def dead_letter_replay(request: HttpRequest, pk: int) -> HttpResponse:
    letter = get_scoped_or_404(DeadLetter.objects, request, pk=pk)
    require_role(request, letter.team_id, Role.ADMIN)
    try:
        deadletters.dead_letter_replay(dead_letter_id=letter.id, user=request.user)
    except deadletters.AlreadyReplayed as exc:
        messages.error(request, str(exc))
    except BrokerError:
        messages.error(request, "The task broker is unavailable; nothing was replayed.")
    else:
        messages.success(request, f"Dead letter #{letter.id} replayed: its task runs again.")
    return redirect("dashboard:dead-letters")
