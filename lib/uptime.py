"""How an uptime percentage is written, on every page, badge, tooltip, admin column and CSV.

Two decimals, rounded down: 99.996% must not read as 100%, and 45.4545% is 45.45% everywhere
(pages once showed 45.454, 45.455 and 45.45 for the same data). Numbers for machines (the API's
JSON fields) keep their precision; text for people goes through here.
"""

from __future__ import annotations

import math

UPTIME_DECIMALS = 2
NO_DATA = "—"


def uptime_figure(percent: float) -> str:
    """``45.45`` (no sign): for CSV cells and other places that add their own unit."""
    if percent >= 100:
        return "100"
    scale = 10**UPTIME_DECIMALS
    return f"{math.floor(percent * scale) / scale:.{UPTIME_DECIMALS}f}"


def uptime_text(percent: float | None, *, no_data: str = NO_DATA) -> str:
    """``45.45%``, ``100%``, or ``no_data`` when there were no checks."""
    return no_data if percent is None else f"{uptime_figure(percent)}%"
