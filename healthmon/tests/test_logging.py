"""Logs: JSON lines with the request id, carried from an API call into the Celery tasks it
caused (and the tasks those caused), and domain events logged with their ids."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from conftest import wait_for
from healthmon import events
from incidents.models import Incident
from lib import metrics, task_names
from lib.logs import ConsoleFormatter, ContextFilter, JsonFormatter
from lib.request_id import HEADER, request_id_var
from monitors.models import Monitor
from monitors.tests.http_target import HttpTarget


def render(formatter: logging.Formatter, *, message: str, **extra) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    log = logging.getLogger(f"healthmon.test.{uuid.uuid4().hex}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info(message, extra=extra)
    return stream.getvalue()


def test_json_lines_carry_time_level_logger_request_id_and_extra_fields():
    token = request_id_var.set("req-abc-123")
    try:
        line = render(JsonFormatter(), message="check failed", monitor_id=42)
    finally:
        request_id_var.reset(token)

    assert line.count("\n") == 1
    record = json.loads(line)
    assert record["message"] == "check failed"
    assert record["level"] == "INFO"
    assert record["logger"].startswith("healthmon.test.")
    assert record["request_id"] == "req-abc-123"
    assert record["monitor_id"] == 42
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", record["time"])
    assert "task_id" not in record  # empty context fields are left out


def test_django_request_lines_logged_after_the_middleware_keep_the_request_id():
    # django.request logs 4xx/5xx once the middleware (and its context) has finished.
    line = render(
        JsonFormatter(), message="Not Found: /x", request=SimpleNamespace(request_id="r-9")
    )

    record = json.loads(line)
    assert record["request_id"] == "r-9"
    assert "request" not in record  # its repr would carry the query string


def test_console_lines_show_the_request_id_or_a_dash():
    token = request_id_var.set("req-abc-123")
    try:
        with_id = render(ConsoleFormatter(), message="hello")
    finally:
        request_id_var.reset(token)
    without = render(ConsoleFormatter(), message="hello")

    assert "[req-abc-123] hello" in with_id
    assert "[-] hello" in without


@pytest.mark.django_db
def test_responses_echo_the_request_id_or_make_one(alice_client):
    given = alice_client.get("/api/v1/monitors/", HTTP_X_REQUEST_ID="lb-7f3a.42")
    made = alice_client.get("/api/v1/monitors/")
    forged = alice_client.get("/api/v1/monitors/", HTTP_X_REQUEST_ID='x" "level": "ERROR')

    assert given[HEADER] == "lb-7f3a.42"
    assert re.fullmatch(r"[0-9a-f]{32}", made[HEADER])
    assert re.fullmatch(r"[0-9a-f]{32}", forged[HEADER])


@pytest.mark.django_db
def test_each_request_is_logged_once_with_its_id_status_and_duration(alice_client, caplog):
    caplog.set_level(logging.INFO, logger="healthmon.request")

    alice_client.get("/api/v1/monitors/?token=secret", HTTP_X_REQUEST_ID="req-1")

    [record] = [r for r in caplog.records if r.name == "healthmon.request"]
    assert record.getMessage() == "GET /api/v1/monitors/ 200"  # no query string
    assert (record.http_method, record.status_code) == ("GET", 200)
    assert record.duration_ms >= 0
    assert record.user_id is not None


@pytest.mark.django_db
def test_incident_events_are_counted_and_logged_with_incident_and_monitor_ids(alice, caplog):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="orders",
        url="https://o.example/",
        next_check_at=timezone.now() + timedelta(hours=1),
    )
    incident = Incident.objects.create(
        team=alice.personal_team,
        monitor=monitor,
        monitor_name="orders",
        started_at="2026-01-05T10:00:00Z",
        opened_at="2026-01-05T10:01:00Z",
        cause="HTTP 500",
    )
    opened_before = metrics.INCIDENTS_OPENED._value.get()
    caplog.set_level(logging.INFO, logger="healthmon.events")

    from incidents.signals import incident_changed

    incident_changed.send(Incident, incident_id=incident.id, event="opened")

    assert metrics.INCIDENTS_OPENED._value.get() == opened_before + 1
    [record] = [r for r in caplog.records if r.name == "healthmon.events.incidents"]
    assert (record.incident_id, record.monitor_id, record.incident_event) == (
        incident.id,
        monitor.id,
        "opened",
    )


def test_delivery_attempts_are_counted_and_logged_with_delivery_and_incident_ids(caplog):
    delivery = SimpleNamespace(
        id=7, incident_id=3, channel_kind="webhook", event="opened", attempts=2, response_code=503
    )
    counter = metrics.NOTIFICATIONS.labels(kind="webhook", outcome="transient")
    before = counter._value.get()
    caplog.set_level(logging.INFO, logger="healthmon.events")

    events.delivery_attempted(delivery=delivery, outcome="transient", duration_ms=120)

    assert counter._value.get() == before + 1
    [record] = [r for r in caplog.records if r.name == "healthmon.events.notifications"]
    assert record.levelno == logging.WARNING
    assert (record.delivery_id, record.incident_id, record.outcome) == (7, 3, "transient")


# --- End to end: API request -> web -> Celery headers -> worker log lines --------------------


def worker_log_records(path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_request_id_of_an_api_call_is_on_the_log_lines_of_the_tasks_it_caused(
    celery_worker_process, alice, alice_client
):
    request_id = f"req-{uuid.uuid4().hex}"
    with HttpTarget() as target:
        monitor = Monitor.objects.create(
            team=alice.personal_team,
            name="payments",
            url=target.url("/fail"),
            failure_threshold=1,
            timeout=2.0,
            next_check_at=timezone.now() + timedelta(hours=1),
        )
        # check-now queues the check to a worker, which enqueues the evaluation; the failure
        # opens an incident, whose evaluation enqueues the notification task in turn.
        response = alice_client.post(
            f"/api/v1/monitors/{monitor.id}/check-now/", HTTP_X_REQUEST_ID=request_id
        )
        assert response.status_code == 202, response.content
        assert response[HEADER] == request_id
        wait_for(
            lambda: Incident.objects.filter(monitor=monitor).exists(),
            timeout=20,
            message="the check-now never opened an incident",
        )

    def tagged() -> list[dict]:
        return [
            r
            for r in worker_log_records(celery_worker_process.log_path)
            if r.get("request_id") == request_id
        ]

    wanted = {
        task_names.RUN_CHECK_NOW,
        task_names.EVALUATE_CHECK_RESULTS,
        task_names.NOTIFY_INCIDENT,
    }

    def all_tasks_tagged() -> list[dict] | None:
        records = tagged()
        return records if {r.get("task_name") for r in records} >= wanted else None

    found = wait_for(
        all_tasks_tagged, timeout=20, message=f"the worker's log lines never carried {request_id}"
    )
    incident = Incident.objects.get(monitor=monitor)
    [opened] = [r for r in found if r.get("logger") == "healthmon.events.incidents"]
    assert (opened["incident_id"], opened["monitor_id"]) == (incident.id, monitor.id)
    assert opened["task_name"] == task_names.EVALUATE_CHECK_RESULTS
    # Every line written while those tasks ran carries the id: none of their lines lacks it.
    task_ids = {r["task_id"] for r in found}
    untagged = [
        r
        for r in worker_log_records(celery_worker_process.log_path)
        if r.get("task_id") in task_ids and r.get("request_id") != request_id
    ]
    assert untagged == []
