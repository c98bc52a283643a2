"""api monitors through the REST API: steps validated with messages naming step and field;
team variables write-only (never returned, never audited with their value)."""

from __future__ import annotations

import json

import pytest

from accounts.models import AuditEntry, Role
from monitors.models import Monitor, TeamVariable

pytestmark = pytest.mark.django_db

SECRET = "p4ssw0rd-of-the-probe-user"
LOGIN = {
    "name": "log in",
    "method": "POST",
    "url": "https://api.example.com/login",
    "body": '{"password": "{{password}}"}',
    "extract": [{"var": "token", "from": "json", "path": "$.token"}],
}
ORDERS = {
    "name": "get orders",
    "url": "https://api.example.com/orders",
    "headers": {"Authorization": "Bearer {{token}}"},
    "assertions": [{"type": "json_path_exists", "path": "$.orders"}],
}


def create_api_monitor(client, steps: list, **fields):
    payload = {"name": "Orders", "kind": "api", "steps": steps, **fields}
    return client.post("/api/v1/monitors/", payload, format="json")


@pytest.fixture
def password(alice):
    return TeamVariable.objects.create(team=alice.personal_team, name="password", value=SECRET)


def test_an_api_monitor_is_created_with_its_steps(alice_client, password):
    response = create_api_monitor(alice_client, [LOGIN, ORDERS])

    assert response.status_code == 201, response.content
    assert response.json()["steps"] == [LOGIN, ORDERS]
    monitor = Monitor.objects.get()
    assert (
        monitor.target == "POST https://api.example.com/login → GET https://api.example.com/orders"
    )


def test_steps_are_encrypted_at_rest(alice_client, password):
    create_api_monitor(alice_client, [LOGIN, ORDERS])
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT steps::text FROM monitors_monitor")
        (stored,) = cursor.fetchone()
    assert "api.example.com" not in stored


def test_an_invalid_json_path_names_the_step_and_rule(alice_client, password):
    bad = {**ORDERS, "extract": [{"var": "n", "from": "json", "path": "$.["}]}
    response = create_api_monitor(alice_client, [LOGIN, bad])

    assert response.status_code == 400
    assert response.json()["steps"] == ["steps[1].extract[0].path: '$.[' is not a valid JSONPath."]


def test_an_unknown_variable_is_refused_at_save_time(alice_client, password):
    response = create_api_monitor(alice_client, [ORDERS])

    assert response.status_code == 400
    assert response.json()["steps"] == [
        "steps[0]: unknown variable {{token}}: neither extracted by an earlier step nor a "
        "team variable."
    ]


def test_a_variable_extracted_only_by_a_later_step_is_unknown(alice_client, password):
    response = create_api_monitor(alice_client, [ORDERS, LOGIN])

    assert response.status_code == 400
    assert "steps[0]: unknown variable {{token}}" in response.json()["steps"][0]


def test_each_malformed_field_of_a_step_is_named(alice_client, password):
    broken = {
        "name": "",
        "url": "ftp://files",
        "method": "FETCH",
        "expected_status": "abc",
        "extract": [{"var": "1x", "from": "regex", "pattern": "no group"}],
    }
    response = create_api_monitor(alice_client, [broken])

    assert response.status_code == 400
    messages = response.json()["steps"]
    for prefix in (
        "steps[0].name:",
        "steps[0].url:",
        "steps[0].method:",
        "steps[0].expected_status:",
        "steps[0].extract[0].var:",
        "steps[0].extract[0].pattern: the pattern needs a group",
    ):
        assert any(message.startswith(prefix) for message in messages), (prefix, messages)


def test_at_most_ten_steps(alice_client, password):
    response = create_api_monitor(alice_client, [LOGIN] * 11)

    assert response.status_code == 400
    assert response.json()["steps"] == ["steps: at most 10 steps."]


def test_an_api_monitor_needs_steps(alice_client):
    response = create_api_monitor(alice_client, [])

    assert response.status_code == 400
    assert response.json()["steps"] == [
        "This field is required for api monitors: a list of 1 to 10 steps."
    ]


def test_an_http_monitor_refuses_steps(alice_client, password):
    payload = {"name": "Site", "kind": "http", "url": "https://example.com", "steps": [LOGIN]}
    response = alice_client.post("/api/v1/monitors/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["steps"] == ["http monitors do not use steps."]


def test_the_schema_documents_steps_and_variables(alice_client):
    schema = json.loads(alice_client.get("/api/schema/?format=json").content)

    assert (
        "extract"
        in schema["components"]["schemas"]["Monitor"]["properties"]["steps"]["description"]
    )
    assert "/api/v1/variables/" in schema["paths"]


# --- Team variables ---------------------------------------------------------------------------


def test_a_variable_value_is_never_returned(alice, alice_client):
    created = alice_client.post(
        "/api/v1/variables/", {"name": "password", "value": SECRET}, format="json"
    )
    assert created.status_code == 201, created.content
    variable_id = created.json()["id"]
    changed = alice_client.patch(
        f"/api/v1/variables/{variable_id}/", {"value": SECRET + "-2"}, format="json"
    )
    listed = alice_client.get("/api/v1/variables/")
    shown = alice_client.get(f"/api/v1/variables/{variable_id}/")

    for response in (created, changed, listed, shown):
        assert response.status_code == 200 or response.status_code == 201
        assert SECRET not in response.content.decode()
    assert shown.json()["name"] == "password"
    assert "value" not in shown.json()
    assert TeamVariable.objects.get().value == SECRET + "-2"


def test_variables_are_audited_without_their_value(alice_client):
    created = alice_client.post(
        "/api/v1/variables/", {"name": "password", "value": SECRET}, format="json"
    )
    url = f"/api/v1/variables/{created.json()['id']}/"
    alice_client.patch(url, {"value": "another-s3cret-value"}, format="json")
    alice_client.delete(url)

    entries = AuditEntry.objects.filter(object_type="teamvariable").order_by("id")
    assert [entry.action for entry in entries] == ["create", "update", "delete"]
    assert entries[1].changes == {"value": "changed"}
    text = json.dumps([[e.changes, e.object_label] for e in entries])
    assert SECRET not in text
    assert "another-s3cret-value" not in text


def test_an_editor_cannot_write_variables(make_member):
    team, _, editor = make_member(Role.EDITOR)

    response = editor.post(
        "/api/v1/variables/", {"team": team.id, "name": "password", "value": SECRET}, format="json"
    )

    assert response.status_code == 403
    assert not TeamVariable.objects.exists()


def test_an_admin_of_a_shared_team_writes_its_variables(make_member):
    team, _, admin = make_member(Role.ADMIN)

    response = admin.post(
        "/api/v1/variables/", {"team": team.id, "name": "password", "value": SECRET}, format="json"
    )

    assert response.status_code == 201, response.content
    assert TeamVariable.objects.get().team == team


def test_a_variable_name_is_unique_in_its_team(alice_client, password):
    response = alice_client.post(
        "/api/v1/variables/", {"name": "password", "value": "x" * 8}, format="json"
    )

    assert response.status_code == 400
