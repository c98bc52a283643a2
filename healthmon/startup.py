"""`make run`'s first and last words: are the ports free, and where is everything.

``python -m healthmon.startup ports`` runs before any process starts: a taken port is one line
and exit code 1, not gunicorn retrying for 5 s and honcho then stopping everything.
``python -m healthmon.startup banner`` waits until ``/health`` answers 200 (web, worker and
beat are up) and prints one block: the dashboard, the login, the API docs and Flower.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from healthmon.ports import flower_bind, web_bind

FLOWER_AUTH_FILE = "var/flower-basic-auth"  # written by the Makefile


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As gunicorn binds: a socket of a stopped run, still in TIME_WAIT, is no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def taken_ports() -> list[str]:
    """The processes whose port is taken, as ``web (0.0.0.0:8000)``."""
    web_host, _, port = web_bind().rpartition(":")
    wanted = {"web": (web_host, int(port)), "flower": flower_bind()}
    return [f"{name} ({h}:{p})" for name, (h, p) in wanted.items() if port_in_use(h, p)]


def check_ports() -> int:
    taken = taken_ports()
    if taken:
        print(
            f"healthmon: port already in use: {', '.join(taken)}; stop what holds it or choose "
            "others, e.g. make run WEB_PORT=8080 FLOWER_PORT=5556",
            file=sys.stderr,
        )
        return 1
    return 0


def wait_until_healthy(url: str, *, timeout: float) -> bool:
    """Poll ``url`` until it answers 200; give up at the timeout or when ``make run`` is gone."""
    deadline = time.monotonic() + timeout
    parent = os.getppid()
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    return False


def banner_text(*, site_url: str, login_file: Path) -> str:
    if login_file.exists():
        login = f"admin@example.com, password in {login_file} (only you can read it)"
    else:
        login = 'your account (lost it? make manage ARGS="changepassword EMAIL")'
    flower_host, flower_port = flower_bind()
    bar = "=" * 72
    return "\n".join(
        [
            bar,
            "  healthmon is running",
            f"  dashboard  {site_url}/",
            f"  login      {login}",
            f"  API docs   {site_url}/api/docs/",
            f"  Flower     http://{flower_host}:{flower_port}/ (user:password in "
            f"{FLOWER_AUTH_FILE} or $FLOWER_BASIC_AUTH)",
            '  commands   make manage ARGS="healthmon_status"',
            bar,
        ]
    )


def print_banner(*, timeout: float = 180) -> int:
    from django.conf import settings

    health = f"http://127.0.0.1:{web_bind().rpartition(':')[2]}/health"
    if not wait_until_healthy(health, timeout=timeout):
        print(f"healthmon: {health} did not answer 200 within {timeout:.0f} s", file=sys.stderr)
        return 1
    # One write, so the other processes' lines cannot land inside the block.
    block = banner_text(site_url=settings.SITE_URL, login_file=settings.DEMO_LOGIN_FILE)
    sys.stdout.write(block + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthmon.settings")
    if argv == ["ports"]:
        return check_ports()
    if argv == ["banner"]:
        return print_banner()
    print("usage: python -m healthmon.startup ports|banner", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
