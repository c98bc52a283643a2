"""``manage.py monitors create``: the services' validation and side effects from a shell."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.services import team_create
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``manage.py monitors <args>``."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("monitors", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        assert isinstance(exit_.code, int)
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_create_prints_the_id_of_a_scheduled_monitor_with_its_tags(alice):
    code, out, _ = run(
        "create", "--team", str(alice.personal_team.id), "--name", "Orders",
        "--url", "https://orders.example.com/health", "--interval", "60", "--timeout", "5",
        "--expected-status", "200-299, 301", "--tag", "prod", "--tag", "payments",
        "--assertions", '[{"type": "body_contains", "value": "ok"}]',
    )  # fmt: skip

    assert code == 0
    monitor = Monitor.objects.get(pk=int(out))
    assert monitor.team == alice.personal_team and monitor.interval == 60
    assert monitor.expected_status == "200-299,301"
    assert monitor.assertions == [{"type": "body_contains", "value": "ok"}]
    assert sorted(tag.name for tag in monitor.tags.all()) == ["payments", "prod"]
    assert monitor.next_check_at is not None


def test_create_finds_the_team_by_name(alice):
    team = team_create(owner=alice, name="Platform")

    code, out, _ = run("create", "--team", "Platform", "--name", "A", "--url", "https://a.io/")

    assert code == 0 and Monitor.objects.get(pk=int(out)).team == team


def test_invalid_monitor_exits_non_zero_with_one_line_per_reason(alice):
    code, out, err = run(
        "create", "--team", str(alice.personal_team.id), "--name", "Files",
        "--url", "ftp://files.example.com/", "--interval", "10", "--timeout", "5",
    )  # fmt: skip

    assert code == 1 and out == ""
    assert err.splitlines() == [
        "url: Only http:// and https:// URLs can be monitored.",
        "interval: The interval must be at least 30 seconds.",
    ]
    assert not Monitor.objects.exists()


def test_unknown_team_is_a_reason_not_a_traceback(alice):
    code, _, err = run("create", "--team", "nobody", "--name", "A", "--url", "https://a.io/")

    assert code == 1
    assert err.strip() == "team: No team has the id or name 'nobody'."


def test_assertions_that_are_not_json_are_a_reason(alice):
    code, _, err = run(
        "create", "--team", str(alice.personal_team.id), "--name", "A",
        "--url", "https://a.io/", "--assertions", "[{",
    )  # fmt: skip

    assert code == 1 and err.startswith("assertions: Not valid JSON")


def test_create_an_api_monitor_from_steps_json(alice):
    steps = '[{"name": "health", "url": "https://a.io/health", "expected_status": "200"}]'
    code, out, _ = run(
        "create", "--team", str(alice.personal_team.id), "--name", "API",
        "--kind", "api", "--steps", steps,
    )  # fmt: skip

    assert code == 0
    assert Monitor.objects.get(pk=int(out)).steps[0]["name"] == "health"


def test_steps_with_an_unknown_variable_are_a_reason_naming_the_step(alice):
    steps = '[{"name": "orders", "url": "https://a.io/orders?key={{api_key}}"}]'
    code, _, err = run(
        "create", "--team", str(alice.personal_team.id), "--name", "API",
        "--kind", "api", "--steps", steps,
    )  # fmt: skip

    assert code == 1
    assert err.strip() == (
        "steps: steps[0]: unknown variable {{api_key}}: neither extracted by an earlier step "
        "nor a team variable."
    )


def test_the_cli_creates_a_heartbeat_monitor(alice):
    out = io.StringIO()
    call_command(
        "monitors", "create", "--team", str(alice.personal_team.id), "--name", "Backup",
        "--kind", "heartbeat", "--cron", "0 3 * * *", "--tz", "Europe/Paris", "--grace", "900",
        stdout=out,
    )  # fmt: skip
    monitor = Monitor.objects.get(pk=int(out.getvalue()))
    assert (monitor.kind, monitor.cron, monitor.tz, monitor.grace) == (
        "heartbeat",
        "0 3 * * *",
        "Europe/Paris",
        900,
    )
    assert monitor.ping_token is not None
