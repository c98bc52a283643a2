"""What an alert says: the documented webhook payload, and the text every other channel
renders from it. Built once, when the event happens, and stored on the ``Delivery`` so that
every retry and replay sends the same message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string

from incidents.dependencies import dependents_count
from incidents.models import Incident, IncidentUpdate

PAYLOAD_VERSION = 1

HEADLINE = {
    "opened": "DOWN",
    "resolved": "RESOLVED",
    "acknowledged": "ACKNOWLEDGED",
    "update": "UPDATE",
    "flapping": "FLAPPING",
    "stable": "STABLE AGAIN",
    "reminder": "STILL DOWN",
    "escalated": "ESCALATED",
    "test": "TEST",
}

# Events whose message says "X is down" (the incident's "opened", repeated by a policy).
DOWN_EVENTS = ("opened", "reminder", "escalated")
# A grouped message lists this many incidents by name; the rest as "and N more".
GROUP_LIST_MAX = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _reason(incident: Incident, event: str, *, dependents: int) -> str:
    if event == "opened":
        reason = incident.cause or incident.last_reason
        if dependents:
            reason += f" (covers {_dependent_monitors(dependents)})"
        return reason
    if event == "flapping":
        return "The monitor keeps changing state; no more alerts until it is stable."
    if event == "stable":
        state = "DOWN" if incident.is_open else "UP"
        return f"The monitor has stopped flapping; it is {state}."
    if event == "resolved":
        return incident.resolution or "The monitor recovered."
    who = incident.acknowledged_by.email if incident.acknowledged_by else "someone"
    return f"Acknowledged by {who}."


def incident_links(incident_id: int, monitor_id: int | None) -> dict[str, str | None]:
    """API addresses for programs, and ``dashboard``: the page a person should open."""
    site = settings.SITE_URL
    return {
        "dashboard": f"{site}/monitors/{monitor_id}/" if monitor_id else f"{site}/incidents/",
        "incident": f"{site}/api/v1/incidents/{incident_id}/",
        "deliveries": f"{site}/api/v1/incidents/{incident_id}/deliveries/",
        "monitor": f"{site}/api/v1/monitors/{monitor_id}/" if monitor_id else None,
    }


def _dependent_monitors(count: int) -> str:
    return f"{count} dependent monitor{'' if count == 1 else 's'}"


# The events of an incident in the order they can happen; breaks ties of equal timestamps.
EVENT_ORDER = ("opened", "flapping", "acknowledged", "stable", "resolved")


def event_sequence(incident: Incident, event: str, *, occurred_at: datetime) -> int:
    """1 for the first event of the incident, 2 for the next, ...: the events that happened
    before this one, by their timestamps on the incident. Derived from the incident, not
    from the order in which notify tasks run, so a late fan-out still gets its place."""
    moments = {
        "opened": incident.opened_at,
        "acknowledged": incident.acknowledged_at,
        "resolved": incident.resolved_at,
        "flapping": incident.flapping_started_at,
        "stable": incident.flapping_ended_at,
        event: occurred_at,
    }
    position = (occurred_at, EVENT_ORDER.index(event))
    return 1 + sum(
        1
        for other, moment in moments.items()
        if other != event and moment is not None and (moment, EVENT_ORDER.index(other)) < position
    )


def incident_payload(incident: Incident, event: str, *, occurred_at: datetime) -> dict:
    """The webhook body (README: "Webhook payload"); other transports render from it."""
    monitor = incident.monitor
    duration = incident.duration
    dependents = dependents_count(monitor.id) if monitor and event == "opened" else 0
    return {
        "version": PAYLOAD_VERSION,
        "event": f"incident.{event}",
        "sequence": event_sequence(incident, event, occurred_at=occurred_at),
        "occurred_at": _iso(occurred_at),
        "team": {"id": incident.team_id, "name": incident.team.name},
        "monitor": {
            "id": monitor.id,
            "name": monitor.name,
            "kind": monitor.kind,
            "target": monitor.target,  # what is checked, for any kind ("tcp db:5432")
            "url": monitor.url,
            "method": monitor.method,
        }
        if monitor
        else None,
        "incident": {
            "id": incident.id,
            "monitor_name": incident.monitor_name,
            "started_at": _iso(incident.started_at),
            "opened_at": _iso(incident.opened_at),
            "resolved_at": _iso(incident.resolved_at),
            "acknowledged_at": _iso(incident.acknowledged_at),
            "acknowledged_by": incident.acknowledged_by.email if incident.acknowledged_by else None,
            "duration_seconds": round(duration.total_seconds()) if duration else None,
            "cause": incident.cause,
            "last_reason": incident.last_reason,
            "failure_count": incident.failure_count,
            "resolution": incident.resolution,
            # Held while a parent was down (or the monitor flapped), then released:
            "suppressed_reason": incident.suppressed_reason,
            "suppressed": incident.is_suppressed,
            "released_at": _iso(incident.released_at),
        },
        # "opened": how many monitors depending on this one have their alerts held.
        "covers_dependents": dependents,
        "state": "down" if incident.is_open else "up",
        "reason": _reason(incident, event, dependents=dependents),
        "links": incident_links(incident.id, monitor.id if monitor else None),
    }


def incident_update_payload(update: IncidentUpdate) -> dict:
    """The webhook body of an incident update: the incident as in ``incident_payload``, with
    ``event`` "incident.update" and the update itself. Its ``sequence`` places it after the
    incident events that happened before it was posted."""
    incident = update.incident
    before = event_sequence(incident, "resolved", occurred_at=update.created_at)
    if incident.resolved_at is not None and incident.resolved_at <= update.created_at:
        before += 1  # event_sequence does not count the event it is asked about
    payload = incident_payload(incident, "opened", occurred_at=update.created_at)
    payload.update(
        event="incident.update",
        sequence=before,
        reason=f"{update.get_status_display()}: {update.message}",
        update={
            "id": update.id,
            "status": update.status,
            "message": update.message,
            "author": update.author.email if update.author else None,
            "created_at": _iso(update.created_at),
        },
    )
    return payload


# Delivery purpose -> the payload's event and the key of its detail object.
FOLLOW_UP_EVENTS = {
    "reminder": ("incident.reminder", "reminder"),
    "escalation": ("incident.escalated", "escalation"),
}


def follow_up_payload(
    incident: Incident, *, purpose: str, occurred_at: datetime, detail: dict
) -> dict:
    """A reminder or an escalation: the "opened" payload of a still open incident, named
    ``incident.reminder`` / ``incident.escalated``, with ``reminder`` ({number, max}) or
    ``escalation`` ({policy, stage, after_minutes})."""
    event, key = FOLLOW_UP_EVENTS[purpose]
    payload = incident_payload(incident, "opened", occurred_at=occurred_at)
    return {**payload, "event": event, "occurred_at": _iso(occurred_at), key: detail}


def group_summary(payloads: list[dict]) -> str:
    """ "3 monitors down, 1 resolved" (pure)."""
    counts: dict[str, int] = {}
    for payload in payloads:
        event = event_of(payload)
        kind = "down" if event in DOWN_EVENTS else event
        counts[kind] = counts.get(kind, 0) + 1
    parts: list[str] = []
    for kind in ("down", "resolved", "acknowledged"):
        if counts.get(kind):
            noun = "monitor" if counts[kind] == 1 else "monitors"
            parts.append(f"{counts[kind]} {noun} {kind}" if not parts else f"{counts[kind]} {kind}")
    return ", ".join(parts)


def grouped_payload(payloads: list[dict]) -> dict:
    """One message for several incident events of one channel (README: "Grouping"): each
    member's own payload in ``grouped``, oldest first, and a ``summary``."""
    summary = group_summary(payloads)
    return {
        "version": PAYLOAD_VERSION,
        "event": "incident.grouped",
        "occurred_at": max(p["occurred_at"] for p in payloads),
        "team": payloads[0]["team"],
        "monitor": None,
        "incident": None,
        "summary": summary,
        "count": len(payloads),
        "grouped": payloads,
        "reason": summary,
        "links": {"dashboard": f"{settings.SITE_URL}/incidents/"},
    }


