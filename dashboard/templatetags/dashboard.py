"""Template helpers of the dashboard and status pages: charts and human-friendly numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from dashboard import charts
from lib.uptime import uptime_text

register = template.Library()

register.simple_tag(charts.sparkline, name="sparkline")
register.simple_tag(charts.uptime_bars, name="uptime_bars")
register.simple_tag(charts.response_chart, name="response_chart")
register.simple_tag(charts.heartbeat_bars, name="heartbeat_bars")

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


@register.filter
def when(value: datetime | None, style: str = "datetime") -> SafeString | str:
    """A moment as ``<time>``: UTC in the page, the reader's local time once live.js has
    run (UTC then in the title, on hover). ``style`` "time" shows the time of day only."""
    if value is None:
        return NO_DATA
    utc = value.astimezone(UTC)
    shown = f"{utc:%H:%M:%S}" if style == "time" else f"{utc:%Y-%m-%d %H:%M:%S}"
    return format_html(
        '<time datetime="{}" title="{} UTC" data-local="{}">{} UTC</time>',
        utc.isoformat(),
        f"{utc:%Y-%m-%d %H:%M:%S}",
        style,
        shown,
    )
