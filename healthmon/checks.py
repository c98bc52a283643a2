"""System checks for operations settings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning
from django.core.checks import register as register_check


def register() -> None:
    register_check(check_metrics_protected, Tags.security, deploy=True)


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
