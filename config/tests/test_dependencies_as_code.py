"""Monitor dependencies in documents: ``depends_on`` by key, through plan, apply and export."""

from __future__ import annotations

import pytest
import yaml

from config.tests.test_plan_apply import run, write
from incidents.models import MonitorDependency
from monitors.models import Monitor

pytestmark = pytest.mark.django_db

# "api" names "gateway" before the document creates it: references within the section are
# written once every monitor exists.
DOCUMENT = """\
monitors:
  - key: api
    name: API
    url: https://api.example.com/health
    depends_on: [gateway]
  - key: gateway
    name: Gateway
    url: https://gw.example.com/health
    flap_threshold: 3
"""


def links() -> list[tuple[str, str]]:
    rows = MonitorDependency.objects.values_list("child__key", "parent__key")
    return sorted(rows)


def test_apply_writes_dependencies_by_key_and_export_round_trips(alice, tmp_path):
    team = str(alice.personal_team.id)
    code, _, err = run("apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", team)
    assert code == 0, err
    assert links() == [("api", "gateway")]
    assert Monitor.objects.get(key="gateway").flap_threshold == 3

    code, exported, _ = run("export", "--team", team)
    assert code == 0
    by_key = {m["key"]: m for m in yaml.safe_load(exported)["monitors"]}
    assert by_key["api"]["depends_on"] == ["gateway"]
    assert by_key["gateway"]["depends_on"] == []
    code, out, _ = run("apply", "-f", str(write(tmp_path, exported, "again.yaml")), "--team", team)
    assert code == 0 and out.strip() == "No changes."


def test_a_dependency_turned_around_is_not_a_cycle(alice, tmp_path):
    team = str(alice.personal_team.id)
    run("apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", team)
    turned = DOCUMENT.replace("    depends_on: [gateway]\n", "").replace(
        "    flap_threshold: 3\n", "    flap_threshold: 3\n    depends_on: [api]\n"
    )
    code, _, err = run("apply", "-f", str(write(tmp_path, turned, "t.yaml")), "--team", team)
    assert code == 0, err
    assert links() == [("gateway", "api")]


def test_a_cycle_in_the_document_fails_the_apply_and_changes_nothing(alice, tmp_path):
    team = str(alice.personal_team.id)
    cyclic = DOCUMENT + "    depends_on: [api]\n"
    code, _, err = run("apply", "-f", str(write(tmp_path, cyclic)), "--team", team)
    assert code != 0
    assert "would make a cycle" in err
    assert not Monitor.objects.exists()


def test_an_unknown_key_is_a_plan_problem(alice, tmp_path):
    team = str(alice.personal_team.id)
    broken = DOCUMENT.replace("[gateway]", "[nowhere]")
    code, _, err = run("plan", "-f", str(write(tmp_path, broken)), "--team", team)
    assert code != 0
    assert "No monitor has the key 'nowhere'" in err
