"""A broken document is refused whole: non-zero exit, one ``file:line: field: reason`` line
per problem, and nothing changed."""

from __future__ import annotations

import pytest

from config.tests.test_plan_apply import counts, run, write
from monitors.services import monitor_create

pytestmark = pytest.mark.django_db

GOOD_MONITOR = """\
  - key: api
    name: API
    url: https://api.example.com/
"""


def apply_broken(alice, tmp_path, text: str) -> tuple[int, list[str]]:
    monitor_create(team=alice.personal_team, name="Existing", url="https://old.example.com/")
    before = counts()
    path = write(tmp_path, text)
    code, _, err = run("apply", "-f", str(path), "--team", str(alice.personal_team.id), "--prune")
    assert counts() == before, "a broken document changed something"
    return code, [line.replace(f"{path}:", "FILE:") for line in err.splitlines()]


def test_an_unknown_field_is_refused_with_the_fields_there_are(alice, tmp_path):
    code, errors = apply_broken(
        alice, tmp_path, "monitors:\n" + GOOD_MONITOR + "    intervall: 30\n"
    )

    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith(
        "FILE:5: monitors.api.intervall: Unknown field; a monitor has key, name,"
    )


def test_a_bad_value_is_refused_with_the_apis_reason(alice, tmp_path):
    code, errors = apply_broken(
        alice, tmp_path, "monitors:\n" + GOOD_MONITOR + "    interval: 10\n    timeout: 5\n"
    )

    assert code == 1
    assert errors == ["FILE:5: monitors.api.interval: The interval must be at least 30 seconds."]


def test_a_duplicate_key_names_where_it_was_first_used(alice, tmp_path):
    code, errors = apply_broken(alice, tmp_path, "monitors:\n" + GOOD_MONITOR + GOOD_MONITOR)

    assert code == 1
    assert errors == ["FILE:5: monitors.api.key: Duplicate key; first used at FILE:2."]


def test_a_field_written_twice_in_one_object_is_refused(alice, tmp_path):
    code, errors = apply_broken(alice, tmp_path, "monitors:\n" + GOOD_MONITOR + "    name: Again\n")

    assert code == 1
    assert errors == ["FILE:5: name: Duplicate field."]


def test_missing_secret_variable_is_named(alice, tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    text = (
        "monitors:\n" + GOOD_MONITOR + '    headers: {Authorization: "Bearer ${NOT_SET_TOKEN}"}\n'
    )

    code, errors = apply_broken(alice, tmp_path, text)

    assert code == 1
    assert errors == ["FILE:5: monitors.api.headers: The variable NOT_SET_TOKEN is not set."]


def test_a_reference_to_an_unknown_key_is_refused(alice, tmp_path):
    code, errors = apply_broken(
        alice, tmp_path, "monitors:\n" + GOOD_MONITOR + "    channels: [pager]\n"
    )

    assert code == 1
    assert errors == [
        "FILE:5: monitors.api.channels: No channel has the key 'pager' in the document "
        "(--prune deletes the others)."
    ]


def test_a_yaml_syntax_error_has_its_line(alice, tmp_path):
    code, errors = apply_broken(alice, tmp_path, "monitors:\n  - key: api\n    name: [unclosed\n")

    assert code == 1
    assert len(errors) == 1 and errors[0].startswith("FILE:4: document: ")


def test_an_unknown_section_is_refused(alice, tmp_path):
    code, errors = apply_broken(alice, tmp_path, "monitor:\n" + GOOD_MONITOR)

    assert code == 1
    assert errors == [
        "FILE:1: monitor: Unknown section; expected channels, monitors, "
        "escalation_policies, status_pages, maintenance_windows."
    ]


def test_every_problem_is_reported_not_only_the_first(alice, tmp_path):
    text = (
        "monitors:\n" + GOOD_MONITOR + "    colour: red\n  - name: No key\n    url: https://b.io/\n"
    )

    code, errors = apply_broken(alice, tmp_path, text)

    assert code == 1 and len(errors) == 2
    assert errors[1] == "FILE:6: monitors.?.key: This field is required."


def test_a_problem_found_while_writing_rolls_back_the_whole_apply(alice, tmp_path, settings):
    # The quota is counted by the service for each create: the second monitor is refused
    # after the first was written, and the first is rolled back with it.
    settings.TEAM_MAX_MONITORS = 2
    text = "monitors:\n" + GOOD_MONITOR + GOOD_MONITOR.replace("key: api", "key: web")

    code, errors = apply_broken(alice, tmp_path, text)

    assert code == 1
    assert len(errors) == 1 and errors[0].startswith("FILE:5: monitors.web: ")
