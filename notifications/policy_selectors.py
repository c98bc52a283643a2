"""Reads of the notification policies for people (dashboard pages)."""

from __future__ import annotations

from notifications.models import Channel, EscalationPolicy, MonitorEscalation


def channel_policy_summary(channel: Channel) -> str:
    """ "groups 30 s · reminds every 15 min, at most 3 times"."""
    parts = [
        f"groups {channel.group_window_seconds} s"
        if channel.group_window_seconds
        else "no grouping"
    ]
    if channel.reminder_interval_minutes:
        parts.append(
            f"reminds every {channel.reminder_interval_minutes} min, "
            f"at most {channel.reminder_max} times"
        )
    return " · ".join(parts)


def escalation_policies_of(team_ids: list[int]) -> list[EscalationPolicy]:
    return list(
        EscalationPolicy.objects.filter(team_id__in=team_ids)
        .select_related("team")
        .prefetch_related("stages__channels")
        .order_by("team__name", "name")
    )


def monitor_escalation(monitor_id: int, team_id: int) -> tuple[EscalationPolicy | None, bool]:
    """The policy an incident of this monitor would escalate by, and whether it is the
    team's default (the monitor names none of its own)."""
    link = MonitorEscalation.objects.select_related("policy").filter(monitor_id=monitor_id).first()
    if link is not None:
        return link.policy, False
    default = EscalationPolicy.objects.filter(team_id=team_id, is_default=True).first()
    return default, default is not None
