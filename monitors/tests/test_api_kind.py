"""The api (multi-step) kind against a real login flow on 127.0.0.1: log in, take the token,
call the protected endpoint, judge its JSON; extraction by JSON path, header and regex; the
failing step named in the reason; team variables as secrets that never show, loaded once per
batch before the checks start, so that no check touches the database."""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from monitors import results
from monitors.check_now import check_now_run
from monitors.checker import run_check, team_variables_for
from monitors.kinds import KINDS
from monitors.models import CheckNowRequest, CheckPhase, CheckStatus, Monitor, TeamVariable
from monitors.tests.kind_servers import LoginServer

PASSWORD = "hunter2-correct-horse"

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    server = LoginServer(password=PASSWORD)
    yield server
    server.stop()


def login_step(server: LoginServer, *, extract: list[dict] | None = None) -> dict:
    return {
        "name": "log in",
        "method": "POST",
        "url": f"{server.url}/login",
        "headers": {"Content-Type": "application/json"},
        "body": '{"user": "probe", "password": "{{password}}"}',
        "extract": extract or [{"var": "token", "from": "json", "path": "$.token"}],
    }


def orders_step(server: LoginServer, **overrides) -> dict:
    return {
        "name": "get orders",
        "url": f"{server.url}/orders",
        "headers": {"Authorization": "Bearer {{token}}"},
        "assertions": [{"type": "json_path_equals", "path": "$.count", "value": 2}],
        **overrides,
    }


def api_monitor(team, steps: list[dict], *, timeout: float = 3.0) -> Monitor:
    monitor = Monitor(team=team, name="Orders API", kind="api", steps=steps, timeout=timeout)
    monitor.full_clean(exclude=["next_check_at"])
    return monitor


@pytest.fixture
def team(alice):
    TeamVariable.objects.create(team=alice.personal_team, name="password", value=PASSWORD)
    return alice.personal_team


def test_login_then_protected_call_is_up(team, server):
    outcome = run_check(api_monitor(team, [login_step(server), orders_step(server)]))
    assert (outcome.status, outcome.reason) == (CheckStatus.UP, "2 steps passed, HTTP 200")
    assert outcome.status_code == 200
    assert [request[:2] for request in server.requests] == [("POST", "/login"), ("GET", "/orders")]


def test_response_time_is_the_whole_sequence(team, server):
    server.delay = 0.15  # each of the two answers
    outcome = run_check(api_monitor(team, [login_step(server), orders_step(server)]))
    assert outcome.response_time_ms >= 300


def test_token_taken_from_a_response_header_authorizes_the_next_step(team, server):
    rule = {"var": "token", "from": "header", "name": "x-auth-token"}
    steps = [login_step(server, extract=[rule]), orders_step(server)]
    assert run_check(api_monitor(team, steps)).status == CheckStatus.UP


def test_token_taken_by_a_regex_on_the_body_authorizes_the_next_step(team, server):
    rule = {"var": "token", "from": "regex", "pattern": r'"token":\s*"([^"]+)"'}
    steps = [login_step(server, extract=[rule]), orders_step(server)]
    assert run_check(api_monitor(team, steps)).status == CheckStatus.UP


def test_a_failing_step_is_named_with_its_status(team, server):
    server.orders_status = 500
    outcome = run_check(api_monitor(team, [login_step(server), orders_step(server)]))
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.STATUS)
    assert outcome.reason == "step 2 'get orders': HTTP 500, expected 200-299"
    assert outcome.status_code == 500


def test_the_first_failing_step_stops_the_sequence(team, server):
    TeamVariable.objects.filter(name="password").update(value="wrong-password")
    outcome = run_check(api_monitor(team, [login_step(server), orders_step(server)]))
    assert outcome.reason == "step 1 'log in': HTTP 401, expected 200-299"
    assert [request[:2] for request in server.requests] == [("POST", "/login")]


def test_an_assertion_on_the_protected_json_fails_its_step(team, server):
    wrong_count = [{"type": "json_path_equals", "path": "$.count", "value": 3}]
    steps = [login_step(server), orders_step(server, assertions=wrong_count)]
    outcome = run_check(api_monitor(team, steps))
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.ASSERTION)
    assert outcome.reason.startswith("step 2 'get orders': Assertion 1 failed: ")


def test_an_extraction_that_finds_nothing_fails_its_step(team, server):
    rule = {"var": "token", "from": "json", "path": "$.access_token"}
    outcome = run_check(api_monitor(team, [login_step(server, extract=[rule])]))
    assert (outcome.status, outcome.phase) == (CheckStatus.DOWN, CheckPhase.ASSERTION)
    assert outcome.reason == (
        "step 1 'log in': extract token: $.access_token matches nothing in the body"
    )


def test_a_step_that_cannot_connect_says_which_step_and_phase(team, server):
    steps = [login_step(server), orders_step(server, url="http://127.0.0.1:1/orders")]
    outcome = run_check(api_monitor(team, steps))
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.CONNECT)
    assert outcome.reason.startswith("step 2 'get orders': ")


