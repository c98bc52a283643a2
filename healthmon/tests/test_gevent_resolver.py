"""gevent workers resolve names with c-ares (see healthmon/celery.py), unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

PROBE = """
from gevent import monkey
monkey.patch_all()
import healthmon.celery  # what `celery -A healthmon worker -P gevent` imports after patching
import socket
import gevent
print(type(gevent.get_hub().resolver).__module__)
print(socket.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
"""


def _resolver(**env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "GEVENT_RESOLVER"}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**environ, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split()


def test_gevent_workers_resolve_with_c_ares_and_still_read_etc_hosts() -> None:
    module, address = _resolver()
    assert "ares" in module
    assert address == "127.0.0.1"


@pytest.mark.parametrize("choice", ["thread", "block"])
def test_gevent_resolver_can_be_chosen_in_the_environment(choice: str) -> None:
    module, _ = _resolver(GEVENT_RESOLVER=choice)
    assert choice in module
