"""System checks for operations settings (``manage.py check``, ``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning
from django.core.checks import register as register_check

# The longest check timeout that makes sense for a health check. Checks run on the check
# workers (check-now included), never in the web process, so the web timeout does not bound
# them; this does. A check holds a worker greenlet and a connection for up to its timeout;
# its batch's hard time limit is the timeout + 30 s; a check-now stays pending (and holds one
# of its team's CHECK_NOW_MAX_CONCURRENT_PER_TEAM slots) for 30 s + the timeout + 5 s. Past
# a few minutes nobody waits for the answer, and a monitor needs an interval above its
# timeout anyway (a batch expires one interval after its time).
MONITOR_TIMEOUT_CEILING_SECONDS = 300


def register() -> None:
    register_check(check_metrics_protected, Tags.security, deploy=True)
    register_check(check_monitor_max_timeout)
    register_check(check_countdowns_fit_visibility_timeout)


def longest_countdowns() -> dict[str, float]:
    """Every countdown a notification task may set on its own message, by setting."""
    return {
        "NOTIFY_RETRY_BACKOFF_MAX": settings.NOTIFY_RETRY_BACKOFF_MAX,
        "NOTIFY_RETRY_AFTER_MAX": settings.NOTIFY_RETRY_AFTER_MAX,
        # A task finding its delivery held by a live worker looks again when the lease lapses.
        "NOTIFY_SENDING_LEASE": settings.NOTIFY_SENDING_LEASE + 1,
        "NOTIFY_ORDER_RECHECK": settings.NOTIFY_ORDER_RECHECK,
    }


def check_countdowns_fit_visibility_timeout(app_configs, **kwargs) -> list[Error]:
    """A message waiting for its countdown stays unacknowledged; if the wait outlasts Redis'
    visibility timeout, Redis hands it to another worker too and the retry runs twice."""
    timeout = settings.CELERY_VISIBILITY_TIMEOUT
    return [
        Error(
            f"{name} ({seconds:g} s) is not below CELERY_VISIBILITY_TIMEOUT ({timeout} s): "
            "a retry waiting that long would be redelivered by Redis while it waits.",
            hint=f"Lower {name} or raise CELERY_VISIBILITY_TIMEOUT above it.",
            id="healthmon.E002",
        )
        for name, seconds in longest_countdowns().items()
        if seconds >= timeout
    ]


def check_metrics_protected(app_configs, **kwargs) -> list[Warning]:
    if settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS:
        return []
    return [
        Warning(
            "/metrics is open to anyone who can reach the web process; its per-monitor "
            "gauges name every team's monitors.",
            hint="Set METRICS_TOKEN (Prometheus: authorization credentials) or "
            "METRICS_ALLOWED_IPS (the Prometheus servers' addresses or networks).",
            id="healthmon.W001",
        )
    ]


def check_monitor_max_timeout(app_configs, **kwargs) -> list[Error]:
    timeout = settings.MONITOR_MAX_TIMEOUT
    if 0 < timeout <= MONITOR_TIMEOUT_CEILING_SECONDS:
        return []
    return [
        Error(
            f"MONITOR_MAX_TIMEOUT is {timeout:g} s; it must be above 0 and at most "
            f"{MONITOR_TIMEOUT_CEILING_SECONDS} s.",
            hint="Each check holds a probe worker slot and, for check-now, one of the team's "
            "concurrent check-now slots for up to this long; see README, 'Check-now'.",
            id="healthmon.E001",
        )
    ]
