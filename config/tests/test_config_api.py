"""``POST /api/v1/config/plan/`` and ``/apply/`` for CI, and the document's JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest

from accounts.models import Role
from config.export import export_document
from config.tests.test_plan_apply import DOCUMENT, counts
from monitors.models import Monitor
from monitors.services import monitor_create
from notifications.models import Channel
from notifications.services import channel_create

pytestmark = pytest.mark.django_db

PLAN, APPLY, SCHEMA = "/api/v1/config/plan/", "/api/v1/config/apply/", "/api/v1/config/schema.json"
VARIABLES = {"OPS_SIGNING_SECRET": "s3cret-signing-0123456789", "API_TOKEN": "t0ken"}
MONITORS_ONLY = {"monitors": [{"key": "api", "name": "API", "url": "https://api.example.com/"}]}


def post(client, url, document, **extra):
    return client.post(url, {"document": document, **extra}, format="json")


def test_plan_answers_the_creates_as_json_and_changes_nothing(alice_client):
    response = post(alice_client, PLAN, DOCUMENT, variables=VARIABLES)

    assert response.status_code == 200, response.data
    created = {(item["type"], item["key"]) for item in response.data["creates"]}
    assert created == {
        ("channel", "ops-webhook"),
        ("monitor", "api"),
        ("monitor", "web"),
        ("status page", "public"),
    }
    assert response.data["changes"] == [] and response.data["deletes"] == []
    assert response.data["applied"] is False
    assert "s3cret" not in str(response.data) and "t0ken" not in str(response.data)
    assert counts() == (0, 0, 0)


def test_apply_creates_in_the_personal_team_and_audits_the_user(alice, alice_client):
    response = post(alice_client, APPLY, DOCUMENT, variables=VARIABLES)

    assert response.status_code == 200, response.data
    assert response.data["applied"] is True
    assert Monitor.objects.get(key="api").team == alice.personal_team
    created = alice.personal_team.audit_entries.filter(actor=alice, action="create")
    assert created.exclude(object_type="team").count() == 4


def test_a_second_apply_answers_no_changes(alice_client):
    post(alice_client, APPLY, DOCUMENT, variables=VARIABLES)

    response = post(alice_client, APPLY, DOCUMENT, variables=VARIABLES)

    assert response.data["creates"] == response.data["changes"] == response.data["deletes"] == []


def test_a_change_is_answered_field_by_field(alice_client):
    post(alice_client, APPLY, MONITORS_ONLY)
    changed = {"monitors": [{**MONITORS_ONLY["monitors"][0], "interval": 120}]}

    response = post(alice_client, PLAN, changed)

    assert response.data["changes"] == [
        {"type": "monitor", "key": "api", "fields": {"interval": [60, 120]}}
    ]


def test_errors_are_400_with_document_line_field_reason(alice_client):
    text = "monitors:\n  - key: api\n    name: API\n    url: ftp://files.example.com/\n"

    response = post(alice_client, APPLY, text)

    assert response.status_code == 400
    assert response.data == {
        "errors": ["document:4: monitors.api.url: Only http:// and https:// URLs can be monitored."]
    }
    assert counts() == (0, 0, 0)


def test_secrets_come_from_the_request_variables_never_the_server_environment(
    alice_client, monkeypatch
):
    monkeypatch.setenv("API_TOKEN", "from-the-server")

    response = post(alice_client, APPLY, DOCUMENT, variables={"OPS_SIGNING_SECRET": "x" * 20})

    assert response.status_code == 400
    assert any("The variable API_TOKEN is not set." in line for line in response.data["errors"])


def test_an_editor_applies_monitors(make_member):
    team, _, client = make_member(Role.EDITOR)

    response = post(client, APPLY, MONITORS_ONLY, team=team.id)

    assert response.status_code == 200 and Monitor.objects.get(key="api").team == team


def test_a_viewer_may_not_plan(make_member):
    team, _, client = make_member(Role.VIEWER)

    assert post(client, PLAN, MONITORS_ONLY, team=team.id).status_code == 403


def test_an_editor_may_not_apply_channels(make_member):
    team, _, client = make_member(Role.EDITOR)

    response = post(client, APPLY, DOCUMENT, team=team.id, variables=VARIABLES)

    assert response.status_code == 403 and counts() == (0, 0, 0)


def test_an_editor_may_not_prune_channels_away(make_member):
    team, owner, client = make_member(Role.EDITOR)
    channel_create(team=team, name="Mail", kind="email", config={"to": [owner.email]})

    response = post(client, APPLY, MONITORS_ONLY, team=team.id, prune=True)

    assert response.status_code == 403
    assert Channel.objects.filter(team=team).count() == 1 and counts()[0] == 0


def test_an_admin_applies_channels(make_member):
    team, _, client = make_member(Role.ADMIN)

    response = post(client, APPLY, DOCUMENT, team=team.id, variables=VARIABLES)

    assert response.status_code == 200 and Channel.objects.get(key="ops-webhook").team == team


def test_another_teams_objects_are_neither_seen_nor_pruned(alice_client, bob):
    bobs = monitor_create(team=bob.personal_team, name="API", url="https://bob.example.com/")

    response = post(alice_client, APPLY, MONITORS_ONLY, prune=True)

    assert response.data["deletes"] == []
    assert [c["key"] for c in response.data["creates"]] == ["api"]
    assert Monitor.objects.get(pk=bobs.pk).url == "https://bob.example.com/"


def test_a_team_the_user_is_not_in_is_refused(alice_client, bob):
    response = post(alice_client, APPLY, MONITORS_ONLY, team=bob.personal_team.id)

    assert response.status_code == 400
    assert response.data["errors"][0].startswith("team: ")
    assert counts() == (0, 0, 0)


def test_the_schema_is_public_and_validates_an_exported_document(alice, alice_client, anon_client):
    post(alice_client, APPLY, DOCUMENT, variables=VARIABLES)

    response = anon_client.get(SCHEMA)

    assert response.status_code == 200
    jsonschema.validate(export_document(alice.personal_team), response.json())


def test_the_schema_refuses_an_unknown_field_and_a_bad_choice(anon_client):
    schema = anon_client.get(SCHEMA).json()
    monitor = {"key": "api", "name": "API", "url": "https://a.example.com/"}

    jsonschema.validate({"monitors": [monitor]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"monitors": [{**monitor, "intervall": 30}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"monitors": [{**monitor, "method": "FETCH"}]}, schema)


def test_the_schema_requires_a_key(anon_client):
    schema = anon_client.get(SCHEMA).json()

    with pytest.raises(jsonschema.ValidationError, match="'key' is a required property"):
        jsonschema.validate({"monitors": [{"name": "API", "url": "https://a.io/"}]}, schema)


def test_a_body_that_is_no_json_answers_400_with_errors_lines(alice_client):
    response = alice_client.post(
        "/api/v1/config/plan/", data=b"\x00", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("request: JSON parse error")


def test_a_request_without_a_document_answers_400_with_errors_lines(alice_client):
    response = alice_client.post("/api/v1/config/plan/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {"errors": ["document: This field is required."]}
