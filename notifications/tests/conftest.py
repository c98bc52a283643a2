from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Team
from healthmon.celery import app
from incidents.models import Incident
from monitors.models import Monitor
from notifications import services
from notifications.models import Channel
from notifications.tests.receivers import Receiver, SmtpSink, start_receiver, start_smtp


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    stop = start_receiver(target)
    yield target
    stop()


@pytest.fixture
def smtp(settings) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    controller = start_smtp(sink)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = controller.hostname
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_TIMEOUT = 5
    yield sink
    controller.stop()


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in this process as they are enqueued (retries immediately, no countdown)."""
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def make_monitor(team: Team, name: str = "Payments API") -> Monitor:
    return Monitor.objects.create(
        team=team,
        name=name,
        url="https://payments.example.com/health",
        next_check_at=timezone.now() + timedelta(hours=1),
    )


def make_incident(monitor: Monitor, **fields) -> Incident:
    now = timezone.now()
    values = {
        "team": monitor.team,
        "monitor": monitor,
        "monitor_name": monitor.name,
        "started_at": now,
        "opened_at": now,
        "cause": "HTTP 503 (expected 200-299)",
        "last_reason": "HTTP 503 (expected 200-299)",
        "failure_count": 2,
    }
    values.update(fields)
    return Incident.objects.create(**values)


def make_webhook(team: Team, url: str, *, monitors=(), **fields) -> Channel:
    return services.channel_create(
        team=team,
        name=fields.pop("name", "Ops webhook"),
        kind="webhook",
        config={"url": url, **fields.pop("config", {})},
        secrets={"signing_secret": "s3cret-s3cret-s3cret", **fields.pop("secrets", {})},
        monitors=list(monitors),
        **fields,
    )