def channel_test_payload(
    *, channel_name: str, team_id: int, team_name: str, occurred_at: datetime
) -> dict:
    return {
        "version": PAYLOAD_VERSION,
        "event": "test",
        "occurred_at": _iso(occurred_at),
        "team": {"id": team_id, "name": team_name},
        "monitor": None,
        "incident": None,
        "reason": f"A test message from healthmon for the channel {channel_name!r}.",
        "links": {"dashboard": f"{settings.SITE_URL}/"},
    }


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


def event_of(payload: dict) -> str:
    """ "incident.opened" -> "opened"; "test" stays "test"."""
    return payload["event"].removeprefix("incident.")


def render(payload: dict) -> RenderedMessage:
    """Subject, plain text and HTML for people (email, chat, paging)."""
    event = event_of(payload)
    name = (payload.get("incident") or {}).get("monitor_name") or "healthmon"
    subject = f"[healthmon] {HEADLINE.get(event, event.upper())}: {name}"
    if event == "test":
        subject = "[healthmon] Test notification"
    if event == "grouped":
        subject = f"[healthmon] {payload['summary']}"
    subject = " ".join(subject.split())  # a header: no line breaks, whatever the name holds
    context = {"payload": payload, "event": event, "subject": subject, "name": name}
    if event == "grouped":
        context.update(grouped_lines(payload["grouped"]))
    return RenderedMessage(
        subject=subject,
        text=render_to_string("notifications/message.txt", context).strip() + "\n",
        html=render_to_string("notifications/message.html", context),
    )


def grouped_lines(payloads: list[dict]) -> dict:
    """The list a person reads in a grouped message: one line per incident, the first
    GROUP_LIST_MAX of them, and how many more."""
    lines = []
    for payload in payloads[:GROUP_LIST_MAX]:
        event = event_of(payload)
        incident = payload.get("incident") or {}
        lines.append(
            {
                "headline": HEADLINE.get(event, event.upper()),
                "name": incident.get("monitor_name", ""),
                "reason": payload.get("reason", ""),
                "link": (payload.get("links") or {}).get("dashboard", ""),
            }
        )
    return {"lines": lines, "more": max(0, len(payloads) - GROUP_LIST_MAX)}
