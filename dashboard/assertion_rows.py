"""The monitor form's assertion builder: rows of (type, field, operator, value) to and from
the assertions JSON the API takes (monitors/assertions.py).

One table, ``SUBJECTS``, says what a row can check and which assertion each operator
becomes; the page's selects, the script that narrows them, the parsing and the way back for
an edited monitor all read it. A new assertion kind is one more entry (or operator) here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from monitors.assertions import KINDS as ASSERTION_KINDS
from monitors.assertions import parse_assertion

OPERATORS = {
    "is": "is",
    "equals": "equals",
    "contains": "contains",
    "not_contains": "does not contain",
    "matches": "matches",
    "exists": "exists",
    "below": "is below",
    "at_least": "is at least",
    "holds": "holds",
}


@dataclass(frozen=True)
class Subject:
    label: str
    operators: dict[str, str]  # operator -> assertion type
    field: str = ""  # the assertion key the row's "field" box fills (path, name), if any
    field_label: str = ""
    value: str = "text"  # "text", "number" or "json" (parsed as JSON when it is JSON)
    placeholder: str = ""
    no_value: frozenset[str] = dataclasses.field(
        default_factory=frozenset
    )  # operators without a value

    @property
    def monitor_kinds(self) -> list[str]:
        kinds: set[str] = set()
        for assertion_type in self.operators.values():
            kinds |= ASSERTION_KINDS[assertion_type].monitor_kinds
        return sorted(kinds)


SUBJECTS: dict[str, Subject] = {
    "status": Subject("Status code", {"is": "status_code"}, placeholder="200-299,301"),
    "body": Subject(
        "Body", {"contains": "body_contains", "not_contains": "body_not_contains"}, placeholder="ok"
    ),
    "json": Subject(
        "JSON path",
        {"equals": "json_path_equals", "exists": "json_path_exists"},
        field="path",
        field_label="Path, e.g. $.status",
        value="json",
        placeholder='"ok", 3 or true',
        no_value=frozenset({"exists"}),
    ),
    "header": Subject(
        "Response header",
        {"equals": "header_equals", "contains": "header_contains"},
        field="name",
        field_label="Header name",
    ),
    "response_time": Subject(
        "Response time (ms)", {"below": "response_time_below"}, value="number", placeholder="500"
    ),
    "cert": Subject(
        "Certificate days left", {"at_least": "cert_valid_days"}, value="number", placeholder="14"
    ),
    "reply": Subject("TCP reply", {"contains": "reply_contains"}, placeholder="+PONG"),
    "rcode": Subject("DNS response code", {"is": "rcode"}, placeholder="NOERROR"),
    "answer": Subject(
        "DNS answer",
        {"contains": "answer_contains", "equals": "answer_equals", "matches": "answer_matches"},
        placeholder="192.0.2.10",
    ),
    "packet_loss": Subject(
        "Packet loss (%)", {"below": "packet_loss_below"}, value="number", placeholder="20"
    ),
    "rtt": Subject("Round trip (ms)", {"below": "rtt_below"}, value="number", placeholder="100"),
    "condition": Subject(
        "Gatus condition", {"holds": "condition"}, placeholder="[BODY].status == UP"
    ),
}

ROW_KEYS = ("type", "field", "operator", "value")
POST_PREFIX = "assertion_"  # assertion_type, assertion_field, ... (one value per row)


@dataclass
class Row:
    type: str = ""
    field: str = ""
    operator: str = ""
    value: str = ""

    @property
    def is_blank(self) -> bool:
        return not (self.type or self.field.strip() or self.value.strip())


def rows_posted(data: Any) -> list[Row] | None:
    """The rows of a posted form, or None when the page had no builder (an API-style post
    with an ``assertions`` JSON box)."""
    if POST_PREFIX + "type" not in data:
        return None
    columns = [data.getlist(POST_PREFIX + key) for key in ROW_KEYS]
    count = max(len(column) for column in columns)
    return [
        Row(*(column[i] if i < len(column) else "" for column in columns)) for i in range(count)
    ]


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number


def rows_to_assertions(rows: Sequence[Row]) -> tuple[list[dict], list[str]]:
    """The assertions the filled rows describe, and a message per unusable row
    ("Assertion 2: ...", numbered as the API numbers them; blank rows are skipped)."""
    assertions: list[dict] = []
    problems: list[str] = []
    for row in rows:
        if row.is_blank:
            continue
        number = len(assertions) + 1
        subject = SUBJECTS.get(row.type)
        if subject is None:
            problems.append(f"Assertion {number}: choose what to check.")
            assertions.append({})
            continue
        assertion_type = subject.operators.get(row.operator)
        if assertion_type is None:
            choices = ", ".join(f"“{OPERATORS[op]}”" for op in subject.operators)
            problems.append(f"Assertion {number}: {subject.label} takes {choices}.")
            assertions.append({})
            continue
        spec: dict[str, Any] = {"type": assertion_type}
        if subject.field:
            spec[subject.field] = row.field.strip()
        if row.operator not in subject.no_value:
            text = row.value.strip()
            if subject.value == "number":
                try:
                    spec["value"] = _number(text)
                except ValueError:
                    problems.append(f"Assertion {number}: {subject.label} needs a number.")
            elif subject.value == "json":
                try:
                    spec["value"] = json.loads(text)
                except ValueError:
                    spec["value"] = text  # a bare word means the text
            else:
                spec["value"] = text
        if not any(p.startswith(f"Assertion {number}:") for p in problems):
            try:  # the API's own check of the values, so every row's problem shows at once
                parse_assertion(spec)
            except ValidationError as exc:
                problems.append(f"Assertion {number}: {exc.messages[0]}")
        assertions.append(spec)
    return assertions, problems


def assertion_to_row(spec: dict) -> Row:
    """The row that shows a stored assertion (the way back, for an edited monitor)."""
    for key, subject in SUBJECTS.items():
        for operator, assertion_type in subject.operators.items():
            if spec.get("type") != assertion_type:
                continue
            value = spec.get("value", "")
            if subject.value == "json" and "value" in spec:
                if isinstance(value, str):
                    try:
                        json.loads(value)
                    except ValueError:
                        pass
                    else:
                        value = json.dumps(value)  # "1" stays text, not the number 1
                else:
                    value = json.dumps(value)
            return Row(
                key, str(spec.get(subject.field, "")) if subject.field else "", operator, str(value)
            )
    return Row()


def subject_choices() -> list[dict]:
    """What the page's selects and script need, from the table."""
    return [
        {
            "key": key,
            "label": subject.label,
            "operators": list(subject.operators),
            "field_label": subject.field_label,
            "value": subject.value,
            "placeholder": subject.placeholder,
            "no_value": sorted(subject.no_value),
            "monitor_kinds": subject.monitor_kinds,
        }
        for key, subject in SUBJECTS.items()
    ]
