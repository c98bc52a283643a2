"""Hostile text sent to plan and import: a 400 naming the problem, quickly, never a 500.

PyYAML composes recursively and expands an alias to its anchor's whole value, so a few
hundred bytes could raise RecursionError or make the server walk millions of values."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.django_db

PLAN = "/api/v1/config/plan/"
IMPORT = "/api/v1/config/import/"
DEEP = "[" * 5000 + "]" * 5000
# Each line repeats the one above nine times: 9**7 = 4.8 million strings from 240 bytes.
ALIASES = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{above}'] * 9)}]\n"
    for above, name in zip("abcdef", "bcdefg", strict=True)
)


def test_a_deeply_nested_document_is_a_400_naming_the_depth(alice_client):
    response = alice_client.post(PLAN, {"document": DEEP}, format="json")

    assert response.status_code == 400
    assert response.data["errors"] == [
        "document:1: document: Nested too deeply (more than 64 levels)."
    ]


def test_a_deeply_nested_gatus_file_is_a_400(alice_client):
    response = alice_client.post(IMPORT, {"source": "gatus", "content": DEEP}, format="json")

    assert response.status_code == 400
    assert "Nested too deeply" in response.data["errors"][0]


def test_aliases_expanding_to_millions_of_values_are_refused_at_once(alice_client):
    text = ALIASES + "endpoints:\n  - name: api\n    url: https://e.org/\n    conditions: *g\n"

    started = time.monotonic()
    response = alice_client.post(IMPORT, {"source": "gatus", "content": text}, format="json")

    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert response.data["errors"] == [
        "content:1: document: More than 200000 values once its aliases are expanded."
    ]


def test_aliases_in_a_document_to_plan_are_refused_too(alice_client):
    text = (
        ALIASES + "monitors:\n  - key: api\n    name: API\n    url: https://e.org/\n    tags: *g\n"
    )

    response = alice_client.post(PLAN, {"document": text}, format="json")

    assert response.status_code == 400
    assert "aliases are expanded" in response.data["errors"][0]


@pytest.mark.parametrize("text", ["monitors: &m [*m]\n", "monitors: &m [{key: x, tags: *m}]\n"])
def test_an_alias_inside_its_own_value_is_a_400(alice_client, text):
    response = alice_client.post(PLAN, {"document": text}, format="json")

    assert response.status_code == 400
    assert response.data["errors"] == [
        "document:1: document: An alias refers to a value that contains it."
    ]


def test_aliases_nesting_deeper_than_the_text_shows_are_a_400(alice_client):
    chain = "x0: &x0 {k: v}\n" + "".join(f"x{i}: &x{i} {{k: *x{i - 1}}}\n" for i in range(1, 400))
    text = chain + "monitors:\n  - {key: api, name: API, url: 'https://e.org/', headers: *x399}\n"

    response = alice_client.post(PLAN, {"document": text}, format="json")

    assert response.status_code == 400
    assert "Nested too deeply (more than 64 levels)." in response.data["errors"][0]


def test_a_few_aliases_still_work(alice_client):
    text = (
        "x-defaults: &defaults {interval: 60, expected_status: '200'}\n"
        "endpoints:\n"
        "  - {name: api, url: 'https://api.example.org/', conditions: ['[STATUS] == 200']}\n"
    )
    response = alice_client.post(IMPORT, {"source": "gatus", "content": text}, format="json")

    assert response.status_code == 200, response.data
    assert [m["key"] for m in response.data["document"]["monitors"]] == ["api"]


def test_a_deeply_nested_kuma_backup_is_a_400(alice_client):
    response = alice_client.post(IMPORT, {"source": "uptime-kuma", "content": DEEP}, format="json")

    assert response.status_code == 400
    assert "nested too deeply" in response.data["errors"][0]


def test_a_deeply_nested_kuma_notification_config_is_reported_not_a_500(alice_client):
    backup = {
        "monitorList": [],
        "notificationList": [{"id": 1, "name": "Ops", "config": DEEP}],
    }
    content = json.dumps(backup)

    response = alice_client.post(
        IMPORT, {"source": "uptime-kuma", "content": content}, format="json"
    )

    assert response.status_code == 200, response.data
    assert response.data["report"]["untranslated"][0]["why"] == "its config is not JSON"


def test_a_document_naming_more_monitors_than_a_team_may_hold_is_refused_at_once(
    alice_client, settings
):
    settings.TEAM_MAX_MONITORS = 1000
    monitors = [{"key": f"m{i}", "name": f"m{i}", "url": "https://e.org/"} for i in range(1001)]

    started = time.monotonic()
    response = alice_client.post(PLAN, {"document": {"monitors": monitors}}, format="json")

    assert time.monotonic() - started < 5  # validating them all took 17 s
    assert response.status_code == 400
    assert response.data["errors"] == [
        "document: monitors: The document names 1001; a team holds at most 1000 "
        "(TEAM_MAX_MONITORS)."
    ]


def test_an_import_naming_more_channels_than_a_team_may_hold_is_refused(alice_client, settings):
    settings.TEAM_MAX_CHANNELS = 2
    text = "alerting:\n" + "".join(
        f"  {kind}:\n    webhook-url: https://hooks.example.org/{kind}\n"
        for kind in ("slack", "discord", "mattermost")
    )

    response = alice_client.post(IMPORT, {"source": "gatus", "content": text}, format="json")

    assert response.status_code == 400
    assert "a team holds at most 2 (TEAM_MAX_CHANNELS)" in response.data["errors"][0]
