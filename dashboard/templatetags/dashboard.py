"""Template helpers of the dashboard and status pages: charts and human-friendly numbers."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from dashboard import charts
from lib.uptime import uptime_text

register = template.Library()

register.simple_tag(charts.sparkline, name="sparkline")
register.simple_tag(charts.uptime_bars, name="uptime_bars")
register.simple_tag(charts.response_chart, name="response_chart")

NO_DATA = "—"


register.filter("percent", uptime_text)


@register.filter
def ms(value: float | None) -> str:
    if value is None:
        return NO_DATA
    return f"{value:,.0f} ms" if value < 10000 else f"{value / 1000:.1f} s"


@register.filter
def duration(value: float | timedelta | None) -> str:
    """Seconds (or a timedelta) as "2h 05m", "4m 10s", "12s"."""
    if value is None:
        return NO_DATA
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def age(value: datetime | None) -> str:
    """How long ago ``value`` was, like ``duration``: "4m 10s" rather than "0 minutes"."""
    if value is None:
        return NO_DATA
    return duration(max(timezone.now() - value, timedelta(0)))
