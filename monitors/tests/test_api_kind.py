"""The api (multi-step) kind against a real login flow on 127.0.0.1: log in, take the token,
call the protected endpoint, judge its JSON; extraction by JSON path, header and regex; the
failing step named in the reason; team variables as secrets that never show."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection

from monitors.checker import run_check
from monitors.models import CheckPhase, CheckStatus, Monitor, TeamVariable
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


@pytest.mark.django_db(transaction=True)
def test_a_check_in_its_own_greenlet_hands_its_database_connection_back(team, server):
    # A batch runs each check in a greenlet (a thread here) that has a connection of its own
    # once it reads the team's variables: one left open is a pool slot lost for good, and ten
    # of them left a worker waiting for a connection on every task.
    monitor = api_monitor(team, [login_step(server), orders_step(server)])
    seen = {}

    def check() -> None:
        seen["status"] = run_check(monitor).status
        seen["connection open"] = connection.connection is not None

    thread = threading.Thread(target=check)
    thread.start()
    thread.join()

    assert seen == {"status": CheckStatus.UP, "connection open": False}
