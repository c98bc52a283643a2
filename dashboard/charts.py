"""Inline SVG charts: sparklines, uptime bars and the response-time chart.

Server-rendered SVG needs no front-end build and no chart library, scales to any width, and
carries its own text alternative (``role="img"`` plus a label) for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from django.utils.safestring import SafeString, mark_safe

from lib.uptime import uptime_text
from reports.recent_checks import Beat
from reports.stats import DayBar


def _points(
    values: Sequence[float | None], width: float, height: float, top: float
) -> list[list[tuple[float, float]]]:
    """Polyline segments (lists of x,y) for values; a None breaks the line."""
    present = [v for v in values if v is not None]
    if not present:
        return []
    low, high = 0.0, max(max(present), top)
    span = high - low or 1.0
    step = width / max(len(values) - 1, 1)
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        x = index * step
        y = height - 1 - (value - low) / span * (height - 2)
        current.append((x, y))
    if current:
        segments.append(current)
    return segments


def _polyline(points: list[tuple[float, float]], css_class: str) -> str:
    if len(points) == 1:
        x, y = points[0]
        return f'<circle class="{css_class}" cx="{x:.1f}" cy="{y:.1f}" r="1.5"/>'
    coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline class="{css_class}" points="{coordinates}"/>'


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 28) -> SafeString:
    """Hourly average response times, oldest first."""
    present = [v for v in values if v is not None]
    if not present:
        label = "No response times in the last 24 hours"
        y = height - 1
        body = f'<line class="spark-empty" x1="0" y1="{y}" x2="{width}" y2="{y}"/>'
    else:
        label = (
            f"Response time, hourly average over 24 hours: "
            f"{min(present):.0f} to {max(present):.0f} ms, latest {present[-1]:.0f} ms"
        )
        body = "".join(
            _polyline(segment, "spark-line") for segment in _points(values, width, height, 1.0)
        )
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def uptime_bars(bars: Sequence[DayBar], *, height: int = 32) -> SafeString:
    """One bar per day, coloured by uptime; each bar has its own tooltip."""
    gap, bar_width = 2, 6
    width = len(bars) * (bar_width + gap) - gap
    with_data = [bar for bar in bars if bar.checks]
    checks = sum(bar.checks for bar in with_data)
    overall = 100.0 * sum(bar.up for bar in with_data) / checks if checks else None
    label = (
        f"Uptime per day over {len(bars)} days: "
        + (f"{uptime_text(overall)} overall" if overall is not None else "no checks yet")
        + (f", {sum(1 for b in with_data if b.level != 'good')} days below 99.9%" if checks else "")
    )
    rects = []
    for index, bar in enumerate(bars):
        # From the counts: DayBar.uptime_percent is rounded, and 99.9996 must not read 100%.
        tip = f"{bar.day:%Y-%m-%d}: " + (
            f"{uptime_text(100.0 * bar.up / bar.checks)} of {bar.checks} checks"
            if bar.checks
            else "no checks"
        )
        rects.append(
            f'<rect class="bar bar-{bar.level}" x="{index * (bar_width + gap)}" y="0" '
            f'width="{bar_width}" height="{height}" rx="1"><title>{escape(tip)}</title></rect>'
        )
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<svg class="uptime-bars" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(label)}">{"".join(rects)}</svg>'
    )


def response_chart(
    points: Sequence[tuple[datetime, float | None, bool]],
    *,
    width: int = 720,
    height: int = 180,
) -> SafeString:
    """Response times over time: ``(time, ms or None, ok)``; failed checks are red ticks."""
    if not points:
        return mark_safe('<p class="muted">No checks in the last 24 hours yet.</p>')
    pad_left, pad_bottom = 48, 20
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - 6
    values = [ms for _, ms, ok in points if ok and ms is not None]
    top = max(values) if values else 1.0
    top = _nice_ceiling(top)
    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds() or 1.0

    def x_of(moment: datetime) -> float:
        return pad_left + (moment - first).total_seconds() / span * plot_w

    def y_of(ms: float) -> float:
        return 6 + plot_h - min(ms, top) / top * plot_h

    segments, current = [], []
    failures = []
    for moment, ms, ok in points:
        if ok and ms is not None:
            current.append((x_of(moment), y_of(ms)))
        else:
            failures.append(x_of(moment))
            if current:
                segments.append(current)
            current = []
    if current:
        segments.append(current)
    grid = "".join(
        f'<line class="grid" x1="{pad_left}" x2="{width - 4}" y1="{y_of(v):.1f}" '
        f'y2="{y_of(v):.1f}"/><text class="axis" x="{pad_left - 6}" y="{y_of(v) + 4:.1f}" '
        f'text-anchor="end">{v:.0f} ms</text>'
        for v in (0, top / 2, top)
    )
    ticks = "".join(
        f'<line class="fail-tick" x1="{x:.1f}" x2="{x:.1f}" y1="{6 + plot_h - 10}" '
        f'y2="{6 + plot_h}"/>'
        for x in failures
    )
    lines = "".join(_polyline(segment, "chart-line") for segment in segments)
    times = (
        f'<text class="axis" x="{pad_left}" y="{height - 4}">{first:%H:%M}</text>'
        f'<text class="axis" x="{width - 4}" y="{height - 4}" text-anchor="end">'
        f"{last:%H:%M} UTC</text>"
    )
    summary = (
        f"Response time of {len(points)} checks from {first:%H:%M} to {last:%H:%M} UTC"
        + (f": {min(values):.0f} to {max(values):.0f} ms" if values else "")
        + (f"; {len(failures)} failed checks" if failures else "")
    )
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<svg class="response-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(summary)}"><title>{escape(summary)}</title>'
        f"{grid}{ticks}{lines}{times}</svg>"
    )


def _nice_ceiling(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 times a power of ten."""
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _beat_text(beat: Beat) -> str:
    parts = [beat.status.upper()]
    if beat.status_code:
        parts.append(f"HTTP {beat.status_code}")
    if beat.response_time_ms is not None:
        parts.append(f"{beat.response_time_ms:,} ms")
    if beat.status != "up" and beat.reason:
        parts.append(beat.reason[:120])
    return " · ".join(parts)


def heartbeat_bars(beats: Sequence[Beat], *, count: int) -> SafeString:
    """The last ``count`` checks as coloured bars, oldest first, padded on the left.

    Hover or focus shows a bar's time (local, by live.js; UTC without it), result, code and
    reason. The list is one tab stop; arrow keys move between its bars (live.js)."""
    failed = sum(1 for beat in beats if beat.status != "up")
    label = (
        f"Last {len(beats)} checks: {len(beats) - failed} up, {failed} failed"
        if beats
        else "No checks yet"
    )
    items = ['<li class="beat beat-none" aria-hidden="true"></li>'] * (count - len(beats))
    last = len(beats) - 1
    for index, beat in enumerate(beats):
        state = "up" if beat.status == "up" else "down"
        utc = f"{beat.checked_at:%Y-%m-%d %H:%M:%S} UTC"
        text = _beat_text(beat)
        items.append(
            f'<li class="beat beat-{state}" tabindex="{0 if index == last else -1}" '
            f'data-at="{beat.checked_at.isoformat()}" data-rest="{escape(text)}" '
            f'data-tip="{escape(utc)} · {escape(text)}">'
            f'<span class="visually-hidden">{escape(utc)}: {escape(text)}</span></li>'
        )
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<ol class="beats" aria-label="{escape(label)}" data-beats>{"".join(items)}</ol>'
    )
