"""What ``manage.py healthmon_status`` shows: the whole system on one screen.

``collect_status`` reads (a handful of indexed queries, one broker connection, the heartbeat
store); ``render_status`` is a pure function of that snapshot, so its wording is tested
without a database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from healthmon import probes

DOWN_LISTED = 10


def collect_status(now: datetime | None = None) -> dict[str, Any]:
    from incidents.models import Incident
    from monitors.models import Monitor
    from notifications.selectors import dead_letter_backlog

    now = now or timezone.now()
    components = {
        "database": probes.check_database(),
        "broker": probes.check_broker(),
        "beat": probes.check_beat(now.timestamp()),
        "workers": probes.check_workers(now.timestamp(), names=True),
        "queues": probes.check_queues(),
        "notifications": probes.check_notifications(now, names=True),
    }
    snapshot: dict[str, Any] = {
        "at": now.isoformat(),
        "healthy": all(status.ok for status in components.values()),
        "components": {name: status.as_dict() for name, status in components.items()},
    }
    if not components["database"].ok:
        return snapshot

    counts = {"up": 0, "down": 0, "unknown": 0, "paused": 0}
    rows = Monitor.objects.values("is_active", "status").annotate(n=Count("id")).order_by()
    for row in rows:
        state = row["status"] if row["is_active"] else "paused"
        counts[state] = counts.get(state, 0) + row["n"]
    snapshot["monitors"] = counts

    open_incidents = Incident.objects.filter(resolved_at=None).order_by("started_at", "id")
    snapshot["open_incidents"] = [
        {
            "id": incident.id,
            "monitor": incident.monitor_name,
            "since": incident.started_at.isoformat(),
            "minutes": int((now - incident.started_at).total_seconds() // 60),
            "reason": incident.last_reason or incident.cause,
            "acknowledged": incident.acknowledged_at is not None,
        }
        for incident in open_incidents[:DOWN_LISTED]
    ]
    snapshot["open_incident_count"] = open_incidents.count()
    snapshot["dead_letters"] = dead_letter_backlog()
    return snapshot


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.1f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _alerts_lines(part: dict[str, Any]) -> list[str]:
    """Failing channels, each with its redacted last error, and the oldest alert still owed."""
    if "failing_channels" not in part:
        return [f"  {'Alerts':<13}unknown: {part.get('reason', '')}"]
    oldest = part["oldest_undelivered_age_seconds"]
    owed = "none undelivered" if oldest is None else f"oldest undelivered since {_age(oldest)}"
    failing = part.get("failing", [])
    head = f"{len(failing)} channel(s) failing" if failing else "no channel failing"
    lines = [f"  {'Alerts':<13}{head}; {owed}" + ("  DEGRADED" if part["status"] != "up" else "")]
    for channel in failing:
        lines.append(
            f"    channel #{channel['id']} {channel['name']} ({channel['kind']}): "
            f"{channel['failed_in_a_row']} failed in a row, {channel['dead_letters']} dead "
            f"letter(s) this hour; last error: {channel['last_error'] or 'none recorded'}"
        )
    return lines


def render_status(snapshot: dict[str, Any]) -> str:
    """The terminal summary; every line starts with a fixed-width label."""
    components = snapshot["components"]
    states = {part["status"] for part in components.values()}
    overall = "DOWN" if "down" in states else "DEGRADED" if "degraded" in states else "HEALTHY"
    lines = [f"healthmon status at {snapshot['at'][:19].replace('T', ' ')} UTC: {overall}"]

    def line(label: str, text: str) -> None:
        lines.append(f"  {label:<13}{text}")

    def component(name: str) -> str:
        found = components[name]
        if found["status"] == "up":
            latency = found.get("latency_ms")
            return "up" + (f" ({latency:.1f} ms)" if latency is not None else "")
        return f"DOWN: {found.get('reason', '')}"

    line("Database", component("database"))
    line("Broker", component("broker"))

    beat = components["beat"]
    age = _age(beat.get("last_tick_age_seconds"))
    line("Beat", f"last tick {age}" + ("" if beat["status"] == "up" else "  DOWN"))

    workers = components["workers"]
    if "queues" in workers:
        per_queue = ", ".join(f"{q} {n}" for q, n in workers["queues"].items())
        names = ", ".join(workers.get("workers", [])) or "none"
        flag = "" if workers["status"] == "up" else "  DOWN"
        line("Workers", f"{per_queue}  ({names}){flag}")
    else:
        line("Workers", f"DOWN: {workers.get('reason', '')}")

    queues = components["queues"]
    if queues["status"] == "up":
        line("Queues", ", ".join(f"{q} {n}" for q, n in queues["depths"].items()) + " waiting")
    else:
        line("Queues", f"unknown: {queues.get('reason', '')}")

    if "notifications" in components:
        lines.extend(_alerts_lines(components["notifications"]))

    if "monitors" in snapshot:
        m = snapshot["monitors"]
        active = m["up"] + m["down"] + m["unknown"]
        line(
            "Monitors",
            f"{active} active: {m['up']} up, {m['down']} down, {m['unknown']} unknown; "
            f"{m['paused']} paused",
        )
        count = snapshot["open_incident_count"]
        line("Incidents", f"{count} open")
        for incident in snapshot["open_incidents"]:
            ack = ", acknowledged" if incident["acknowledged"] else ""
            lines.append(
                f"    #{incident['id']} {incident['monitor']}: down {incident['minutes']}m"
                f"{ack} ({incident['reason']})"
            )
        if count > len(snapshot["open_incidents"]):
            lines.append(f"    ... and {count - len(snapshot['open_incidents'])} more")
        backlog = snapshot["dead_letters"]
        total = sum(backlog.values())
        detail = ", ".join(f"{task} {n}" for task, n in sorted(backlog.items()))
        line("Dead letters", f"{total} waiting for replay" + (f" ({detail})" if detail else ""))
    return "\n".join(lines) + "\n"
