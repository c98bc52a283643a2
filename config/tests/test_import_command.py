"""``manage.py monitors import gatus|uptime-kuma``: report, plan, --apply, --output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.tests.test_monitors_command import run
from incidents.models import MaintenanceWindow
from monitors.models import Monitor, MonitorKind
from notifications.models import Channel

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
MULTI = [str(FIXTURES / "gatus/multi/alerting.yaml"), str(FIXTURES / "gatus/multi/endpoints.yaml")]
KUMA = str(FIXTURES / "kuma/backup-1.23.json")
# What the translated documents reference, as a CI would set them (shapes Apprise accepts).
GATUS_VARIABLES = {
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/123456789012345678/abcdefghijklmn",
    "CHANNEL_TELEGRAM_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "CHANNEL_PUSHOVER_USER_KEY": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
    "CHANNEL_PUSHOVER_APPLICATION_TOKEN": "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
    "CHANNEL_NTFY_TOKEN": "tk_abcdefghijklmnopqrstuvwxyz012",
    "CHANNEL_GOTIFY_TOKEN": "AbCdEf123456",
    "CHANNEL_MATRIX_ACCESS_TOKEN": "syt_YWxpY2U_abcdefghijklmnop_123456",
    "CHANNEL_OPSGENIE_API_KEY": "00000000-0000-0000-0000-000000000000",
    "CHANNEL_CUSTOM_HEADERS_AUTHORIZATION": "Token abcdefghijklmnop",
    "API_KEY": "k3y-0123456789",
}
KUMA_VARIABLES = {
    "CHANNEL_SLACK_OPS_SLACKWEBHOOKURL": (
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    ),
    "CHANNEL_TELEGRAM_ON_CALL_TELEGRAMBOTTOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "CHANNEL_DEPLOY_HOOK_HEADERS_AUTHORIZATION": "Bearer abcdefghijkl",
    "MONITOR_API_STATUS_HEADERS_X_API_KEY": "k3y-abcdef",
}


@pytest.fixture
def gatus_env(monkeypatch):
    for name, value in GATUS_VARIABLES.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def kuma_env(monkeypatch):
    for name, value in KUMA_VARIABLES.items():
        monkeypatch.setenv(name, value)


def test_gatus_import_prints_the_report_and_the_plan_and_creates_nothing(alice, gatus_env):
    code, out, err = run("import", "gatus", *MULTI, "--team", str(alice.personal_team.id))

    assert code == 0, err
    assert "Not translated (7):" in out
    assert f"  {MULTI[0]}:40: alerting provider 'teams': Office 365 connectors are retired" in out
    assert f"  {MULTI[1]}:37: endpoint 'legacy-udp': udp:// endpoint: healthmon has no UDP" in out
    assert "  CHANNEL_TELEGRAM_TOKEN: alerting.telegram.token in" in out
    assert "+ channel telegram" in out and "+ monitor api" in out
    assert out.rstrip().endswith("Plan: 11 to create, 0 to change, 0 to delete.")
    assert Monitor.objects.count() == Channel.objects.count() == 0
    # The report names the variables, the plan never shows their values.
    assert GATUS_VARIABLES["CHANNEL_TELEGRAM_TOKEN"] not in out


def test_gatus_import_applies_and_a_second_import_changes_nothing(alice, gatus_env):
    team = str(alice.personal_team.id)

    code, out, err = run("import", "gatus", *MULTI, "--team", team, "--apply")

    assert code == 0, err
    assert out.rstrip().endswith("Applied: 11 to create, 0 to change, 0 to delete.")
    api = Monitor.objects.get(team=alice.personal_team, key="api")
    assert api.failure_threshold == 5 and api.success_threshold == 2
    assert api.headers == {"X-Api-Key": GATUS_VARIABLES["API_KEY"]}
    assert sorted(api.channels.values_list("key", flat=True)) == [
        "custom", "discord", "email", "telegram",
    ]  # fmt: skip
    telegram = Channel.objects.get(key="telegram")
    assert telegram.secrets["url"] == (
        f"tgram://{GATUS_VARIABLES['CHANNEL_TELEGRAM_TOKEN']}/-100123456789"
    )

    code, out, err = run("import", "gatus", *MULTI, "--team", team, "--apply")

    assert code == 0, err
    assert out.rstrip().endswith("No changes.")


def test_kuma_import_applies_and_a_second_import_changes_nothing(alice, kuma_env):
    team = str(alice.personal_team.id)

    code, out, err = run("import", "uptime-kuma", KUMA, "--team", team, "--apply")

    assert code == 0, err
    assert "  Kuma monitor 9: postgres monitor 'Orders DB': healthmon does not query" in out
    assert "  Kuma notification 6: notification 'LINE': no Apprise mapping" in out
    website = Monitor.objects.get(key="website")
    assert website.expected_status == "200-299,301" and website.failure_threshold == 3
    assert sorted(tag.name for tag in website.tags.all()) == ["prod", "team:web"]
    assert sorted(website.channels.values_list("key", flat=True)) == [
        "slack-ops", "telegram-on-call",
    ]  # fmt: skip
    assert Monitor.objects.get(key="postgres-port").is_active is False
    assert Channel.objects.get(key="ntfy").enabled is False
    assert Channel.objects.get(key="telegram-on-call").is_default is True

    code, out, err = run("import", "uptime-kuma", KUMA, "--team", team, "--apply")

    assert code == 0, err
    assert out.rstrip().endswith("No changes.")


def test_output_writes_the_document_that_plan_and_apply_read(alice, kuma_env, tmp_path):
    output = tmp_path / "monitors.yaml"
    team = str(alice.personal_team.id)

    code, _, err = run("import", "uptime-kuma", KUMA, "--team", team, "--output", str(output))

    assert code == 0, err
    document = yaml.safe_load(output.read_text())
    assert [m["key"] for m in document["monitors"]][:2] == ["website", "login-page"]
    assert "hooks.slack.com" not in output.read_text()  # the secret stays out of the file
    code, out, err = run("apply", "-f", str(output), "--team", team)
    assert code == 0, err
    code, out, err = run("import", "uptime-kuma", KUMA, "--team", team)
    assert code == 0 and out.rstrip().endswith("No changes."), err


def test_a_missing_variable_fails_the_plan_naming_it_and_changes_nothing(
    alice, kuma_env, monkeypatch
):
    monkeypatch.delenv("CHANNEL_DEPLOY_HOOK_HEADERS_AUTHORIZATION")

    code, out, err = run(
        "import", "uptime-kuma", KUMA, "--team", str(alice.personal_team.id), "--apply"
    )

    assert code == 1
    assert err.splitlines() == [
        "uptime-kuma import: channels.deploy-hook.secrets: "
        "The variable CHANNEL_DEPLOY_HOOK_HEADERS_AUTHORIZATION is not set."
    ]
    assert "Not translated (" in out  # the report came first: the user sees what to set
    assert Monitor.objects.count() == Channel.objects.count() == 0


@pytest.mark.parametrize(
    ("source", "name", "line"),
    [
        ("gatus", "gatus/broken.yaml", 5),
        ("uptime-kuma", "kuma/broken.json", 2),
    ],
)
def test_a_broken_file_exits_non_zero_with_one_line(alice, source, name, line):
    path = str(FIXTURES / name)

    code, out, err = run("import", source, path, "--team", str(alice.personal_team.id))

    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"{path}:{line}: document: ")


def test_a_file_that_is_not_a_kuma_backup_is_refused(alice):
    path = str(FIXTURES / "gatus/single.yaml")

    code, _, err = run("import", "uptime-kuma", path, "--team", str(alice.personal_team.id))

    assert code == 1
    assert err.splitlines() == [f"{path}:1: document: Not valid JSON: Expecting value."]


def test_a_missing_file_is_one_line(alice):
    code, _, err = run(
        "import", "gatus", "/nonexistent.yaml", "--team", str(alice.personal_team.id)
    )

    assert code == 1 and err.splitlines() == ["/nonexistent.yaml: No such file or directory"]


def test_every_gatus_endpoint_kind_applies_through_the_api_validation(alice, tmp_path, monkeypatch):
    # single.yaml less its maintenance (a section healthmon's documents get with maintenance
    # windows): http, tcp, icmp, dns, tls and starttls endpoints with their conditions.
    text = (FIXTURES / "gatus/single.yaml").read_text().split("maintenance:")[0]
    config = tmp_path / "config.yaml"
    config.write_text(text)
    monkeypatch.setenv(
        "CHANNEL_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdn"
    )
    monkeypatch.setenv("MONITOR_BACK_END_HEADERS_AUTHORIZATION", "Bearer t0ken")
    team = str(alice.personal_team.id)

    code, out, err = run("import", "gatus", str(config), "--team", team, "--apply")

    assert code == 0, err
    kinds = dict(Monitor.objects.values_list("key", "kind"))
    assert kinds == {
        "front-end": "http", "back-end": "http", "mysql": "tcp", "ping-gateway": "icmp",
        "dns-example": "dns", "certificate": "tls", "mail": "tls", "front-end-2": "http",
    }  # fmt: skip
    assert Monitor.objects.get(key="mail").starttls == "smtp"
    assert Monitor.objects.get(key="back-end").headers["Authorization"] == "Bearer t0ken"
    code, out, _ = run("import", "gatus", str(config), "--team", team)
    assert out.rstrip().endswith("No changes.")


GATUS_SINGLE = str(FIXTURES / "gatus/single.yaml")
KUMA_PUSH = str(FIXTURES / "kuma/backup-push.json")


def test_gatus_maintenance_is_planned_applied_and_then_unchanged(alice, monkeypatch):
    monkeypatch.setenv("CHANNEL_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T1/B1/abc")
    monkeypatch.setenv("MONITOR_BACK_END_HEADERS_AUTHORIZATION", "Bearer abcdefghijkl")
    team = str(alice.personal_team.id)

    code, out, err = run("import", "gatus", GATUS_SINGLE, "--team", team)

    assert code == 0, err
    assert "+ maintenance window gatus-maintenance" in out
    assert '    recurrence: "0 23 * * 1,4"' in out
    assert not MaintenanceWindow.objects.exists()

    code, out, err = run("import", "gatus", GATUS_SINGLE, "--team", team, "--apply")

    assert code == 0, err
    window = MaintenanceWindow.objects.get(team=alice.personal_team, key="gatus-maintenance")
    assert (window.recurrence, window.duration_minutes) == ("0 23 * * 1,4", 60)
    assert window.timezone == "Europe/Amsterdam" and window.whole_team is True

    code, out, err = run("import", "gatus", GATUS_SINGLE, "--team", team)

    assert code == 0, err
    assert out.rstrip().endswith("No changes.")


def test_kuma_push_monitors_become_heartbeats_with_their_ping_urls_shown(alice, monkeypatch):
    monkeypatch.setenv("MONITOR_ADMIN_AREA_BASIC_AUTH", "dXNlcjpwYXNzd29yZA==")
    team = str(alice.personal_team.id)

    code, out, err = run("import", "uptime-kuma", KUMA_PUSH, "--team", team)

    assert code == 0, err
    assert "+ monitor nightly-backup" in out and "+ monitor queue-worker" in out
    assert '    kind: "heartbeat"' in out
    assert "Ping URLs" not in out  # nothing created yet
    assert not Monitor.objects.exists()

    code, out, err = run("import", "uptime-kuma", KUMA_PUSH, "--team", team, "--apply")

    assert code == 0, err
    nightly = Monitor.objects.get(team=alice.personal_team, key="nightly-backup")
    worker = Monitor.objects.get(team=alice.personal_team, key="queue-worker")
    assert nightly.kind == worker.kind == MonitorKind.HEARTBEAT
    assert nightly.interval == 86400 and worker.interval == 60
    assert nightly.ping_token and worker.ping_token and nightly.ping_token != worker.ping_token
    # The report's "shown once applied" is kept: each new heartbeat's ping URL is printed.
    assert "Ping URLs of new heartbeats (2):" in out
    assert f"  nightly-backup: {nightly.ping_url}" in out
    assert f"  queue-worker: {worker.ping_url}" in out

    code, out, err = run("import", "uptime-kuma", KUMA_PUSH, "--team", team)

    assert code == 0, err
    assert out.rstrip().endswith("No changes.")
