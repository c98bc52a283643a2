"""Gatus conditions, table-tested: every example of Gatus' README, then the edges.

The first table is Gatus' own ("Conditions", and the examples of "Functions"): each row's
documented passing and failing values, so a Gatus user's conditions mean here what they meant
there. Pure: no database, no network.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from monitors.conditions import ConditionError, Facts, format_duration, parse_condition
from monitors.judge import ResponseSnapshot

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR_MS = 3_600_000


def body(document: object) -> Facts:
    return Facts(body=json.dumps(document))


def holds(condition: str, facts: Facts) -> bool:
    return parse_condition(condition).failure(facts) is None


# (condition, facts it passes with, facts it fails with): Gatus' README, row by row.
GATUS_README = [
    ("[STATUS] == 200", [Facts(status=200)], [Facts(status=201), Facts(status=404)]),
    ("[STATUS] < 300", [Facts(status=s) for s in (200, 201, 299)], [Facts(status=301)]),
    ("[STATUS] <= 299", [Facts(status=s) for s in (200, 201, 299)], [Facts(status=301)]),
    (
        "[STATUS] > 400",
        [Facts(status=s) for s in (401, 402, 403, 404)],
        [Facts(status=400), Facts(status=200)],
    ),
    ("[STATUS] == any(200, 429)", [Facts(status=200), Facts(status=429)], [Facts(status=201)]),
    ("[CONNECTED] == true", [Facts(connected=True)], [Facts(connected=False)]),
    (
        "[RESPONSE_TIME] < 500",
        [Facts(response_time_ms=ms) for ms in (100, 200, 300)],
        [Facts(response_time_ms=500), Facts(response_time_ms=501)],
    ),
    ("[IP] == 127.0.0.1", [Facts(ip="127.0.0.1")], [Facts(ip="0.0.0.0")]),
    ("[BODY] == 1", [Facts(body="1")], [Facts(body="{}"), Facts(body="2")]),
    ("[BODY].user.name == john", [body({"user": {"name": "john"}})], []),
    ("[BODY].data[0].id == 1", [body({"data": [{"id": 1}]})], []),
    ("[BODY].age == [BODY].id", [body({"age": 1, "id": 1})], []),
    ("len([BODY].data) < 5", [body({"data": [{"id": 1}]})], []),
    ("len([BODY].name) == 8", [body({"name": "john.doe"})], [body({"name": "bob"})]),
    ("has([BODY].errors) == false", [body({"name": "john.doe"})], [body({"errors": []})]),
    ("has([BODY].users) == true", [body({"users": []})], [body({})]),
    ("[BODY].name == pat(john*)", [body({"name": "john.doe"})], [body({"name": "bob"})]),
    (
        "[BODY].id == any(1, 2)",
        [body({"id": 1}), body({"id": 2})],
        [body({"id": n}) for n in (3, 4, 5)],
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        [Facts(certificate_expiration_ms=h * HOUR_MS) for h in (49, 50, 123)],
        [Facts(certificate_expiration_ms=h * HOUR_MS) for h in (1, 24)],
    ),
    # The "Functions" table's examples.
    ("len([BODY].username) > 8", [body({"username": "john.doe.1"})], [body({"username": "bob"})]),
    ("[IP] == pat(192.168.*)", [Facts(ip="192.168.0.232")], [Facts(ip="10.0.0.1")]),
    ("[BODY].ip == any(127.0.0.1, ::1)", [body({"ip": "::1"})], [body({"ip": "10.0.0.1"})]),
    ("[STATUS] == pat(2*)", [Facts(status=204)], [Facts(status=302)]),
    # The "Placeholders" table's [DNS_RCODE], resolved from a dns check's response code.
    ("[DNS_RCODE] == NOERROR", [Facts(dns_rcode="NOERROR")], [Facts(dns_rcode="NXDOMAIN")]),
]


@pytest.mark.parametrize(("condition", "passing", "failing"), GATUS_README, ids=lambda v: v)
def test_gatus_readme_example_passes_and_fails_as_documented(condition, passing, failing):
    assert [holds(condition, facts) for facts in passing] == [True] * len(passing)
    assert [holds(condition, facts) for facts in failing] == [False] * len(failing)


# (condition, facts, the failure reason: the condition with what its sides resolved to)
REASONS = [
    ("[STATUS] == 200", Facts(status=503), "[STATUS] (503) == 200"),
    ("[BODY].status == UP", body({"status": "DOWN"}), "[BODY].status (DOWN) == UP"),
    ("[STATUS] == any(200, 201)", Facts(status=503), "[STATUS] (503) == any(200, 201)"),
    ("[RESPONSE_TIME] < 300", Facts(response_time_ms=812), "[RESPONSE_TIME] (812) < 300"),
    ("len([BODY].users) < 2", body({"users": [1, 2]}), "len([BODY].users) (2) < 2"),
    ("has([BODY].errors) == false", body({"errors": []}), "has([BODY].errors) (true) == false"),
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        Facts(certificate_expiration_ms=int(25.5 * HOUR_MS)),
        "[CERTIFICATE_EXPIRATION] (25h30m) > 48h",
    ),
    # Without a certificate (plain http) it is 0, as in Gatus.
    ("[CERTIFICATE_EXPIRATION] > 48h", Facts(), "[CERTIFICATE_EXPIRATION] (0s) > 48h"),
    ("[BODY].age == [BODY].id", body({"age": 2, "id": 1}), "[BODY].age (2) == [BODY].id (1)"),
    # Beside a pat(), a long value is shortened for the eye, as Gatus does.
    (
        "[BODY].name == pat(john*)",
        body({"name": "bob-the-builder-of-many-houses"}),
        "[BODY].name (bob-the-builder-of-many-h...(truncated)) == pat(john*)",
    ),
    ("[status] == 200", Facts(status=500), "[status] (500) == 200"),  # names ignore case
]


@pytest.mark.parametrize(("condition", "facts", "reason"), REASONS, ids=[r[0] for r in REASONS])
def test_a_failed_condition_shows_what_each_side_resolved_to(condition, facts, reason):
    assert parse_condition(condition).failure(facts) == reason


# (condition, facts, reason): a side that cannot be resolved fails, with why, never raises.
UNRESOLVED = [
    (
        "[BODY].status == UP",
        body({"state": "UP"}),
        "[BODY].status (INVALID) == UP: no 'status' in the JSON body",
    ),
    # Gatus would let a != pass on a missing path; a field gone is not a healthy answer.
    (
        "[BODY].status != DOWN",
        body({}),
        "[BODY].status (INVALID) != DOWN: no 'status' in the JSON body",
    ),
    (
        "[BODY].data[3].id == 1",
        body({"data": [{"id": 1}]}),
        "[BODY].data[3].id (INVALID) == 1: 'data' has 1 items, no [3]",
    ),
    (
        "[BODY].user.name == john",
        body({"user": "john"}),
        "[BODY].user.name (INVALID) == john: 'user' is not an object, so it has no 'name'",
    ),
    ("[BODY].user == john", body({"user": None}), "[BODY].user (INVALID) == john: 'user' is null"),
    (
        "[BODY].status == UP",
        Facts(body="<html>down</html>"),
        "[BODY].status (INVALID) == UP: the body is not JSON (Expecting value at line 1)",
    ),
    (
        "[BODY].status == UP",
        Facts(body='{"status": "UP"', body_truncated=True),
        "[BODY].status (INVALID) == UP: the body is over the 1 MiB read limit, so it is not parsed",
    ),
    (
        "[BODY].name > 5",
        body({"name": "bob"}),
        "[BODY].name (bob) > 5: 'bob' is not a number",
    ),
]


@pytest.mark.parametrize(
    ("condition", "facts", "reason"), UNRESOLVED, ids=[r[2] for r in UNRESOLVED]
)
def test_a_side_that_cannot_be_resolved_fails_the_condition_with_why(condition, facts, reason):
    assert parse_condition(condition).failure(facts) == reason


# (condition, facts, holds): how text, numbers and JSON values compare.
COMPARISONS = [
    ("[BODY].id == 1", body({"id": "1"}), True),  # JSON "1" and 1 resolve alike
    ("[BODY].id == 01", body({"id": 1}), True),  # both integers (Go reads 01 as octal 1)
    ("[BODY].id == 0x10", body({"id": 16}), True),
    ("[BODY].version == 3", body({"version": 3.0}), True),  # 3.0 resolves to 3
    ("[BODY].version == 3.0", body({"version": 3}), False),  # text: "3" is not "3.0"
    ("[BODY].ready == true", body({"ready": True}), True),
    ("[BODY].ready == true", body({"ready": "true"}), True),
    ("[BODY].ready == 1", body({"ready": True}), False),
    ("[BODY].name == John", body({"name": "john"}), False),  # values keep their case
    ("[BODY].ratio < 0.5", body({"ratio": 0.3}), True),  # decimals compare exactly
    ("[BODY].ratio >= 0.5", body({"ratio": 0.49}), False),
    ("[RESPONSE_TIME] < 1s", Facts(response_time_ms=999), True),  # a duration is its ms
    ("[RESPONSE_TIME] < 1s", Facts(response_time_ms=1000), False),
    ("[CERTIFICATE_EXPIRATION] > 1h30m", Facts(certificate_expiration_ms=91 * 60_000), True),
    ("[CERTIFICATE_EXPIRATION] > 0", Facts(certificate_expiration_ms=-HOUR_MS), False),
    ("[BODY] == ok", Facts(body="  ok\n"), True),  # the body is trimmed
    ("len([BODY]) == 3", Facts(body="[1, 2, 3]"), True),  # a JSON list counts its items
    ("len([BODY]) == 2", Facts(body="ok"), True),  # anything else its characters
    ("has([BODY]) == false", Facts(body=""), True),
    ("len([BODY].user) == 14", body({"user": {"id": 7}}), False),
    ("len([BODY].user) == 8", body({"user": {"id": 7}}), True),  # minified JSON: {"id":7}
    ("has([BODY].user) == false", body({"user": None}), True),  # null counts as absent
    ("[BODY][0].id == 7", Facts(body='[{"id": 7}]'), True),  # a JSON list at the top
    ("[BODY].grid[1][0] == 3", body({"grid": [[1, 2], [3, 4]]}), True),
    ("[BODY].path == pat(/api/*)", body({"path": "/api/v1/x"}), True),  # "/" dropped, as Gatus
    ('[BODY].user == {"id":7}', body({"user": {"id": 7}}), True),  # an object as JSON
    ("[IP] == pat(*)", Facts(ip=""), True),
    ("[DNS_RCODE] == NOERROR", Facts(), False),  # an http check has no response code
]


@pytest.mark.parametrize(
    ("condition", "facts", "expected"), COMPARISONS, ids=[c[0] for c in COMPARISONS]
)
def test_sides_compare_as_gatus_compares_them(condition, facts, expected):
    assert holds(condition, facts) is expected


# (condition, the reason it is refused when written)
INVALID = [
    ("[STATUS] === 200", "unknown operator '==='"),
    ("[STATUS] = 200", "unknown operator '='"),
    ("[STATUS]==200", "no operator; use ==, !=, <, <=, > or >= with a space on each side"),
    ("[STATUS] ==", "a side of the comparison is empty"),
    ("[STATUS] == 200 == 201", "more than one '=='"),
    ("[STATUSS] == 200", "unknown placeholder [STATUSS]; use one of [STATUS], [RESPONSE_TIME]"),
    ("[DOMAIN_EXPIRATION] > 720h", "[DOMAIN_EXPIRATION] is not supported"),
    ("[STATUS].code == 200", "'[STATUS].code': only [BODY] takes a path"),
    ("[BODY]status == UP", "after [BODY] comes a path such as .status or [0]"),
    ("[BODY].a..b == 1", "'' is not a key or key[index]"),
    ("[BODY].items[x] == 1", "'items[x]' is not a key or key[index]"),
    ("len(users) < 5", "len() takes a placeholder, e.g. len([BODY])"),
    ("[STATUS] < pat(3*)", "pat() works only with == and !="),
    ("[STATUS] >= any(200, 300)", "any() works only with == and !="),
    ("pat(a*) == any(a, b)", "only one side may be pat() or any()"),
    ("UP == UP", "compares no placeholder"),
    ("[RESPONSE_TIME] < fast", "'fast' is not a number or a duration (units ms, s, m, h)"),
    ("[CERTIFICATE_EXPIRATION] > 7d", "'7d' is not a number or a duration"),  # Go has no days
]


@pytest.mark.parametrize(("condition", "reason"), INVALID, ids=[c for c, _ in INVALID])
def test_a_condition_that_cannot_be_evaluated_is_refused_with_the_reason(condition, reason):
    with pytest.raises(ConditionError) as refused:
        parse_condition(condition)

    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("milliseconds", "shown"),
    [
        (0, "0s"),
        (999, "0s"),
        (40_000, "40s"),
        (30 * 60_000, "30m"),
        (48 * HOUR_MS, "48h"),
        (HOUR_MS + 15_000, "1h0m15s"),
        (-24 * HOUR_MS, "-24h"),
    ],
)
def test_durations_are_shown_like_gatus_shows_them(milliseconds, shown):
    assert format_duration(milliseconds) == shown


def test_facts_of_an_http_snapshot_are_its_status_time_body_address_and_certificate():
    snapshot = ResponseSnapshot(
        status_code=503,
        elapsed_ms=87,
        body=b'{"status": "DOWN"}',
        cert_expires_at=NOW + timedelta(hours=36),
        peer_address="127.0.0.1",
    )

    facts = Facts.of(snapshot, NOW)

    assert facts == Facts(
        status=503,
        response_time_ms=87,
        body='{"status": "DOWN"}',
        ip="127.0.0.1",
        certificate_expiration_ms=36 * HOUR_MS,
    )


def test_facts_of_a_snapshot_without_http_keep_gatus_defaults():
    dns_snapshot = SimpleNamespace(elapsed_ms=12, rcode="NXDOMAIN", status_code=None)

    facts = Facts.of(dns_snapshot, NOW)

    assert facts == Facts(response_time_ms=12, dns_rcode="NXDOMAIN")
    assert parse_condition("[DNS_RCODE] == NOERROR").failure(facts) == (
        "[DNS_RCODE] (NXDOMAIN) == NOERROR"
    )
