"""The monitors API through DRF's client: CRUD, validation, filters, pause/resume."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from monitors.models import Monitor, MonitorStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/monitors/"


def payload(**overrides):
    data = {"name": "Orders API", "url": "https://orders.example.com/health"}
    data.update(overrides)
    return data


def create(client, **overrides):
    return client.post(URL, payload(**overrides), format="json")


def test_create_monitor_with_defaults_lands_in_personal_team(alice, alice_client):
    response = create(alice_client)

    assert response.status_code == 201, response.data
    monitor = Monitor.objects.get(pk=response.data["id"])
    assert monitor.team == alice.personal_team
    assert response.data["status"] == "unknown"
    assert response.data["method"] == "GET"
    assert response.data["expected_status"] == "200-299"
    assert response.data["last_checked_at"] is None
    assert response.data["open_incident"] is None


def test_first_check_is_spread_over_the_interval(alice_client):
    before = timezone.now()
    response = create(alice_client, interval=120, timeout=5)
    next_check = Monitor.objects.get(pk=response.data["id"]).next_check_at
    assert before <= next_check <= before + timedelta(seconds=121)


def test_create_with_every_field(alice_client):
    response = create(
        alice_client,
        method="POST",
        headers={"Authorization": "Bearer x", "X-Trace": "1"},
        body='{"ping": true}',
        expected_status="200-299,301",
        timeout=5,
        interval=60,
        failure_threshold=3,
        success_threshold=2,
        follow_redirects=False,
        verify_tls=False,
        assertions=[
            {"type": "json_path_equals", "path": "$.status", "value": "ok"},
            {"type": "body_contains", "value": "ok"},
            {"type": "response_time_below", "value": 500},
        ],
        tags=["prod", "payments"],
    )

    assert response.status_code == 201, response.data
    assert sorted(response.data["tags"]) == ["payments", "prod"]
    assert response.data["failure_threshold"] == 3
    assert response.data["assertions"][0]["path"] == "$.status"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "ftp://example.com/file", "http"),
        ("url", "not a url", "valid URL"),
        ("method", "TRACE", "valid choice"),
        ("expected_status", "200-abc", "not a status code"),
        ("expected_status", "299-200", "low to high"),
        ("expected_status", "700", "between 100 and 599"),
        ("interval", 10, "at least 30"),
        ("timeout", 0, "greater than or equal"),
        ("timeout", 500, "at most"),
        ("failure_threshold", 0, "greater than or equal to 1"),
        ("success_threshold", 0, "greater than or equal to 1"),
        ("headers", {"Bad Header": "x"}, "not a valid header name"),
        ("headers", {"X-Ok": "line\r\nbreak"}, "line break"),
        ("headers", ["Accept"], "must be an object"),
        ("headers", {"X-Token": "x" * 100_000}, "is 100000 bytes; at most 8192 per header"),
        ("headers", {f"X-{i}": "x" * 6000 for i in range(3)}, "at most 16384"),
        ("headers", {"X" * 300: "x"}, "longer than 256 characters"),
        ("assertions", [{"type": "nope"}], "Unknown assertion type"),
        ("assertions", [{"type": "json_path_equals", "path": "$.a"}], "needs value"),
        ("assertions", [{"type": "json_path_exists", "path": "$[["}], "not a valid JSONPath"),
        ("assertions", [{"type": "response_time_below", "value": -1}], "positive number"),
        ("assertions", {"type": "body_contains"}, "must be a list"),
        ("tags", ["ok", "bad<tag>"], "tags are"),
        ("name", "", "may not be blank"),
    ],
)
def test_invalid_field_is_rejected_with_a_field_message(alice_client, field, value, message):
    response = create(alice_client, **{field: value})

    assert response.status_code == 400
    assert field in response.data, response.data
    assert message in str(response.data[field])
    assert not Monitor.objects.exists()


def test_timeout_must_be_below_interval(alice_client):
    response = create(alice_client, timeout=30, interval=30)

    assert response.status_code == 400
    assert "below the interval" in str(response.data["timeout"])


def test_patch_checks_timeout_against_stored_interval(alice_client):
    monitor_id = create(alice_client, interval=30, timeout=5).data["id"]

    response = alice_client.patch(f"{URL}{monitor_id}/", {"timeout": 31}, format="json")

    assert response.status_code == 400
    assert "timeout" in response.data


def test_retrieve_patch_and_delete(alice_client):
    monitor_id = create(alice_client).data["id"]

    assert alice_client.get(f"{URL}{monitor_id}/").data["name"] == "Orders API"
    patched = alice_client.patch(
        f"{URL}{monitor_id}/", {"name": "Orders", "tags": ["prod"]}, format="json"
    )
    assert patched.status_code == 200, patched.data
    assert patched.data["name"] == "Orders"
    assert patched.data["tags"] == ["prod"]
    assert alice_client.delete(f"{URL}{monitor_id}/").status_code == 204
    assert not Monitor.objects.filter(pk=monitor_id).exists()


def test_shorter_interval_brings_next_check_forward(alice_client):
    monitor_id = create(alice_client, interval=3600, timeout=5).data["id"]
    Monitor.objects.filter(pk=monitor_id).update(
        next_check_at=timezone.now() + timedelta(seconds=3000)
    )

    alice_client.patch(f"{URL}{monitor_id}/", {"interval": 30}, format="json")

    next_check = Monitor.objects.get(pk=monitor_id).next_check_at
    assert next_check <= timezone.now() + timedelta(seconds=31)


def test_next_check_at_is_editable(alice_client):
    monitor_id = create(alice_client).data["id"]
    when = (timezone.now() + timedelta(minutes=5)).replace(microsecond=0)

    response = alice_client.patch(
        f"{URL}{monitor_id}/", {"next_check_at": when.isoformat()}, format="json"
    )

    assert response.status_code == 200
    assert Monitor.objects.get(pk=monitor_id).next_check_at == when


def test_read_only_fields_are_ignored_on_write(alice_client):
    monitor_id = create(alice_client).data["id"]

    alice_client.patch(
        f"{URL}{monitor_id}/", {"status": "down", "last_response_time_ms": 5}, format="json"
    )

    monitor = Monitor.objects.get(pk=monitor_id)
    assert monitor.status == MonitorStatus.UNKNOWN
    assert monitor.last_response_time_ms is None


def test_pause_and_resume(alice_client):
    monitor_id = create(alice_client).data["id"]

    paused = alice_client.post(f"{URL}{monitor_id}/pause/")
    assert paused.status_code == 200
    assert paused.data["status"] == "paused"
    assert paused.data["is_active"] is False

    resumed = alice_client.post(f"{URL}{monitor_id}/resume/")
    assert resumed.data["is_active"] is True
    assert resumed.data["status"] == "unknown"
    next_check = Monitor.objects.get(pk=monitor_id).next_check_at
    assert next_check <= timezone.now() + timedelta(seconds=6)


def test_list_is_paginated(alice_client):
    for index in range(7):
        create(alice_client, name=f"m{index}")

    page = alice_client.get(URL, {"page_size": 3})

    assert page.data["count"] == 7
    assert len(page.data["results"]) == 3
    assert page.data["next"] is not None
    last = alice_client.get(URL, {"page_size": 3, "page": 3})
    assert len(last.data["results"]) == 1


def names(response) -> list[str]:
    return sorted(item["name"] for item in response.data["results"])


def test_filters_by_status_tag_active_and_search(alice_client):
    up = create(alice_client, name="Payments", tags=["prod"]).data["id"]
    down = create(alice_client, name="Search", url="https://search.example.com/").data["id"]
    paused = create(alice_client, name="Legacy", tags=["prod"]).data["id"]
    Monitor.objects.filter(pk=up).update(status=MonitorStatus.UP)
    Monitor.objects.filter(pk=down).update(status=MonitorStatus.DOWN)
    alice_client.post(f"{URL}{paused}/pause/")

    assert names(alice_client.get(URL, {"status": "up"})) == ["Payments"]
    assert names(alice_client.get(URL, {"status": "down"})) == ["Search"]
    assert names(alice_client.get(URL, {"status": "paused"})) == ["Legacy"]
    assert names(alice_client.get(URL, {"tag": "prod"})) == ["Legacy", "Payments"]
    assert names(alice_client.get(URL, {"is_active": "false"})) == ["Legacy"]
    assert names(alice_client.get(URL, {"search": "search.example"})) == ["Search"]
    assert names(alice_client.get(URL, {"search": "pay"})) == ["Payments"]
    assert alice_client.get(URL, {"status": "sideways"}).status_code == 400


# --- isolation and roles ---------------------------------------------------------------------


def test_other_users_monitor_is_404_for_every_verb(alice_client, bob_client):
    monitor_id = create(alice_client).data["id"]

    assert bob_client.get(f"{URL}{monitor_id}/").status_code == 404
    assert bob_client.patch(f"{URL}{monitor_id}/", {"name": "x"}).status_code == 404
    assert bob_client.delete(f"{URL}{monitor_id}/").status_code == 404
    assert bob_client.post(f"{URL}{monitor_id}/pause/").status_code == 404
    assert bob_client.get(URL).data["count"] == 0
    assert Monitor.objects.get(pk=monitor_id).name == "Orders API"


def test_cannot_create_in_a_team_you_do_not_belong_to(alice, bob_client):
    response = create(bob_client, team=alice.personal_team.id)

    assert response.status_code == 400
    assert "team" in response.data
    assert not Monitor.objects.exists()


def test_anonymous_is_401(anon_client):
    assert anon_client.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("role", "can_write"),
    [(Role.VIEWER, False), (Role.EDITOR, True), (Role.ADMIN, True), (Role.OWNER, True)],
)
def test_role_rights_on_team_monitors(alice_client, make_member, role, can_write):
    team, _user, client = make_member(role)
    monitor_id = create(alice_client, team=team.id).data["id"]

    assert client.get(f"{URL}{monitor_id}/").status_code == 200
    expected = (200, 201, 204) if can_write else (403,)
    assert client.patch(f"{URL}{monitor_id}/", {"name": "x"}).status_code in expected
    assert client.post(f"{URL}{monitor_id}/pause/").status_code in expected
    assert create(client, team=team.id).status_code in expected
    assert client.delete(f"{URL}{monitor_id}/").status_code in expected
    assert Monitor.objects.filter(pk=monitor_id).exists() is not can_write


def test_monitor_cannot_move_to_another_team(alice, alice_client, make_member):
    team, _user, _client = make_member(Role.EDITOR)
    monitor_id = create(alice_client).data["id"]

    response = alice_client.patch(f"{URL}{monitor_id}/", {"team": team.id}, format="json")

    assert response.status_code == 400
    assert Monitor.objects.get(pk=monitor_id).team == alice.personal_team