def test_extracted_tokens_are_redacted_from_the_reason(team, server):
    quoting = [{"type": "body_contains", "value": "no such text"}]
    steps = [login_step(server), orders_step(server, url=f"{server.url}/orders?t={{{{token}}}}")]
    steps[1]["assertions"] = quoting
    outcome = run_check(api_monitor(team, steps))
    assert outcome.reason.startswith("step 2 'get orders': ")
    for token in server.tokens:
        assert token not in outcome.reason


def test_a_team_variable_never_shows_in_the_reason_or_the_logs(team, server, caplog):
    # A value http.client refuses to send is quoted in its error: the reason must not be.
    secret = "s3cret\nvalue-of-the-team"
    TeamVariable.objects.create(team=team, name="api_key", value=secret)
    step = orders_step(server, headers={"X-Api-Key": "{{api_key}}"}, assertions=[])
    with caplog.at_level(logging.DEBUG):
        outcome = run_check(api_monitor(team, [step]))
        logging.getLogger("healthmon.test").error("check failed: %s", outcome.reason)
    assert (outcome.status, outcome.phase) == (CheckStatus.ERROR, CheckPhase.REQUEST)
    assert "[redacted]" in outcome.reason
    for form in (secret, "s3cret\\nvalue", "value-of-the-team"):
        assert form not in outcome.reason
        assert form not in caplog.text


def test_the_monitor_timeout_covers_the_whole_sequence(team, server):
    steps = [login_step(server), orders_step(server)] * 5
    monitor = api_monitor(team, steps, timeout=0.1)
    monitor.timeout = 0.0001  # spent before the first step's answer is read
    outcome = run_check(monitor)
    assert outcome.status == CheckStatus.TIMEOUT
    assert outcome.reason.startswith("step ")


# --- Team variables come from one load per batch, never from inside a check ------------------


@pytest.fixture
def queries_in_checks(monkeypatch) -> list[str]:
    """Refuse (and list) any database query made while an api check runs, in whatever
    thread or greenlet it runs: a check holding a pooled connection starves the others."""
    seen: list[str] = []
    kind = KINDS["api"]
    original = kind.run

    def refuse(execute, sql, params, many, context):
        seen.append(sql)
        raise AssertionError(f"an api check queried the database: {sql}")

    def run_refusing_queries(*args, **kwargs):
        with connection.execute_wrapper(refuse):  # this thread's (greenlet's) connection
            return original(*args, **kwargs)

    monkeypatch.setattr(kind, "run", run_refusing_queries)
    return seen


def saved_api_monitor(team, server: LoginServer, name: str = "Orders API") -> Monitor:
    return Monitor.objects.create(
        team=team,
        name=name,
        kind="api",
        steps=[login_step(server), orders_step(server)],
        timeout=3.0,
        next_check_at=timezone.now() + timedelta(hours=1),
    )


def test_the_variables_of_every_team_of_a_batch_are_read_in_one_query(
    team, bob, django_assert_num_queries
):
    TeamVariable.objects.create(team=bob.personal_team, name="password", value="bobs-secret")
    steps = [{"name": "ping", "url": "http://127.0.0.1:1/"}]
    batch = [
        *(Monitor(team=team, name=f"a{i}", kind="api", steps=steps) for i in range(5)),
        *(Monitor(team=bob.personal_team, name=f"b{i}", kind="api", steps=steps) for i in range(5)),
        Monitor(team=team, name="plain", url="http://127.0.0.1:1/"),
    ]

    with django_assert_num_queries(1):
        variables = team_variables_for(batch)

    assert variables == {
        team.id: {"password": PASSWORD},
        bob.personal_team.id: {"password": "bobs-secret"},
    }


def test_a_batch_without_api_monitors_reads_no_variables(team, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert team_variables_for([Monitor(team=team, url="http://127.0.0.1:1/")]) == {}


def test_the_api_checks_of_a_batch_read_nothing_from_the_database(team, server, queries_in_checks):
    monitors = [saved_api_monitor(team, server, name=f"orders {i}") for i in range(6)]
    now = timezone.now().isoformat()

    stored = results.check_batch([[monitor.id, now] for monitor in monitors])

    assert queries_in_checks == []
    assert [result.status for result in stored] == [CheckStatus.UP] * len(monitors)


def test_a_check_now_of_an_api_monitor_reads_nothing_from_the_database_while_it_runs(
    team, server, alice, queries_in_checks
):
    monitor = saved_api_monitor(team, server)
    request = CheckNowRequest.objects.create(
        monitor=monitor, requested_by=alice, requested_at=timezone.now()
    )

    finished = check_now_run(request_id=request.id)

    assert queries_in_checks == []
    assert finished.result.status == CheckStatus.UP


def test_check_monitor_reads_the_variables_before_the_check_runs(team, server, queries_in_checks):
    monitor = saved_api_monitor(team, server)
    out = StringIO()

    call_command("check_monitor", str(monitor.id), "--save", stdout=out, no_color=True)

    assert queries_in_checks == []
    assert "Status:         UP" in out.getvalue()
