"""Assertion kinds: what each accepts and refuses, and that every bad one is named."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from monitors.assertions import (
    KINDS,
    MAX_ASSERTIONS,
    Assertion,
    parse_assertion,
    validate_assertions_apply,
)
from monitors.assertions import validate_assertions as validate

VALID = [
    {"type": "status_code", "value": "200-299,301"},
    {"type": "body_contains", "value": "ok"},
    {"type": "body_not_contains", "value": "error"},
    {"type": "json_path_equals", "path": "$.status", "value": {"any": ["json", 1, None]}},
    {"type": "json_path_exists", "path": "$.items[0].id"},
    {"type": "header_equals", "name": "X-Service", "value": "orders"},
    {"type": "header_contains", "name": "Content-Type", "value": "json"},
    {"type": "response_time_below", "value": 500},
    {"type": "cert_valid_days", "value": 14.5},
    {"type": "condition", "value": "[BODY].data[0].id == any(1, 2)"},
    {"type": "reply_contains", "value": "+PONG"},
    {"type": "rcode", "value": "nxdomain"},
    {"type": "answer_contains", "value": "10 mail.example.com."},
    {"type": "answer_equals", "value": ["192.0.2.1", "192.0.2.2"]},
    {"type": "answer_matches", "value": r"^192\.0\.2\."},
    {"type": "packet_loss_below", "value": 100},
    {"type": "rtt_below", "value": 0.5},
]

# (assertion, the message it is refused with)
INVALID = [
    ("body_contains", "Each assertion must be an object with a 'type'."),
    ({"value": "ok"}, "Unknown assertion type None; use one of: answer_contains, "),
    ({"type": "nope"}, "Unknown assertion type 'nope'"),
    ({"type": "json_path_equals", "path": "$.a"}, "json_path_equals needs value."),
    ({"type": "header_equals"}, "header_equals needs name, value."),
    ({"type": "body_contains", "value": "x", "path": "$"}, "body_contains does not take path."),
    ({"type": "status_code", "value": "2xx"}, "'2xx' is not a status code or range"),
    ({"type": "status_code", "value": "600"}, "status codes are between 100 and 599"),
    ({"type": "body_contains", "value": ""}, "body_contains: value must be a non-empty string."),
    ({"type": "body_not_contains", "value": 3}, "body_not_contains: value must be a non-empty"),
    ({"type": "header_contains", "name": "X", "value": ""}, "header_contains: value must be"),
    ({"type": "header_equals", "name": "", "value": "v"}, "header_equals: name must be a header"),
    ({"type": "json_path_exists", "path": ""}, "json_path_exists: path must be a JSONPath"),
    ({"type": "json_path_exists", "path": "$[["}, "'$[[' is not a valid JSONPath"),
    ({"type": "response_time_below", "value": -1}, "value must be a positive number."),
    ({"type": "response_time_below", "value": True}, "value must be a positive number."),
    ({"type": "cert_valid_days", "value": "14"}, "cert_valid_days: value must be a positive"),
    ({"type": "condition", "value": ""}, "condition: value must be a condition such as [STATUS]"),
    (
        {"type": "condition", "value": "[STATUS] === 200"},
        "Assertion 2: condition '[STATUS] === 200': unknown operator '==='",
    ),
    ({"type": "reply_contains", "value": ""}, "reply_contains: value must be a non-empty string."),
    ({"type": "rcode", "value": "GONE"}, "rcode: 'GONE' is not one of NOERROR, FORMERR"),
    ({"type": "answer_equals", "value": "192.0.2.1"}, "answer_equals: value must be a list"),
    ({"type": "answer_matches", "value": "(["}, "answer_matches: '([' is not a regex"),
    ({"type": "packet_loss_below", "value": 0}, "packet_loss_below: value must be a positive"),
    ({"type": "packet_loss_below", "value": 150}, "packet_loss_below: value is a percentage"),
    ({"type": "rtt_below", "value": "5"}, "rtt_below: value must be a positive number."),
]


def messages(assertions: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        validate(assertions)
    return caught.value.messages


def test_every_kind_is_registered_under_its_type():
    def subclasses(cls: type) -> set[type]:
        children: list[type] = cls.__subclasses__()
        return {sub for child in children for sub in {child, *subclasses(child)}}

    assert set(KINDS.values()) == subclasses(Assertion)
    assert all(KINDS[kind].kind == kind for kind in KINDS)


def test_one_valid_assertion_of_every_kind_is_accepted():
    assert {spec["type"] for spec in VALID} == set(KINDS)

    validate(VALID)

    assert [type(parse_assertion(spec)).kind for spec in VALID] == [s["type"] for s in VALID]


@pytest.mark.parametrize(("assertion", "message"), INVALID, ids=[str(a) for a, _ in INVALID])
def test_a_bad_assertion_is_refused_with_its_number_and_what_to_fix(assertion, message):
    found = messages([VALID[0], assertion])

    assert len(found) == 1
    assert found[0].startswith("Assertion 2: ")
    assert message in found[0]


def test_every_bad_assertion_is_reported_not_only_the_first():
    found = messages(
        [
            {"type": "nope"},
            {"type": "body_contains", "value": "fine"},
            {"type": "json_path_exists", "path": "$[["},
            {"type": "response_time_below", "value": 0},
        ]
    )

    assert [message.split(":")[0] for message in found] == [
        "Assertion 1",
        "Assertion 3",
        "Assertion 4",
    ]


def test_assertions_must_be_a_short_list():
    assert messages({"type": "body_contains", "value": "x"}) == ["Assertions must be a list."]
    too_many = [VALID[1]] * (MAX_ASSERTIONS + 1)
    assert messages(too_many) == [f"At most {MAX_ASSERTIONS} assertions."]


@pytest.mark.parametrize(
    ("monitor_kind", "spec", "applies"),
    [
        ("http", {"type": "body_contains", "value": "ok"}, True),
        ("dns", {"type": "body_contains", "value": "ok"}, False),
        ("tcp", {"type": "reply_contains", "value": "ok"}, True),
        ("http", {"type": "reply_contains", "value": "ok"}, False),
        ("tls", {"type": "cert_valid_days", "value": 7}, True),
        ("tcp", {"type": "cert_valid_days", "value": 7}, False),
        ("dns", {"type": "rcode", "value": "NOERROR"}, True),
        ("tls", {"type": "answer_contains", "value": "x"}, False),
        ("dns", {"type": "response_time_below", "value": 100}, True),
        ("tcp", {"type": "response_time_below", "value": 100}, True),
    ],
)
def test_each_assertion_type_applies_to_the_kinds_it_declares(monitor_kind, spec, applies):
    if applies:
        validate_assertions_apply([spec], monitor_kind=monitor_kind)
        return
    with pytest.raises(ValidationError) as caught:
        validate_assertions_apply(
            [{"type": "response_time_below", "value": 100}, spec], monitor_kind=monitor_kind
        )
    [message] = caught.value.messages
    assert message.startswith(
        f"Assertion 2: {spec['type']} does not apply to {monitor_kind} monitors; use one of: "
    )
