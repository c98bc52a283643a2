"""Template tags showing the notification policies (grouping, reminders, escalation) on the
channels page and a monitor's page, so those pages' views need no change."""

from __future__ import annotations

from django import template

from accounts.access import team_roles
from monitors.models import Monitor
from notifications import policy_selectors
from notifications.models import Channel

register = template.Library()


@register.simple_tag
def channel_policies(channel: Channel) -> str:
    return policy_selectors.channel_policy_summary(channel)


@register.inclusion_tag("dashboard/_escalation_policies.html", takes_context=True)
def escalation_policies(context: template.Context) -> dict:
    """The escalation policies of the user's teams."""
    team_ids = list(team_roles(context["request"]))
    return {"policies": policy_selectors.escalation_policies_of(team_ids)}


@register.inclusion_tag("dashboard/_monitor_escalation.html")
def monitor_escalation(monitor: Monitor) -> dict:
    policy, is_default = policy_selectors.monitor_escalation(monitor.id, monitor.team_id)
    return {"policy": policy, "is_default": is_default}
