"""``POST /api/v1/config/import/``: the document, the report and the plan, for a team."""

from __future__ import annotations

import pytest

from accounts.models import Role
from config.tests.test_import_command import FIXTURES, GATUS_VARIABLES, KUMA_VARIABLES
from monitors.models import Monitor
from notifications.models import Channel

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/config/import/"
KUMA = (FIXTURES / "kuma/backup-1.23.json").read_text()
GATUS = [(FIXTURES / f"gatus/multi/{n}.yaml").read_text() for n in ("alerting", "endpoints")]
ENDPOINTS_ONLY = "endpoints:\n  - name: api\n    url: https://api.example.org/\n"


def post(client, **body):
    return client.post(IMPORT, body, format="json")


def test_import_answers_the_document_the_report_and_the_plan_and_creates_nothing(alice_client):
    response = post(alice_client, source="uptime-kuma", content=KUMA, variables=KUMA_VARIABLES)

    assert response.status_code == 200, response.data
    assert [m["key"] for m in response.data["document"]["monitors"]][:2] == [
        "website", "login-page",
    ]  # fmt: skip
    untranslated = response.data["report"]["untranslated"]
    assert {
        "kind": "postgres monitor",
        "where": "Kuma monitor 9",
        "name": "Orders DB",
        "why": "healthmon does not query databases",
    } in untranslated
    assert {v["name"] for v in response.data["report"]["variables"]} == set(KUMA_VARIABLES)
    assert len(response.data["plan"]["creates"]) == 14
    assert response.data["plan"]["applied"] is False
    assert Monitor.objects.count() == Channel.objects.count() == 0
    assert "Bearer abcdefghijkl" not in str(response.data)  # a variable's value never comes back


def test_import_with_apply_creates_and_a_second_one_changes_nothing(alice, alice_client):
    body = {"source": "gatus", "content": GATUS, "variables": GATUS_VARIABLES, "apply": True}

    response = post(alice_client, **body)

    assert response.status_code == 200, response.data
    assert response.data["plan"]["applied"] is True
    assert Monitor.objects.filter(team=alice.personal_team).count() == 2
    assert Channel.objects.filter(team=alice.personal_team).count() == 9
    again = post(alice_client, **body)
    assert again.data["plan"] == {"creates": [], "changes": [], "deletes": [], "applied": True}


def test_a_missing_variable_is_a_400_that_still_shows_the_translation(alice_client):
    response = post(alice_client, source="gatus", content=GATUS, variables={})

    assert response.status_code == 400
    assert (
        "gatus import: channels.telegram.secrets: The variable CHANNEL_TELEGRAM_TOKEN is "
        "not set." in response.data["errors"]
    )
    assert response.data["document"]["channels"][0]["key"] == "discord"
    assert Channel.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"source": "nagios", "content": "x"}, 'source: "nagios" is not a valid choice.'),
        ({"source": "gatus", "content": 3}, "content: A text, or a list of texts."),
        ({"source": "uptime-kuma", "content": "{"}, "content:1: document: Not valid JSON: "),
        ({"source": "uptime-kuma", "content": [KUMA, KUMA]},
         "content[1]: files: An Uptime Kuma import reads one backup file."),
        ({"source": "gatus", "content": "endpoints: ["}, "content:1: document: "),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_with_error_lines(alice_client, body, error):
    response = post(alice_client, **body)

    assert response.status_code == 400
    assert response.data["errors"][0].startswith(error), response.data


def test_the_team_is_chosen_as_on_other_config_endpoints(make_member):
    team, _, editor = make_member(Role.EDITOR)

    response = post(editor, source="gatus", content=ENDPOINTS_ONLY, team=team.id, apply=True)

    assert response.status_code == 200, response.data
    assert Monitor.objects.get(key="api").team == team


def test_another_teams_import_is_refused(bob_client, alice):
    response = post(bob_client, source="gatus", content=ENDPOINTS_ONLY, team=alice.personal_team.id)

    assert response.status_code == 400
    assert response.data["errors"][0].startswith("team: ")
    assert Monitor.objects.count() == 0


def test_plans_compare_with_the_chosen_team_only(alice_client, bob_client, bob):
    post(bob_client, source="gatus", content=ENDPOINTS_ONLY, apply=True)

    response = post(alice_client, source="gatus", content=ENDPOINTS_ONLY)

    # bob's monitor with the same key is not alice's: hers is still to create.
    assert [c["key"] for c in response.data["plan"]["creates"]] == ["api"]
    assert Monitor.objects.get(key="api").team == bob.personal_team


def test_a_viewer_may_not_import_and_channels_need_an_admin(make_member):
    team, _, viewer = make_member(Role.VIEWER)
    _, _, editor = make_member(Role.EDITOR, "ed@example.com")

    as_viewer = post(viewer, source="gatus", content=ENDPOINTS_ONLY, team=team.id)
    as_editor = post(editor, source="gatus", content=GATUS, team=team.id, variables=GATUS_VARIABLES)

    assert as_viewer.status_code == 403
    assert as_editor.status_code == 403
    assert "admins" in str(as_editor.data["detail"])


def test_the_report_says_what_each_variable_holds_never_its_value(alice_client):
    response = post(alice_client, source="uptime-kuma", content=KUMA, variables=KUMA_VARIABLES)

    assert {
        "name": "MONITOR_API_STATUS_HEADERS_X_API_KEY",
        "what": "the X-Api-Key header of monitor 'API status' (Kuma monitor 4)",
    } in response.data["report"]["variables"]
