"""The system checks on operations settings."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_a_monitor_timeout_beyond_the_ceiling_stops_manage_py_check(settings):
    settings.MONITOR_MAX_TIMEOUT = 3600.0

    with pytest.raises(SystemCheckError, match=r"healthmon\.E001.*MONITOR_MAX_TIMEOUT is 3600 s"):
        call_command("check")


def test_the_default_monitor_timeout_passes_the_check(settings):
    settings.MONITOR_MAX_TIMEOUT = 60.0

    call_command("check")
