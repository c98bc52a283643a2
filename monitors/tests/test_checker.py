"""The checker against real servers on 127.0.0.1: every way a target can answer or fail."""

from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings

from conftest import BLOCKED_ADDRESS
from monitors.checker import MAX_BODY, run_check
from monitors.models import Monitor
from monitors.tests.http_target import HttpTarget, refused_port, self_signed_tls


@pytest.fixture(scope="module")
def target():
    with HttpTarget() as server:
        yield server


def monitor(url: str, **fields) -> Monitor:
    values = {"name": "t", "url": url, "timeout": 2.0}
    values.update(fields)
    return Monitor(**values)


def test_200_is_up_with_code_and_time(target):
    outcome = run_check(monitor(target.url("/ok")))

    assert outcome.status == "up"
    assert outcome.status_code == 200
    assert outcome.response_time_ms is not None and outcome.response_time_ms < 2000
    assert outcome.reason == "HTTP 200"


def test_500_is_down_at_status(target):
    outcome = run_check(monitor(target.url("/fail")))

    assert (outcome.status, outcome.phase, outcome.status_code) == ("down", "status", 500)
    assert outcome.reason == "HTTP 500, expected 200-299"


def test_slow_answer_is_a_timeout(target):
    outcome = run_check(monitor(target.url("/slow?s=3"), timeout=0.5))

    assert (outcome.status, outcome.phase) == ("timeout", "timeout")
    assert outcome.reason == "No response within 0.5s"
    assert outcome.status_code is None


def test_refused_port_is_an_error_at_connect():
    port = refused_port()

    outcome = run_check(monitor(f"http://127.0.0.1:{port}/"))

    assert (outcome.status, outcome.phase) == ("error", "connect")
    assert outcome.reason == f"Connection refused by 127.0.0.1:{port}"


def test_bad_json_fails_a_json_assertion(target):
    outcome = run_check(
        monitor(
            target.url("/badjson"),
            assertions=[{"type": "json_path_equals", "path": "$.status", "value": "ok"}],
        )
    )

    assert (outcome.status, outcome.phase) == ("down", "assertion")
    assert "the body is not valid JSON" in outcome.reason
    assert outcome.failed_assertion["path"] == "$.status"


def test_redirect_followed_or_not(target):
    followed = run_check(monitor(target.url("/redirect?to=/ok")))
    not_followed = run_check(monitor(target.url("/redirect?to=/ok"), follow_redirects=False))

    assert (followed.status, followed.status_code) == ("up", 200)
    assert (not_followed.status, not_followed.status_code) == ("down", 302)


def test_method_headers_and_body_are_sent_as_configured(target):
    outcome = run_check(
        monitor(
            target.url("/echo"),
            method="POST",
            headers={"X-Token": "abc"},
            body='{"ping": 1}',
            assertions=[
                {"type": "json_path_equals", "path": "$.method", "value": "POST"},
                {"type": "json_path_equals", "path": "$.headers['X-Token']", "value": "abc"},
                {"type": "json_path_equals", "path": "$.body", "value": '{"ping": 1}'},
            ],
        )
    )

    assert outcome.status == "up", outcome.reason


def test_huge_body_is_read_only_up_to_the_cap(target):
    outcome = run_check(
        monitor(target.url("/big?mb=8"), assertions=[{"type": "body_contains", "value": "y"}])
    )

    assert outcome.status == "down"
    assert "first 1 MiB searched" in outcome.reason
    assert MAX_BODY == 1024 * 1024


def test_json_assertions_pass_on_a_real_answer(target):
    outcome = run_check(
        monitor(
            target.url("/ok"),
            assertions=[
                {"type": "json_path_equals", "path": "$.version", "value": 3},
                {"type": "header_equals", "name": "x-service", "value": "orders"},
                {"type": "response_time_below", "value": 2000},
            ],
        )
    )

    assert outcome.status == "up", outcome.reason


def test_unknown_host_is_an_error_at_dns():
    outcome = run_check(monitor("http://no-such-host.invalid/"))

    assert (outcome.status, outcome.phase) == ("error", "dns")
    assert outcome.reason.startswith("DNS lookup failed for no-such-host.invalid")


@override_settings(BLOCKED_NETWORKS=["127.0.0.0/8"])
def test_blocked_network_is_an_error_not_a_crash(target):
    outcome = run_check(monitor(target.url("/ok")))

    assert (outcome.status, outcome.phase) == ("error", "blocked")
    assert "127.0.0.1 is in a blocked network (127.0.0.0/8)" in outcome.reason


@pytest.mark.parametrize("host", ["2130706434", "0x7f000002"])
def test_a_blocked_address_in_numeric_form_is_an_error_at_blocked(host):
    with HttpTarget(BLOCKED_ADDRESS) as blocked:
        outcome = run_check(monitor(f"http://{host}:{blocked.port}/ok"))

    assert (outcome.status, outcome.phase) == ("error", "blocked")
    assert f"{BLOCKED_ADDRESS} is in a blocked network" in outcome.reason
    assert blocked.hits == []


def test_a_redirect_to_a_blocked_address_is_an_error_at_blocked(target):
    with HttpTarget(BLOCKED_ADDRESS) as blocked:
        outcome = run_check(monitor(target.url(f"/redirect?to={blocked.url('/ok')}")))

    assert (outcome.status, outcome.phase) == ("error", "blocked")
    assert blocked.hits == []


def test_untrusted_certificate_is_an_error_at_tls():
    with HttpTarget(tls=self_signed_tls(days=30)) as server:
        outcome = run_check(monitor(server.url("/ok")))

    assert (outcome.status, outcome.phase) == ("error", "tls")
    assert "TLS certificate not accepted" in outcome.reason


def test_certificate_expiry_is_recorded_and_asserted_without_verification():
    tls = self_signed_tls(days=10)
    with HttpTarget(tls=tls) as server:
        outcome = run_check(
            monitor(
                server.url("/ok"),
                verify_tls=False,
                assertions=[{"type": "cert_valid_days", "value": 14}],
            )
        )

    assert outcome.cert_expires_at is not None
    assert abs((outcome.cert_expires_at - tls.not_after).total_seconds()) < 2
    assert (outcome.status, outcome.phase) == ("down", "assertion")
    assert "in 9.9 days (minimum 14)" in outcome.reason or "in 10.0 days" in outcome.reason


def test_outcome_is_json_friendly_for_people(target):
    outcome = run_check(monitor(target.url("/fail")))

    assert json.dumps({"status": outcome.status, "phase": outcome.phase})


def test_every_outbound_failure_phase_is_a_check_phase():
    from lib.outbound import Phase
    from monitors.models import CheckPhase

    assert {phase.value for phase in Phase} <= set(CheckPhase.values)


def test_conditions_read_the_connected_address_and_the_time_left_on_the_certificate():
    with HttpTarget(tls=self_signed_tls(days=10)) as server:
        outcome = run_check(
            monitor(
                server.url("/ok"),
                verify_tls=False,
                assertions=[
                    {"type": "condition", "value": "[IP] == 127.0.0.1"},
                    {"type": "condition", "value": "[CERTIFICATE_EXPIRATION] > 250h"},
                ],
            )
        )

    assert (outcome.status, outcome.phase) == ("down", "assertion")
    assert re.fullmatch(
        r"Assertion 2 failed: \[CERTIFICATE_EXPIRATION\] \((239h59m\d+s|240h)\) > 250h",
        outcome.reason,
    ), outcome.reason
