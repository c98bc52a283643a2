"""Check-now runs on the check workers: 202 and a result URL, a per-team limit, a lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import wait_for
from monitors.check_now import check_now_lease, check_now_run
from monitors.models import CheckNowRequest, CheckResult, Monitor
from monitors.tests.http_target import HttpTarget


@pytest.fixture(scope="module")
def target():
    with HttpTarget() as server:
        yield server


def make_monitor(team, url: str, **fields) -> Monitor:
    values = {
        "team": team,
        "name": "Orders",
        "url": url,
        "interval": 60,
        "timeout": 5.0,
        "next_check_at": timezone.now() + timedelta(hours=1),
    }
    values.update(fields)
    return Monitor.objects.create(**values)


def result_when_ready(client, url: str) -> dict:
    def answered():
        response = client.get(url)
        return response if response.status_code != 202 else None

    response = wait_for(answered, timeout=20, interval=0.2, message=f"{url} stayed pending")
    assert response.status_code == 200, response.data
    return response.data


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_check_now_answers_202_and_its_url_shows_the_stored_result(
    celery_worker_process, alice, alice_client, target
):
    monitor = make_monitor(
        alice.personal_team,
        target.url("/ok"),
        assertions=[{"type": "json_path_equals", "path": "$.status", "value": "degraded"}],
    )
    next_check_at = monitor.next_check_at

    response = alice_client.post(f"/api/v1/monitors/{monitor.id}/check-now/")

    assert response.status_code == 202, response.data
    assert response.data["status"] == "pending"
    assert response["Location"] == response.data["result"]
    assert response["Location"].endswith(
        f"/api/v1/monitors/{monitor.id}/check-now/{response.data['id']}/"
    )
    body = result_when_ready(alice_client, response["Location"])
    assert body["status"] == "down"
    assert body["phase"] == "assertion"
    assert body["failed_assertion"]["value"] == "degraded"
    stored = CheckResult.objects.get(id=body["id"])
    assert stored.status_code == 200
    assert stored.scheduled_for == CheckNowRequest.objects.get().requested_at
    fresh = Monitor.objects.get(id=monitor.id)
    assert (fresh.last_check_status, fresh.last_checked_at) == ("down", stored.checked_at)
    assert fresh.next_check_at == next_check_at  # the schedule is left as it is


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_check_now_result_is_pending_while_the_worker_checks(
    celery_worker_process, alice, alice_client, target
):
    monitor = make_monitor(alice.personal_team, target.url("/slow?s=2"))

    url = alice_client.post(f"/api/v1/monitors/{monitor.id}/check-now/")["Location"]
    pending = alice_client.get(url)

    assert pending.status_code == 202
    assert pending.data["status"] == "pending"
    assert pending["Retry-After"] == "1"
    assert result_when_ready(alice_client, url)["status"] == "up"


@pytest.mark.django_db
def test_a_team_over_its_check_now_limit_gets_429_and_other_teams_do_not(
    settings, alice, bob, alice_client, bob_client
):
    settings.CHECK_NOW_MAX_CONCURRENT_PER_TEAM = 2
    alices = make_monitor(alice.personal_team, "http://127.0.0.1:9/")
    bobs = make_monitor(bob.personal_team, "http://127.0.0.1:9/")
    # In a test transaction nothing is sent to a worker: the requests stay unfinished.
    codes = [
        alice_client.post(f"/api/v1/monitors/{alices.id}/check-now/").status_code for _ in range(3)
    ]
    over = alice_client.post(f"/api/v1/monitors/{alices.id}/check-now/")

    assert codes == [202, 202, 429]
    assert over.status_code == 429
    assert "limit of 2 check-now requests running" in over.data["detail"]
    assert bob_client.post(f"/api/v1/monitors/{bobs.id}/check-now/").status_code == 202
    assert CheckNowRequest.objects.filter(monitor=alices).count() == 2


@pytest.mark.django_db
def test_an_unanswered_check_now_frees_its_slot_and_reports_gone_after_its_lease(
    settings, alice, alice_client
):
    settings.CHECK_NOW_MAX_CONCURRENT_PER_TEAM = 1
    monitor = make_monitor(alice.personal_team, "http://127.0.0.1:9/")
    lost = CheckNowRequest.objects.create(
        monitor=monitor, requested_at=timezone.now() - check_now_lease() - timedelta(seconds=1)
    )

    again = alice_client.post(f"/api/v1/monitors/{monitor.id}/check-now/")
    gone = alice_client.get(f"/api/v1/monitors/{monitor.id}/check-now/{lost.id}/")

    assert again.status_code == 202
    assert gone.status_code == 410
    assert "ask for a new one" in gone.data["detail"]


@pytest.mark.django_db
def test_a_redelivered_check_now_stores_one_result(alice, target):
    monitor = make_monitor(alice.personal_team, target.url("/ok"))
    asked = CheckNowRequest.objects.create(monitor=monitor)

    first = check_now_run(request_id=asked.id)
    second = check_now_run(request_id=asked.id)

    assert first is not None and first.result is not None
    assert second is None
    assert CheckResult.objects.filter(monitor=monitor).count() == 1


@pytest.mark.django_db
def test_another_teams_check_now_result_is_not_found(alice, bob_client):
    monitor = make_monitor(alice.personal_team, "http://127.0.0.1:9/")
    asked = CheckNowRequest.objects.create(monitor=monitor)

    response = bob_client.get(f"/api/v1/monitors/{monitor.id}/check-now/{asked.id}/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_viewer_may_read_a_check_now_result(make_member, alice_client):
    team, _, viewer_client = make_member("viewer")
    monitor = make_monitor(team, "http://127.0.0.1:9/")
    asked = CheckNowRequest.objects.create(monitor=monitor)

    response = viewer_client.get(f"/api/v1/monitors/{monitor.id}/check-now/{asked.id}/")

    assert response.status_code == 202


@pytest.mark.django_db
@pytest.mark.parametrize("request_id", ["f7cdf87384e5293dc91-dbb50dd-8ebf", "0" * 33, "x" * 32])
def test_a_malformed_check_now_request_id_is_not_found(alice, alice_client, request_id):
    monitor = make_monitor(alice.personal_team, "http://127.0.0.1:9/")

    response = alice_client.get(f"/api/v1/monitors/{monitor.id}/check-now/{request_id}/")

    assert response.status_code == 404
