"""``manage.py monitors plan/apply/export``: a document of a team's monitors, channels and
status pages, planned, applied (atomically, idempotently) and exported back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from accounts.models import AuditEntry
from monitors.models import Monitor, StatusPage
from monitors.services import monitor_create
from notifications.models import Channel

pytestmark = pytest.mark.django_db

DOCUMENT = """\
channels:
  - key: ops-webhook
    name: Ops webhook
    kind: webhook
    config: {url: "https://hooks.example.com/ops"}
    secrets: {signing_secret: "${OPS_SIGNING_SECRET}"}
monitors:
  - key: api
    name: API
    url: https://api.example.com/health
    interval: 60
    timeout: 5
    expected_status: "200-299, 301"
    headers: {Authorization: "Bearer ${API_TOKEN}"}
    tags: [prod, api]
    channels: [ops-webhook]
  - key: web
    name: Web
    url: https://www.example.com/
status_pages:
  - key: public
    slug: acme-status
    title: Acme status
    monitors: [api, web]
"""


@pytest.fixture
def secrets_env(monkeypatch):
    monkeypatch.setenv("OPS_SIGNING_SECRET", "s3cret-signing-0123456789")
    monkeypatch.setenv("API_TOKEN", "t0ken")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("monitors", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        assert isinstance(exit_.code, int)
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str, name: str = "monitors.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def counts() -> tuple[int, int, int]:
    return Monitor.objects.count(), Channel.objects.count(), StatusPage.objects.count()


def test_plan_lists_what_would_be_created_and_changes_nothing(alice, tmp_path, secrets_env):
    team = str(alice.personal_team.id)

    code, out, err = run("plan", "-f", str(write(tmp_path, DOCUMENT)), "--team", team)

    assert code == 0, err
    assert "+ channel ops-webhook" in out and "+ monitor api" in out and "+ monitor web" in out
    assert "+ status page public" in out
    assert "Plan: 4 to create, 0 to change, 0 to delete." in out
    assert "s3cret" not in out and "t0ken" not in out
    assert counts() == (0, 0, 0)


def test_apply_creates_the_objects_with_their_references_and_secrets(alice, tmp_path, secrets_env):
    code, _, err = run(
        "apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", str(alice.personal_team.id)
    )

    assert code == 0, err
    api = Monitor.objects.get(team=alice.personal_team, key="api")
    assert api.headers == {"Authorization": "Bearer t0ken"}
    assert api.expected_status == "200-299,301"
    assert sorted(t.name for t in api.tags.all()) == ["api", "prod"]
    channel = Channel.objects.get(key="ops-webhook")
    assert list(api.channels.all()) == [channel]
    assert channel.secrets["signing_secret"] == "s3cret-signing-0123456789"
    page = StatusPage.objects.get(key="public")
    assert sorted(m.key for m in page.monitors.all()) == ["api", "web"]
    assert AuditEntry.objects.filter(action="create", actor=None).count() == 4


def test_a_second_apply_of_the_same_document_changes_nothing(alice, tmp_path, secrets_env):
    path, team = str(write(tmp_path, DOCUMENT)), str(alice.personal_team.id)
    run("apply", "-f", path, "--team", team)
    entries = AuditEntry.objects.count()

    code, out, _ = run("apply", "-f", path, "--team", team)

    assert code == 0 and out.strip() == "No changes."
    assert AuditEntry.objects.count() == entries


def test_plan_shows_a_change_field_by_field_with_secrets_masked(
    alice, tmp_path, secrets_env, monkeypatch
):
    team = str(alice.personal_team.id)
    run("apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", team)
    monkeypatch.setenv("API_TOKEN", "rotated")
    changed = DOCUMENT.replace("interval: 60", "interval: 120")

    code, out, _ = run("plan", "-f", str(write(tmp_path, changed)), "--team", team)

    assert code == 0
    assert "~ monitor api" in out
    assert "    interval: 60 -> 120" in out
    assert "    headers.Authorization: (secret changed)" in out
    assert "rotated" not in out and "t0ken" not in out
    assert "Plan: 0 to create, 1 to change, 0 to delete." in out


def test_apply_changes_only_what_differs(alice, tmp_path, secrets_env):
    team = str(alice.personal_team.id)
    run("apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", team)
    before = Monitor.objects.get(key="web")

    run(
        "apply",
        "-f",
        str(write(tmp_path, DOCUMENT.replace("interval: 60", "interval: 90"))),
        "--team",
        team,
    )

    assert Monitor.objects.get(key="api").interval == 90
    assert Monitor.objects.get(key="web").updated_at == before.updated_at


def test_objects_not_in_the_document_are_left_alone_without_prune(alice, tmp_path, secrets_env):
    other = monitor_create(
        team=alice.personal_team, name="Legacy", url="https://legacy.example.com/"
    )

    code, out, _ = run(
        "apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", str(alice.personal_team.id)
    )

    assert code == 0 and "legacy" not in out
    assert Monitor.objects.filter(pk=other.pk).exists()


def test_prune_deletes_objects_the_document_does_not_name(alice, tmp_path, secrets_env):
    other = monitor_create(
        team=alice.personal_team, name="Legacy", url="https://legacy.example.com/"
    )
    path, team = str(write(tmp_path, DOCUMENT)), str(alice.personal_team.id)

    _, plan_out, _ = run("plan", "-f", path, "--team", team, "--prune")
    code, _, _ = run("apply", "-f", path, "--team", team, "--prune")

    assert "- monitor legacy" in plan_out
    assert code == 0 and not Monitor.objects.filter(pk=other.pk).exists()
    assert AuditEntry.objects.filter(action="delete", object_id=str(other.pk)).exists()


def test_prune_leaves_other_teams_alone(alice, bob, tmp_path, secrets_env):
    bobs = monitor_create(team=bob.personal_team, name="Bob's", url="https://bob.example.com/")

    run(
        "apply",
        "-f",
        str(write(tmp_path, DOCUMENT)),
        "--team",
        str(alice.personal_team.id),
        "--prune",
    )

    assert Monitor.objects.filter(pk=bobs.pk).exists()


def test_a_directory_of_files_is_one_document(alice, tmp_path, secrets_env):
    channels, rest = DOCUMENT.split("monitors:\n")
    write(tmp_path, channels, "10-channels.yaml")
    write(tmp_path, "monitors:\n" + rest, "20-monitors.yml")

    code, _, err = run("apply", "-f", str(tmp_path), "--team", str(alice.personal_team.id))

    assert code == 0, err
    assert counts() == (2, 1, 1)


def test_json_documents_are_read_too(alice, tmp_path, secrets_env):
    document = {"monitors": [{"key": "api", "name": "API", "url": "https://api.example.com/"}]}
    path = write(tmp_path, json.dumps(document), "monitors.json")

    code, _, err = run("apply", "-f", str(path), "--team", str(alice.personal_team.id))

    assert code == 0, err
    assert Monitor.objects.get().key == "api"


def test_export_then_apply_is_a_no_op(alice, tmp_path, secrets_env, monkeypatch):
    team = str(alice.personal_team.id)
    run("apply", "-f", str(write(tmp_path, DOCUMENT)), "--team", team)
    monitor_create(team=alice.personal_team, name="Made in the API", url="https://x.example.com/")
    exported = tmp_path / "exported.yaml"

    code, _, _ = run("export", "--team", team, "-o", str(exported))
    text = exported.read_text()
    monkeypatch.setenv("MONITOR_API_HEADERS_AUTHORIZATION", "Bearer t0ken")
    monkeypatch.setenv("CHANNEL_OPS_WEBHOOK_SECRETS_SIGNING_SECRET", "s3cret-signing-0123456789")
    plan_code, out, err = run("apply", "-f", str(exported), "--team", team, "--prune")

    assert code == 0 and plan_code == 0, err
    assert out.strip() == "No changes."
    assert "t0ken" not in text and "s3cret" not in text
    assert "${MONITOR_API_HEADERS_AUTHORIZATION}" in text
    assert "made-in-the-api" in yaml.safe_load(text)["monitors"][1]["key"]


HEARTBEATS = """\
monitors:
  - key: nightly-backup
    name: Nightly backup
    kind: heartbeat
    cron: "0 3 * * *"
    tz: Europe/Paris
    grace: 1800
  - key: queue-drain
    name: Queue drain
    kind: heartbeat
    interval: 300
