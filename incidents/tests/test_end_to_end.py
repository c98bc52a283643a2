"""End to end with a real gevent worker, Redis and PostgreSQL, and a real target on 127.0.0.1.

The dispatcher (the task beat fires every second) claims the monitor, the check batch checks
it and hands its results on to one evaluation, the evaluation opens and later resolves the
incident and hands each event on to notifications, which deliver a webhook. Nothing is
called in-process except ``dispatch_due_checks.delay()`` standing in for beat.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from conftest import wait_for
from incidents.models import Incident, MonitorState
from monitors.models import CheckResult, Monitor
from monitors.services import monitor_pause
from monitors.tasks import dispatch_due_checks

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAILURES = 3


class FlakyService:
    """``/health`` answers 503 to its first ``failures`` requests, then 200; ``/hook``
    records the webhooks it receives."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.health_requests = 0
        self.webhooks: list[dict] = []
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with service._lock:
                    service.health_requests += 1
                    failing = service.health_requests <= service.failures
                self._answer(503 if failing else 200, b"down" if failing else b"ok")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with service._lock:
                    service.webhooks.append(json.loads(body))
                self._answer(200, b"thanks")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def events(self, incident_id: int) -> list[str]:
        with self._lock:
            return [h["event"] for h in self.webhooks if h["incident"]["id"] == incident_id]


@pytest.fixture
def service() -> Iterator[FlakyService]:
    flaky = FlakyService(FAILURES)
    thread = threading.Thread(target=flaky.server.serve_forever, daemon=True)
    thread.start()
    yield flaky
    flaky.server.shutdown()
    flaky.server.server_close()


def drive_checks_until(predicate, *, timeout: float):
    """Stand in for beat: fire the real dispatcher task until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatch_due_checks.delay()
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"not done within {timeout}s; see test-artifacts/celery-worker.log")


def test_a_target_failing_then_recovering_opens_and_resolves_one_incident(
    task_ledger, alice, service
):
    from notifications.services import channel_create  # the hand-off is what we follow

    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="flaky service",
        url=f"{service.base}/health",
        interval=1,
        timeout=0.8,
        failure_threshold=2,
        success_threshold=2,
        next_check_at=timezone.now(),
    )
    channel_create(
        team=alice.personal_team,
        name="ops hook",
        kind="webhook",
        config={"url": f"{service.base}/hook"},
        monitors=[monitor],
    )

    incident = drive_checks_until(
        lambda: Incident.objects.filter(monitor=monitor, resolved_at__isnull=False).first(),
        timeout=60,
    )
    monitor_pause(monitor=monitor)  # stop checking; the story is told

    assert Incident.objects.filter(monitor_id=monitor.id).count() == 1
    checks = list(CheckResult.objects.filter(monitor=monitor).order_by("checked_at"))
    assert [c.status for c in checks[: FAILURES + 2]] == ["down"] * FAILURES + ["up", "up"]
    first_failure, threshold_failure, first_success = checks[0], checks[1], checks[FAILURES]
    assert incident.started_at == first_failure.checked_at
    assert incident.opened_at == threshold_failure.checked_at
    assert incident.resolved_at == first_success.checked_at
    assert incident.duration == first_success.checked_at - first_failure.checked_at
    assert timedelta(seconds=FAILURES - 1) < incident.duration < timedelta(seconds=FAILURES * 4)
    assert incident.failure_count == FAILURES
    assert "503" in incident.cause
    assert incident.resolution == "recovered"
    assert incident.opening_check_id == threshold_failure.id
    assert incident.resolving_check_id == checks[FAILURES + 1].id
    monitor.refresh_from_db()
    assert monitor.status == "up"
    assert MonitorState.objects.get(monitor=monitor).state == "up"

    # Each event went on to notifications (its own messages, in any order) and out as
    # exactly one webhook.
    wait_for(
        lambda: sorted(service.events(incident.id)) == ["incident.opened", "incident.resolved"],
        timeout=20,
        message=f"webhooks received: {service.webhooks}",
    )
    task_ledger.wait_until_settled()  # a duplicate, if any, has landed now
    assert len(service.events(incident.id)) == 2
