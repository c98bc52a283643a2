"""The check history and check-now endpoints, and schedule changes through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from monitors.models import CheckResult, Monitor
from monitors.scheduling import claim_due_monitors

pytestmark = pytest.mark.django_db


def create_monitor(client, **fields) -> dict:
    data = {"name": "Orders", "url": "http://127.0.0.1:9/health", "interval": 60, "timeout": 5}
    data.update(fields)
    response = client.post("/api/v1/monitors/", data, format="json")
    assert response.status_code == 201, response.data
    return response.data


def add_results(monitor_id: int, statuses: list[str]) -> list[CheckResult]:
    start = timezone.now() - timedelta(minutes=len(statuses))
    return CheckResult.objects.bulk_create(
        CheckResult(
            monitor_id=monitor_id,
            checked_at=start + timedelta(minutes=i),
            scheduled_for=start + timedelta(minutes=i) - timedelta(milliseconds=250),
            status=status,
            status_code=200 if status == "up" else 500,
            response_time_ms=40,
            phase="" if status == "up" else "status",
            reason="HTTP 200" if status == "up" else "HTTP 500, expected 200-299",
        )
        for i, status in enumerate(statuses)
    )


def test_checks_are_listed_newest_first_with_lag(alice_client):
    monitor = create_monitor(alice_client)
    stored = add_results(monitor["id"], ["up", "down", "timeout"])

    response = alice_client.get(f"/api/v1/monitors/{monitor['id']}/checks/")

    assert response.status_code == 200
    rows = response.data["results"]
    assert [row["id"] for row in rows] == [r.id for r in reversed(stored)]
    assert rows[0]["status"] == "timeout"
    assert rows[1]["reason"] == "HTTP 500, expected 200-299"
    assert rows[1]["phase"] == "status"
    assert rows[0]["lag_ms"] == 250


def test_checks_filter_by_status_and_time(alice_client):
    monitor = create_monitor(alice_client)
    stored = add_results(monitor["id"], ["up", "down", "up", "error", "up"])
    url = f"/api/v1/monitors/{monitor['id']}/checks/"

    failed = alice_client.get(url, {"status": ["down", "error"]})
    window = alice_client.get(
        url, {"since": stored[1].checked_at.isoformat(), "until": stored[3].checked_at.isoformat()}
    )

    assert [r["status"] for r in failed.data["results"]] == ["error", "down"]
    assert [r["id"] for r in window.data["results"]] == [stored[2].id, stored[1].id]


def test_checks_are_paginated_with_a_cursor(alice_client):
    monitor = create_monitor(alice_client)
    add_results(monitor["id"], ["up"] * 7)
    url = f"/api/v1/monitors/{monitor['id']}/checks/"

    first = alice_client.get(url, {"page_size": 5})
    second = alice_client.get(first.data["next"])

    assert len(first.data["results"]) == 5
    assert len(second.data["results"]) == 2
    assert second.data["next"] is None


def test_bad_filters_answer_400_with_the_field(alice_client):
    monitor = create_monitor(alice_client)

    response = alice_client.get(
        f"/api/v1/monitors/{monitor['id']}/checks/", {"status": "sideways", "since": "yesterday"}
    )

    assert response.status_code == 400
    assert set(response.data) == {"status", "since"}


def test_another_teams_checks_are_not_found(alice_client, bob_client):
    monitor = create_monitor(alice_client)
    add_results(monitor["id"], ["up"])

    assert bob_client.get(f"/api/v1/monitors/{monitor['id']}/checks/").status_code == 404
    assert bob_client.post(f"/api/v1/monitors/{monitor['id']}/check-now/").status_code == 404


def test_viewer_may_read_checks_but_not_run_one(make_member, alice_client):
    team, _, viewer_client = make_member(Role.VIEWER)
    monitor = create_monitor(alice_client, team=team.id)

    assert viewer_client.get(f"/api/v1/monitors/{monitor['id']}/checks/").status_code == 200
    assert viewer_client.post(f"/api/v1/monitors/{monitor['id']}/check-now/").status_code == 403


# --- schedule sync through the API ------------------------------------------------------


def claimed_ids(now=None) -> set[int]:
    return {claim.monitor_id for claim in claim_due_monitors(now=now or timezone.now())[0]}


def test_new_monitor_first_check_is_jittered_within_its_interval(alice_client):
    before = timezone.now()
    created = [create_monitor(alice_client, name=f"m{i}", interval=300) for i in range(20)]

    deadlines = [Monitor.objects.get(id=m["id"]).next_check_at for m in created]

    assert all(before <= d <= before + timedelta(seconds=301) for d in deadlines)
    assert len({d.replace(microsecond=0) for d in deadlines}) > 5  # not all at :00


def test_schedule_follows_api_changes(alice_client):
    monitor = create_monitor(alice_client, interval=3600, timeout=5)
    url = f"/api/v1/monitors/{monitor['id']}/"
    now = timezone.now()

    # Made due through the API (next_check_at is editable): the dispatcher claims it.
    response = alice_client.patch(url, {"next_check_at": (now - timedelta(seconds=1)).isoformat()})
    assert response.status_code == 200, response.data
    assert claimed_ids(now) == {monitor["id"]}
    after_claim = Monitor.objects.get(id=monitor["id"]).next_check_at
    assert after_claim == now - timedelta(seconds=1) + timedelta(seconds=3600)

    # A shorter interval takes effect now, not after the old hour.
    response = alice_client.patch(url, {"interval": 60})
    assert response.status_code == 200, response.data
    assert Monitor.objects.get(id=monitor["id"]).next_check_at <= timezone.now() + timedelta(
        seconds=60
    )
    assert monitor["id"] in claimed_ids(timezone.now() + timedelta(seconds=61))

    # Paused: never claimed, however overdue.
    assert alice_client.post(f"{url}pause/").status_code == 200
    assert claimed_ids(timezone.now() + timedelta(hours=5)) == set()

    # Resumed: checked within a few seconds.
    assert alice_client.post(f"{url}resume/").status_code == 200
    assert monitor["id"] in claimed_ids(timezone.now() + timedelta(seconds=6))

    # Deleted: gone from the schedule.
    assert alice_client.delete(url).status_code == 204
    assert claimed_ids(timezone.now() + timedelta(hours=5)) == set()
