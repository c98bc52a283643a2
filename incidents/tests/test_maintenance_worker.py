"""Maintenance windows and incident updates end to end: a real gevent worker, Redis,
PostgreSQL, a real failing target and a real webhook receiver counting messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import wait_for
from incidents import maintenance
from incidents.models import Incident, MonitorState
from incidents.tests.test_end_to_end import FlakyService, drive_checks_until
from monitors.models import CheckResult, Monitor
from monitors.services import monitor_pause
from notifications.tests.conftest import make_incident, make_webhook
from notifications.tests.receivers import Receiver, start_receiver

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WINDOW_SECONDS = 8
INTERVAL = 1


@pytest.fixture
def failing() -> Iterator[FlakyService]:
    import threading

    target = FlakyService(failures=10**9)  # always 503
    thread = threading.Thread(target=target.server.serve_forever, daemon=True)
    thread.start()
    yield target
    target.server.shutdown()
    target.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    stop = start_receiver(target)
    yield target
    stop()


def test_a_failing_monitor_inside_a_window_sends_nothing_and_alerts_once_it_ends(
    task_ledger, alice, failing, receiver
):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="db during upgrade",
        url=f"{failing.base}/health",
        interval=INTERVAL,
        timeout=0.8,
        failure_threshold=2,
        success_threshold=1,
        next_check_at=timezone.now(),
    )
    make_webhook(alice.personal_team, receiver.url, monitors=[monitor])
    window = maintenance.maintenance_start_now(
        team=alice.personal_team, minutes=1, monitors=[monitor]
    )
    window = maintenance.maintenance_window_update(
        window=window, ends_at=window.starts_at + timedelta(seconds=WINDOW_SECONDS)
    )

    # Inside the window: checks run and are stored, failures are counted, nothing opens.
    drive_checks_until(
        lambda: MonitorState.objects.filter(monitor=monitor, consecutive_failures__gte=3).exists(),
        timeout=WINDOW_SECONDS - 1,
    )
    assert timezone.now() < window.ends_at, "the machine is too slow for this window"
    inside = CheckResult.objects.filter(monitor=monitor, checked_at__lt=window.ends_at)
    assert inside.count() >= 3 and not inside.filter(status="up").exists()
    assert not Incident.objects.filter(monitor=monitor).exists()
    assert receiver.requests == []

    # After it: the next failing check opens the incident, which alerts once.
    incident = drive_checks_until(
        lambda: Incident.objects.filter(monitor=monitor).first(), timeout=WINDOW_SECONDS + 30
    )
    monitor_pause(monitor=monitor)
    assert incident.opened_at >= window.ends_at
    assert incident.opened_at - window.ends_at <= timedelta(seconds=INTERVAL + 5)
    assert incident.started_at < window.ends_at  # the downtime began inside the window
    wait_for(lambda: len(receiver.requests) >= 1, timeout=20, message="no alert after the window")
    task_ledger.wait_until_settled()
    assert [r.json()["event"] for r in receiver.requests] == ["incident.opened"]
    assert Incident.objects.filter(monitor=monitor).count() == 1


def test_an_update_is_delivered_once_to_the_channels_that_ask_for_updates(
    task_ledger, alice, alice_client, receiver
):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="payments",
        url="https://payments.example.com/health",
        next_check_at=timezone.now() + timedelta(hours=1),
    )
    incident = make_incident(monitor)
    quiet = Receiver()
    stop_quiet = start_receiver(quiet)
    try:
        make_webhook(
            alice.personal_team,
            receiver.url,
            monitors=[monitor],
            name="status subscribers",
            send_incident_updates=True,
        )
        make_webhook(alice.personal_team, quiet.url, monitors=[monitor], name="pager")
        response = alice_client.post(
            f"/api/v1/incidents/{incident.id}/updates/",
            {"status": "identified", "message": "A bad deploy; rolling back."},
            format="json",
        )
        assert response.status_code == 201, response.data
        wait_for(lambda: receiver.requests, timeout=20, message="the update was not delivered")
        task_ledger.wait_until_settled()
    finally:
        stop_quiet()
    assert quiet.requests == []
    [received] = receiver.requests
    body = received.json()
    assert body["event"] == "incident.update"
    assert body["update"]["status"] == "identified"
    assert body["update"]["message"] == "A bad deploy; rolling back."
    assert body["incident"]["id"] == incident.id
    assert incident.deliveries.get().status == "delivered"
    incident.refresh_from_db()
    assert incident.is_open  # words do not resolve an incident whose monitor is down
