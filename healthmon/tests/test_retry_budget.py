"""The retry budget of alerts and Redis' visibility timeout: settings that must fit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from healthmon.checks import check_countdowns_fit_visibility_timeout

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_the_visibility_timeout_of_redis_is_a_setting():
    shown = run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from healthmon.celery import app; "
            "print(app.conf.broker_transport_options['visibility_timeout'])",
        ],
        CELERY_BROKER_URL="redis://127.0.0.1:6379/9",
        CELERY_VISIBILITY_TIMEOUT="7200",
        DJANGO_SETTINGS_MODULE="healthmon.settings",
    )

    assert shown.stdout.strip() == "7200", shown.stderr


def test_the_default_retry_countdowns_fit_the_default_visibility_timeout():
    assert check_countdowns_fit_visibility_timeout(None) == []


def test_a_retry_countdown_not_below_the_visibility_timeout_fails_the_system_check():
    result = run(
        [sys.executable, "manage.py", "check"],
        CELERY_VISIBILITY_TIMEOUT="1800",
        NOTIFY_RETRY_BACKOFF_MAX="1800",
        NOTIFY_RETRY_AFTER_MAX="600",
    )

    assert result.returncode != 0
    assert "healthmon.E002" in result.stderr
    assert "NOTIFY_RETRY_BACKOFF_MAX (1800 s) is not below CELERY_VISIBILITY_TIMEOUT" in (
        result.stderr
    )
    assert "NOTIFY_RETRY_AFTER_MAX" not in result.stderr


def test_a_worker_refuses_to_start_when_a_retry_would_outlast_the_visibility_timeout():
    result = run(
        [sys.executable, "-m", "celery", "-A", "healthmon", "worker", "-P", "solo", "-Q", "none"],
        CELERY_BROKER_URL="redis://127.0.0.1:6379/9",
        CELERY_VISIBILITY_TIMEOUT="600",
        NOTIFY_RETRY_AFTER_MAX="900",
    )

    assert result.returncode != 0
    assert "NOTIFY_RETRY_AFTER_MAX (900 s) is not below CELERY_VISIBILITY_TIMEOUT" in (
        result.stdout + result.stderr
    )


def test_the_readme_states_how_long_an_alert_is_retried_with_the_defaults():
    waits = [
        get_exponential_backoff_interval(
            factor=settings.NOTIFY_RETRY_BACKOFF,
            retries=retry,
            maximum=settings.NOTIFY_RETRY_BACKOFF_MAX,
            full_jitter=False,  # the longest wait of each retry
        )
        for retry in range(settings.NOTIFY_MAX_RETRIES)
    ]
    readme = " ".join((ROOT / "README.md").read_text().split())

    total = sum(waits)
    hours, rest = divmod(total, 3600)
    assert f"attempted {settings.NOTIFY_MAX_RETRIES + 1} times" in readme
    assert ", ".join(map(str, waits)) in readme
    assert f"at most {total:,} s (**{hours} h {rest // 60} min {rest % 60} s**)" in readme
    assert re.search(r"CELERY_VISIBILITY_TIMEOUT` \| `3600`", readme)


def test_a_late_acknowledged_task_is_not_cancelled_when_the_broker_connection_drops():
    # Cancelled between a receiver's 2xx and the recorded outcome, a delivery was sent again
    # once its lease lapsed; these tasks are idempotent, so letting them finish is the safe
    # side (the fault suite's broker-kill scenario shows it end to end).
    from healthmon.celery import app

    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
