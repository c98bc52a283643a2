"""/metrics: the workers' counters through multiprocess mode, state gauges read at scrape
time, per-monitor gauges with a limit, access control, and promtool's verdict."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_for
from healthmon import probes
from incidents.models import Incident
from monitors.models import CheckResult, Monitor
from monitors.tasks import dispatch_due_checks
from monitors.tests.http_target import HttpTarget, refused_port
from notifications.deadletters import dead_letter_record

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian: prometheus)")


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return samples(response.content.decode())


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )


def make_monitor(team, url: str, **fields) -> Monitor:
    values = {
        "team": team,
        "name": url,
        "url": url,
        "interval": 30,
        "timeout": 2.0,
        "next_check_at": timezone.now() + timedelta(hours=1),
    }
    values.update(fields)
    return Monitor.objects.create(**values)


# --- The worker's counters reach the web's /metrics ----------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@needs_promtool
def test_worker_check_counters_appear_on_web_metrics(
    celery_worker_process, alice, anon_client, monkeypatch
):
    # The web process reads the directory the worker writes (one machine, shared disk).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(celery_worker_process.metrics_dir))
    before = scrape(anon_client)
    team = alice.personal_team
    due = timezone.now() - timedelta(seconds=1)
    with HttpTarget() as target:
        monitors = [
            make_monitor(team, target.url("/ok"), next_check_at=due),
            make_monitor(team, target.url("/fail"), next_check_at=due),
            make_monitor(team, f"http://127.0.0.1:{refused_port()}/", next_check_at=due),
        ]
        dispatch_due_checks.delay()
        wait_for(
            lambda: CheckResult.objects.filter(monitor__in=monitors).count() == 3,
            timeout=30,
            message="the worker did not check the monitors",
        )

    def counted(found: dict, status: str) -> float:
        return (value(found, "healthmon_checks_total", kind="http", status=status) or 0) - (
            value(before, "healthmon_checks_total", kind="http", status=status) or 0
        )

    # Counted after the batch commits, a moment after the rows become visible.
    found = wait_for(
        lambda: (f := scrape(anon_client)) and counted(f, "error") >= 1 and f,
        timeout=10,
        message="the worker's check counters did not reach /metrics",
    )
    assert counted(found, "up") >= 1
    assert counted(found, "down") >= 1
    lag_count = value(found, "healthmon_check_schedule_lag_seconds_count") or 0
    assert lag_count - (value(before, "healthmon_check_schedule_lag_seconds_count") or 0) >= 3
    assert (value(found, "healthmon_check_duration_seconds_count") or 0) >= 2
    # The worker's own database metrics (django-prometheus' backend) come along.
    assert any(name == "django_db_execute_total" for name, _ in found)

    text = anon_client.get("/metrics").content.decode()
    checked = promtool_check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- State read at scrape time ------------------------------------------------------------


@pytest.mark.django_db
def test_state_gauges_count_monitors_incidents_and_dead_letters(alice, anon_client):
    team = alice.personal_team
    down = make_monitor(team, "https://down.example/", status="down")
    make_monitor(team, "https://up.example/", status="up")
    make_monitor(team, "https://paused.example/", status="up", is_active=False)
    make_monitor(team, "https://new.example/")
    Incident.objects.create(
        team=team,
        monitor=down,
        monitor_name=down.name,
        started_at=timezone.now(),
        opened_at=timezone.now(),
        cause="HTTP 500",
    )
    dead_letter_record(
        task_name="notifications.tasks.deliver_notification",
        task_id="t-1",
        args=[12345],
        kwargs={},
        exception=RuntimeError("SMTP said no"),
        traceback="",
        attempts=11,
    )

    found = scrape(anon_client)

    assert value(found, "healthmon_monitors", state="up") == 1
    assert value(found, "healthmon_monitors", state="down") == 1
    assert value(found, "healthmon_monitors", state="unknown") == 1
    assert value(found, "healthmon_monitors", state="paused") == 1
    assert value(found, "healthmon_open_incidents") == 1
    assert value(found, "healthmon_dead_letters") == 1
    assert value(found, "healthmon_collector_success", collector="database") == 1
    assert value(found, "healthmon_collector_success", collector="broker") == 1
    for queue in ("checks", "incidents", "notifications"):
        assert value(found, "healthmon_queue_depth", queue=queue) is not None
        assert value(found, "healthmon_workers_seen", queue=queue) is not None
    assert value(found, "healthmon_beat_last_tick_timestamp_seconds") is not None


@pytest.mark.django_db
def test_rollup_lag_is_the_age_of_the_oldest_result_not_rolled_up(alice, anon_client):
    assert value(scrape(anon_client), "healthmon_rollup_lag_seconds") == 0
    monitor = make_monitor(alice.personal_team, "https://up.example/")
    CheckResult.objects.create(
        monitor=monitor, checked_at=timezone.now() - timedelta(minutes=10), status="up"
    )

    lag = value(scrape(anon_client), "healthmon_rollup_lag_seconds")

    assert 600 <= lag < 660


@pytest.mark.django_db
def test_per_monitor_gauges_put_down_monitors_first_within_the_limit(alice, anon_client, settings):
    settings.METRICS_MONITOR_LIMIT = 2
    team = alice.personal_team
    checked_at = timezone.now()
    expiry = checked_at + timedelta(days=20)
    up = make_monitor(
        team,
        "https://a.example/",
        name="A up",
        status="up",
        last_check_status="up",
        last_response_time_ms=250,
        last_status_code=200,
        last_checked_at=checked_at,
        cert_expires_at=expiry,
    )
    make_monitor(team, "https://b.example/", name="B up", status="up")
    down = make_monitor(
        team,
        "https://c.example/",
        name="C down",
        status="down",
        last_check_status="timeout",
        last_checked_at=checked_at,
    )

    found = scrape(anon_client)

    def labels(monitor: Monitor) -> dict[str, str]:
        return {"monitor_id": str(monitor.id), "monitor": monitor.name, "team": team.name}

    assert value(found, "healthmon_monitor_up", **labels(down)) == 0
    assert value(found, "healthmon_monitor_last_check_success", **labels(down)) == 0
    assert value(found, "healthmon_monitor_up", **labels(up)) == 1
    assert value(found, "healthmon_monitor_last_check_success", **labels(up)) == 1
    assert value(found, "healthmon_monitor_last_response_seconds", **labels(up)) == 0.25
    assert value(found, "healthmon_monitor_last_status_code", **labels(up)) == 200
    assert value(found, "healthmon_monitor_cert_expiry_timestamp_seconds", **labels(up)) == (
        pytest.approx(expiry.timestamp())
    )
    assert value(
        found, "healthmon_monitor_last_check_timestamp_seconds", **labels(down)
    ) == pytest.approx(checked_at.timestamp())
    exported = {dict(key)["monitor"] for name, key in found if name == "healthmon_monitor_up"}
    assert exported == {"A up", "C down"}  # B (id order after A) is over the limit
    assert value(found, "healthmon_monitor_series_dropped") == 1


@pytest.mark.django_db
def test_a_broker_outage_leaves_the_rest_of_the_scrape_intact(anon_client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{refused_port()}/0"

    found = scrape(anon_client)

    assert value(found, "healthmon_collector_success", collector="broker") == 0
    assert value(found, "healthmon_collector_success", collector="database") == 1
    assert value(found, "healthmon_open_incidents") == 0
    assert not any(name == "healthmon_queue_depth" for name, _ in found)


def test_queue_depth_counts_waiting_messages_on_the_real_broker(settings):
    queue = "healthmon-test-depth"
    with Connection(settings.CELERY_BROKER_URL) as conn:
        channel = conn.default_channel
        channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        channel.queue_purge(queue)
        producer = conn.Producer()
        for number in range(3):
            producer.publish({"n": number}, routing_key=queue, serializer="json")
        try:
            assert probes.queue_depths((queue,)) == {queue: 3}
        finally:
            channel.queue_purge(queue)


# --- promtool -----------------------------------------------------------------------------


@pytest.mark.django_db
@needs_promtool
def test_metrics_output_passes_promtool(alice_client, anon_client, alice):
    # Give every family samples: requests (django-prometheus), monitors, states.
    team = alice.personal_team
    make_monitor(
        team,
        "https://a.example/",
        status="up",
        last_check_status="up",
        last_response_time_ms=120,
        last_status_code=200,
        last_checked_at=timezone.now(),
        cert_expires_at=timezone.now() + timedelta(days=3),
    )
    assert alice_client.get("/api/v1/monitors/").status_code == 200
    assert alice_client.get("/api/v1/monitors/999999/").status_code == 404

    text = anon_client.get("/metrics").content.decode()

    assert "django_http_responses_total_by_status_total" in text
    assert "healthmon_monitor_up{" in text
    checked = promtool_check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_token_is_required_when_set(anon_client, settings):
    settings.METRICS_TOKEN = "scrape-secret-123"

    missing = anon_client.get("/metrics")
    wrong = anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    right = anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123")

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert b"healthmon_open_incidents" in right.content


@pytest.mark.django_db
def test_metrics_allow_list_matches_the_connecting_address(anon_client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.168.1.5"]

    outside = anon_client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.1.1")
    inside = anon_client.get("/metrics", REMOTE_ADDR="10.20.30.40")
    single = anon_client.get("/metrics", REMOTE_ADDR="192.168.1.5")

    assert outside.status_code == 403
    assert inside.status_code == 200
    assert single.status_code == 200


@pytest.mark.django_db
def test_token_and_allow_list_together_need_both(anon_client, settings):
    settings.METRICS_TOKEN = "scrape-secret-123"
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    auth = {"HTTP_AUTHORIZATION": "Bearer scrape-secret-123"}

    assert anon_client.get("/metrics", REMOTE_ADDR="127.0.0.1", **auth).status_code == 403
    assert anon_client.get("/metrics", REMOTE_ADDR="10.0.0.9").status_code == 401
    assert anon_client.get("/metrics", REMOTE_ADDR="10.0.0.9", **auth).status_code == 200
