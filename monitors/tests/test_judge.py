"""The judgement is pure: a table of snapshots and rules, no network, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitors.judge import ResponseSnapshot, judge

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
JSON_BODY = b'{"status": "ok", "version": 3, "ready": true, "items": [{"id": 1}, {"id": 2}]}'


def snap(**overrides) -> ResponseSnapshot:
    values: dict[str, Any] = {
        "status_code": 200,
        "elapsed_ms": 120,
        "headers": {"Content-Type": "application/json", "X-Service": "orders-v2"},
        "body": JSON_BODY,
    }
    values.update(overrides)
    return ResponseSnapshot(**values)


CASES = [
    # (name, snapshot, expected_status, assertions, status, phase, reason fragment)
    ("plain 200 is up", snap(), "200-299", [], "up", "", "HTTP 200"),
    ("500 is down", snap(status_code=500), "200-299", [], "down", "status", "HTTP 500, expected"),
    ("301 expected explicitly", snap(status_code=301), "200,301", [], "up", "", ""),
    ("404 outside list", snap(status_code=404), "200,301", [], "down", "status", "404"),
    (
        "status_code assertion",
        snap(status_code=201),
        "200-299",
        [{"type": "status_code", "value": "200"}],
        "down",
        "status",
        "status code 201 is not 200",
    ),
    (
        "body contains",
        snap(),
        "200-299",
        [{"type": "body_contains", "value": '"ok"'}],
        "up",
        "",
        "",
    ),
    (
        "body misses keyword",
        snap(),
        "200-299",
        [{"type": "body_contains", "value": "healthy"}],
        "down",
        "assertion",
        "body does not contain 'healthy'",
    ),
    (
        "body must not contain",
        snap(body=b"ERROR: database down"),
        "200-299",
        [{"type": "body_not_contains", "value": "ERROR"}],
        "down",
        "assertion",
        "body contains 'ERROR'",
    ),
    (
        "truncated body says so",
        snap(body=b"x" * 10, body_truncated=True),
        "200-299",
        [{"type": "body_contains", "value": "needle"}],
        "down",
        "assertion",
        "first 1 MiB searched",
    ),
    (
        "json path equals",
        snap(),
        "200-299",
        [{"type": "json_path_equals", "path": "$.status", "value": "ok"}],
        "up",
        "",
        "",
    ),
    (
        "json path differs",
        snap(),
        "200-299",
        [{"type": "json_path_equals", "path": "$.version", "value": 4}],
        "down",
        "assertion",
        "$.version is 3, expected 4",
    ),
    (
        "json true is not 1",
        snap(),
        "200-299",
        [{"type": "json_path_equals", "path": "$.ready", "value": 1}],
        "down",
        "assertion",
        "$.ready is true, expected 1",
    ),
    (
        "json path any match",
        snap(),
        "200-299",
        [{"type": "json_path_equals", "path": "$.items[*].id", "value": 2}],
        "up",
        "",
        "",
    ),
    (
        "json path exists",
        snap(),
        "200-299",
        [{"type": "json_path_exists", "path": "$.items[0].id"}],
        "up",
        "",
        "",
    ),
    (
        "json path missing",
        snap(),
        "200-299",
        [{"type": "json_path_exists", "path": "$.database"}],
        "down",
        "assertion",
        "$.database not found",
    ),
    (
        "bad json",
        snap(body=b'{"status": "ok", '),
        "200-299",
        [{"type": "json_path_exists", "path": "$.status"}],
        "down",
        "assertion",
        "not valid JSON",
    ),
    (
        "header equals, name case-insensitive",
        snap(),
        "200-299",
        [{"type": "header_equals", "name": "x-service", "value": "orders-v2"}],
        "up",
        "",
        "",
    ),
    (
        "header differs",
        snap(),
        "200-299",
        [{"type": "header_equals", "name": "X-Service", "value": "orders"}],
        "down",
        "assertion",
        "header X-Service is 'orders-v2', expected 'orders'",
    ),
    (
        "header contains",
        snap(),
        "200-299",
        [{"type": "header_contains", "name": "Content-Type", "value": "json"}],
        "up",
        "",
        "",
    ),
    (
        "header missing",
        snap(),
        "200-299",
        [{"type": "header_contains", "name": "Cache-Control", "value": "no-store"}],
        "down",
        "assertion",
        "header Cache-Control is missing",
    ),
    (
        "fast enough",
        snap(elapsed_ms=120),
        "200-299",
        [{"type": "response_time_below", "value": 500}],
        "up",
        "",
        "",
    ),
    (
        "too slow",
        snap(elapsed_ms=800),
        "200-299",
        [{"type": "response_time_below", "value": 500}],
        "down",
        "assertion",
        "response took 800 ms, limit 500 ms",
    ),
    (
        "certificate long valid",
        snap(cert_expires_at=NOW + timedelta(days=90)),
        "200-299",
        [{"type": "cert_valid_days", "value": 14}],
        "up",
        "",
        "",
    ),
    (
        "certificate expiring soon",
        snap(cert_expires_at=NOW + timedelta(days=5)),
        "200-299",
        [{"type": "cert_valid_days", "value": 14}],
        "down",
        "assertion",
        "TLS certificate expires on 2026-06-06, in 5.0 days (minimum 14)",
    ),
    (
        "certificate expired",
        snap(cert_expires_at=NOW - timedelta(days=1)),
        "200-299",
        [{"type": "cert_valid_days", "value": 14}],
        "down",
        "assertion",
        "expired on 2026-05-31",
    ),
    (
        "no certificate on http",
        snap(),
        "200-299",
        [{"type": "cert_valid_days", "value": 14}],
        "down",
        "assertion",
        "not an https:// URL",
    ),
    (
        "status fails before assertions",
        snap(status_code=503),
        "200-299",
        [{"type": "body_contains", "value": "healthy"}],
        "down",
        "status",
        "HTTP 503",
    ),
    (
        "second assertion reported with its number",
        snap(),
        "200-299",
        [
            {"type": "body_contains", "value": "ok"},
            {"type": "json_path_equals", "path": "$.status", "value": "degraded"},
        ],
        "down",
        "assertion",
        "Assertion 2 failed: $.status is 'ok', expected 'degraded'",
    ),
    (
        "gatus conditions that hold",
        snap(peer_address="127.0.0.1"),
        "200-299",
        [
            {"type": "condition", "value": "[STATUS] == any(200, 201)"},
            {"type": "condition", "value": "len([BODY].items) == 2"},
            {"type": "condition", "value": "[IP] == pat(127.*)"},
        ],
        "up",
        "",
        "HTTP 200",
    ),
    (
        "gatus condition shows the resolved value",
        snap(),
        "200-299",
        [
            {"type": "condition", "value": "[STATUS] == 200"},
            {"type": "condition", "value": "[BODY].version >= 4"},
        ],
        "down",
        "assertion",
        "Assertion 2 failed: [BODY].version (3) >= 4",
    ),
]


@pytest.mark.parametrize(
    ("snapshot", "expected_status", "assertions", "status", "phase", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_judge(snapshot, expected_status, assertions, status, phase, fragment):
    verdict = judge(snapshot, expected_status=expected_status, assertions=assertions, now=NOW)

    assert (verdict.status, verdict.phase) == (status, phase), verdict.reason
    assert fragment in verdict.reason


def test_failed_assertion_is_returned_for_people_and_the_api():
    failing = {"type": "body_contains", "value": "healthy"}

    verdict = judge(snap(), expected_status="200", assertions=[failing], now=NOW)

    assert verdict.failed_assertion == failing


def test_a_malformed_stored_assertion_fails_the_check_and_says_why():
    stale = {"type": "json_path_equals", "path": "$.status"}  # saved before validation existed

    verdict = judge(snap(), expected_status="200", assertions=[stale], now=NOW)

    assert (verdict.status, verdict.phase) == ("down", "assertion")
    assert verdict.reason == "Assertion 1 failed: invalid assertion (json_path_equals needs value.)"
    assert verdict.failed_assertion == stale