"""


def test_heartbeat_monitors_round_trip_through_plan_apply_and_export(alice, tmp_path):
    team = str(alice.personal_team.id)
    code, out, err = run("plan", "-f", str(write(tmp_path, HEARTBEATS)), "--team", team)
    assert code == 0, err
    assert "+ monitor nightly-backup" in out and "+ monitor queue-drain" in out

    code, _, err = run("apply", "-f", str(write(tmp_path, HEARTBEATS)), "--team", team)
    assert code == 0, err
    backup = Monitor.objects.get(key="nightly-backup")
    assert (backup.kind, backup.cron, backup.tz, backup.grace) == (
        "heartbeat",
        "0 3 * * *",
        "Europe/Paris",
        1800,
    )
    assert backup.ping_token is not None
    assert Monitor.objects.get(key="queue-drain").grace == 60

    exported = tmp_path / "exported.yaml"
    assert run("export", "--team", team, "-o", str(exported))[0] == 0
    document = yaml.safe_load(exported.read_text())
    entry = next(m for m in document["monitors"] if m["key"] == "nightly-backup")
    assert (entry["kind"], entry["cron"], entry["tz"], entry["grace"]) == (
        "heartbeat",
        "0 3 * * *",
        "Europe/Paris",
        1800,
    )
    assert "ping_url" not in entry and "last_ping_at" not in entry  # read-only: not config
    code, out, err = run("apply", "-f", str(exported), "--team", team, "--prune")
    assert (code, out.strip()) == (0, "No changes."), err
    assert Monitor.objects.get(key="nightly-backup").ping_token == backup.ping_token


def test_a_bad_heartbeat_schedule_in_a_document_is_refused_naming_the_field(alice, tmp_path):
    text = HEARTBEATS.replace("Europe/Paris", "Europe/Atlantis")
    code, _, err = run(
        "apply", "-f", str(write(tmp_path, text)), "--team", str(alice.personal_team.id)
    )
    assert code != 0
    assert "tz" in err and "Europe/Atlantis" in err
    assert not Monitor.objects.exists()


def test_channel_policies_are_document_fields_that_round_trip(alice, tmp_path, secrets_env):
    team = str(alice.personal_team.id)
    document = DOCUMENT.replace(
        "    kind: webhook\n",
        "    kind: webhook\n    group_window_seconds: 0\n"
        "    reminder_interval_minutes: 15\n    reminder_max: 4\n",
    )
    run("apply", "-f", str(write(tmp_path, document)), "--team", team)
    exported = tmp_path / "exported.yaml"

    run("export", "--team", team, "-o", str(exported))
    channel = yaml.safe_load(exported.read_text())["channels"][0]
    changed = document.replace("reminder_max: 4", "reminder_max: 5")
    _, plan_out, _ = run("plan", "-f", str(write(tmp_path, changed)), "--team", team)

    stored = Channel.objects.get(key="ops-webhook")
    assert (stored.group_window_seconds, stored.reminder_interval_minutes) == (0, 15)
    assert stored.reminder_max == 4
    assert channel["group_window_seconds"] == 0
    assert channel["reminder_interval_minutes"] == 15
    assert channel["reminder_max"] == 4
    assert "reminder_max" in plan_out


POLICY_DOCUMENT = (
    DOCUMENT
    + """\
