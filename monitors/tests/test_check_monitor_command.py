"""``manage.py check_monitor``: one check, printed for a person, with a useful exit code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitors.models import CheckNowRequest, CheckResult, Monitor
from monitors.tests.http_target import HttpTarget, refused_port

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def target():
    with HttpTarget() as server:
        yield server


def run(*args) -> tuple[str, str | int | None]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("check_monitor", *args, stdout=out, no_color=True)
    except SystemExit as exc:
        return out.getvalue(), exc.code
    return out.getvalue(), 0


def test_a_url_that_answers_is_up(target):
    output, code = run(target.url("/ok"))

    assert code == 0
    assert "Status:         UP" in output
    assert "HTTP status:    200" in output
    assert " ms" in output


def test_a_refused_port_says_why_and_exits_1():
    port = refused_port()

    output, code = run(f"http://127.0.0.1:{port}/")

    assert code == 1
    assert "ERROR (failed at: connect)" in output
    assert f"Connection refused by 127.0.0.1:{port}" in output


def test_a_monitor_by_id_shows_the_failed_assertion_and_saves_on_request(alice, target):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="Orders",
        url=target.url("/ok"),
        assertions=[{"type": "json_path_equals", "path": "$.status", "value": "degraded"}],
        next_check_at=timezone.now() + timedelta(hours=1),
    )

    output, code = run(str(monitor.id), "--save")

    assert code == 1
    assert "[Orders]" in output
    assert "Assertion 1 failed: $.status is 'ok', expected 'degraded'" in output
    assert "Failed assertion: {" in output
    assert '"type": "json_path_equals"' in output
    assert CheckResult.objects.filter(monitor=monitor, status="down").count() == 1


def test_bad_input_is_a_one_line_error():
    with pytest.raises(CommandError, match="neither a monitor id nor an http"):
        call_command("check_monitor", "ftp://example.com")
    with pytest.raises(CommandError, match="No monitor with id 999999"):
        call_command("check_monitor", "999999")
    with pytest.raises(CommandError, match="--expect"):
        call_command("check_monitor", "http://127.0.0.1/", "--expect", "abc")


def test_admin_action_queues_checks_of_selected_monitors_to_the_workers(
    admin_client, alice, target
):
    monitor = Monitor.objects.create(
        team=alice.personal_team,
        name="Orders",
        url=target.url("/ok"),
        next_check_at=timezone.now() + timedelta(hours=1),
    )

    hits_before = len(target.hits)

    response = admin_client.post(
        "/admin/monitors/monitor/",
        {"action": "check_now", "_selected_action": [monitor.id]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Orders: check queued" in response.content.decode()
    assert CheckNowRequest.objects.filter(monitor=monitor, finished_at=None).count() == 1
    assert len(target.hits) == hits_before  # the admin request itself sent nothing
