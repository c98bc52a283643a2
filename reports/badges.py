"""SVG badges ("status: up", "uptime 30d: 99.95%") for READMEs, in the flat shields style.

Pure rendering: the views in ``dashboard.public_views`` look the monitor up by its badge token
and pass the words and colour in.
"""

from __future__ import annotations

from html import escape

from lib.uptime import uptime_text

COLOURS = {
    "up": "#2e7d32",
    "down": "#c62828",
    "degraded": "#ef6c00",
    "paused": "#6b7280",
    "unknown": "#6b7280",
}

# Average advance of Verdana 11px, in px per character; wide enough for capitals and digits.
_CHAR_WIDTH = 6.6
_PADDING = 10


def _text_width(text: str) -> int:
    return round(len(text) * _CHAR_WIDTH) + _PADDING


def render_badge(label: str, value: str, colour: str) -> str:
    """A two-part badge: a grey label and a coloured value."""
    label_width, value_width = _text_width(label), _text_width(value)
    width = label_width + value_width
    label_text, value_text = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label_text}: {value_text}">'
        f"<title>{label_text}: {value_text}</title>"
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        f'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{label_width}" height="20" fill="#555"/>'
        f'<rect x="{label_width}" width="{value_width}" height="20" fill="{escape(colour)}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        f'font-size="11">'
        f'<text x="{label_width / 2:.1f}" y="14">{label_text}</text>'
        f'<text x="{label_width + value_width / 2:.1f}" y="14">{value_text}</text></g></svg>'
    )


def status_badge(status: str) -> str:
    """``status`` is up, down, paused or unknown (the monitor's public state)."""
    return render_badge("status", status, COLOURS.get(status, COLOURS["unknown"]))


def uptime_badge(uptime_percent: float | None, window: str) -> str:
    if uptime_percent is None:
        return render_badge(f"uptime {window}", "no data", COLOURS["unknown"])
    if uptime_percent >= 99.9:
        colour = COLOURS["up"]
    elif uptime_percent >= 99.0:
        colour = COLOURS["degraded"]
    else:
        colour = COLOURS["down"]
    return render_badge(f"uptime {window}", uptime_text(uptime_percent), colour)