escalation_policies:
  - key: on-call
    name: On-call
    is_default: true
    stages:
      - {after_minutes: 10, channels: [ops-webhook]}
      - {after_minutes: 30, channels: [ops-webhook]}
    monitors: [api]
"""
)


def test_escalation_policies_are_applied_exported_and_round_trip(alice, tmp_path, secrets_env):
    from notifications.models import EscalationPolicy, MonitorEscalation

    team = str(alice.personal_team.id)
    code, _, err = run("apply", "-f", str(write(tmp_path, POLICY_DOCUMENT)), "--team", team)
    exported = tmp_path / "exported.yaml"
    run("export", "--team", team, "-o", str(exported))
    again_code, again, _ = run("plan", "-f", str(write(tmp_path, POLICY_DOCUMENT)), "--team", team)
    changed = POLICY_DOCUMENT.replace("after_minutes: 30", "after_minutes: 45")
    _, change_plan, _ = run("plan", "-f", str(write(tmp_path, changed)), "--team", team)

    assert code == 0, err
    policy = EscalationPolicy.objects.get(key="on-call")
    assert [s.after_minutes for s in policy.stages.all()] == [10, 30]
    assert MonitorEscalation.objects.get().monitor.key == "api"
    assert yaml.safe_load(exported.read_text())["escalation_policies"] == [
        {
            "key": "on-call",
            "name": "On-call",
            "is_default": True,
            "stages": [
                {"after_minutes": 10, "channels": ["ops-webhook"]},
                {"after_minutes": 30, "channels": ["ops-webhook"]},
            ],
            "monitors": ["api"],
        }
    ]
    assert again_code == 0 and again.strip() == "No changes."
    assert "stages" in change_plan


def test_a_stage_naming_an_unknown_channel_is_refused(alice, tmp_path, secrets_env):
    team = str(alice.personal_team.id)
    broken = POLICY_DOCUMENT.replace(
        "channels: [ops-webhook]}\n      - {after_minutes: 30",
        "channels: [nope]}\n      - {after_minutes: 30",
    )

    code, _, err = run("apply", "-f", str(write(tmp_path, broken)), "--team", team)

    assert code != 0
    assert "nope" in err
