"""The ports of `make run`'s processes, read from the environment here and nowhere else.

Settings (``SITE_URL``'s default, the demo monitor), gunicorn (``WEB_BIND``'s default) and
``make run``'s port check and closing block (healthmon/startup.py) all ask these functions.
"""

from __future__ import annotations

from lib.env import envint, envstr


def web_port() -> int:
    return envint("WEB_PORT", 8000, minimum=1)


def web_bind() -> str:
    return envstr("WEB_BIND") or f"0.0.0.0:{web_port()}"


def flower_bind() -> tuple[str, int]:
    return envstr("FLOWER_ADDRESS", "127.0.0.1"), envint("FLOWER_PORT", 5555, minimum=1)
