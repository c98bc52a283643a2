"""/live, /ready and /health against the real database, broker and a real worker."""

from __future__ import annotations

import json
import time

import pytest

from conftest import wait_for
from healthmon import probes
from healthmon.heartbeats import BeatTickRecorder

pytestmark = pytest.mark.django_db


def test_live_answers_without_auth_and_for_any_host(anon_client):
    # Kubernetes probes address the pod by IP, which is not in ALLOWED_HOSTS.
    response = anon_client.get("/live", HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200
    assert response.json() == {"status": "up"}


def test_ready_is_up_when_database_and_broker_answer(anon_client):
    response = anon_client.get("/ready", HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "up"
    assert body["components"]["database"]["status"] == "up"
    assert body["components"]["broker"]["status"] == "up"


def test_ready_is_503_with_reason_when_broker_port_is_closed(anon_client, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"

    started = time.monotonic()
    response = anon_client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["components"]["database"]["status"] == "up"
    assert body["components"]["broker"]["status"] == "down"
    assert "refused" in body["components"]["broker"]["reason"].lower()
    assert body["reason"].startswith("broker: ")
    assert time.monotonic() - started < 5  # one attempt, no retry loop


def test_probes_refuse_writes(anon_client):
    assert anon_client.post("/ready").status_code == 405


def test_health_is_503_while_beat_never_ticked(anon_client, heartbeat_store):
    response = anon_client.get("/health")

    assert response.status_code == 503
    beat = response.json()["components"]["beat"]
    assert beat == {
        "status": "down",
        "last_tick_age_seconds": None,
        "reason": "beat has never ticked",
    }


def test_health_reports_beat_down_when_its_tick_is_too_old(anon_client, heartbeat_store, settings):
    heartbeat_store.record_beat_tick(time.time() - settings.HEALTH_BEAT_MAX_AGE - 5)

    beat = anon_client.get("/health").json()["components"]["beat"]

    assert beat["status"] == "down"
    assert beat["last_tick_age_seconds"] >= settings.HEALTH_BEAT_MAX_AGE + 5
    assert "beat last ticked" in beat["reason"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_health_is_up_with_database_broker_beat_and_a_worker_on_every_queue(
    anon_client, heartbeat_store, celery_worker_process
):
    BeatTickRecorder()()  # what beat's scheduler does on every tick

    response = wait_for(
        lambda: (r := anon_client.get("/health")).status_code == 200 and r,
        timeout=15,
        message="/health did not become healthy with a worker running",
    )

    components = response.json()["components"]
    assert components["database"]["status"] == "up"
    assert components["broker"]["status"] == "up"
    assert components["beat"]["status"] == "up"
    assert components["beat"]["last_tick_age_seconds"] < 5
    assert all(count >= 1 for count in components["workers"]["queues"].values())
    assert "workers" not in components["workers"]  # no hostnames on a public endpoint
    assert set(components["queues"]["depths"]) == {"checks", "incidents", "notifications"}


def test_health_is_200_and_says_degraded_when_only_notifications_are_in_trouble():
    # A team's broken receiver is not an outage of healthmon: no 503 (see probes' docstring).
    response = probes._report(
        "/health",
        {
            "database": probes.ComponentStatus(ok=True),
            "notifications": probes.ComponentStatus(
                ok=True, degraded=True, reason="1 channel(s) failing: ids [4]"
            ),
        },
    )

    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["status"] == "degraded"
    assert body["reason"] == "notifications: 1 channel(s) failing: ids [4]"
