"""Fixtures for incident tests: monitors, stored check results, and what was announced."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Team, User
from healthmon.celery import app
from incidents import signals
from monitors.models import CheckPhase, CheckResult, CheckStatus, Monitor
from monitors.services import monitor_create

START = timezone.now().replace(microsecond=0) - timedelta(hours=1)


def minute(i: int) -> datetime:
    """A fixed time an hour ago plus ``i`` minutes: results in the past, one per minute."""
    return START + timedelta(minutes=i)


def make_monitor(
    owner: User | None, name: str = "orders API", *, team: Team | None = None, **fields
) -> Monitor:
    """A monitor of ``owner``'s personal team (or of ``team``); thresholds 2 and 1."""
    fields.setdefault("url", "https://orders.example.com/health")
    fields.setdefault("failure_threshold", 2)
    fields.setdefault("success_threshold", 1)
    if team is None:
        assert owner is not None, "a monitor needs an owner or a team"
        team = owner.personal_team
    return monitor_create(team=team, name=name, **fields)


def store_results(monitor: Monitor, sequence: str, *, first: int = 0) -> list[int]:
    """Store one result per character (``S`` up, ``F`` down with status 500), one a minute."""
    results = [
        CheckResult(
            monitor=monitor,
            checked_at=minute(i),
            status=CheckStatus.UP if char == "S" else CheckStatus.DOWN,
            status_code=200 if char == "S" else 500,
            response_time_ms=40,
            phase="" if char == "S" else CheckPhase.STATUS,
            reason="" if char == "S" else f"HTTP 500 (check {i})",
        )
        for i, char in enumerate(sequence, start=first)
    ]
    return [result.id for result in CheckResult.objects.bulk_create(results)]


@pytest.fixture
def monitor(alice: User) -> Monitor:
    return make_monitor(alice)


class Sent(list):
    """Notification messages sent to the broker, as (task name, args)."""

    def events(self) -> list[tuple[int, str]]:
        return [tuple(args) for _, args in self]


@pytest.fixture
def sent(monkeypatch) -> Sent:
    """Record ``send_task`` calls instead of publishing them (scoped to one test).

    The broker is real in worker tests; here a session-wide worker might otherwise consume
    the messages of a test whose data it cannot see.
    """
    messages = Sent()

    def send_task(name: str, args=None, **options):
        messages.append((name, list(args or [])))

    monkeypatch.setattr(app, "send_task", send_task)
    return messages


@pytest.fixture
def hooked() -> Iterator[list[tuple[int, str]]]:
    """Events received by the metrics hook ``incidents.signals.incident_changed``."""
    received: list[tuple[int, str]] = []

    def receiver(sender, incident_id: int, event: str, **kwargs) -> None:
        received.append((incident_id, str(event)))

    signals.incident_changed.connect(receiver, weak=False, dispatch_uid="test-hook")
    yield received
    signals.incident_changed.disconnect(dispatch_uid="test-hook")
