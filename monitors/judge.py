"""The check's judgement: a response snapshot and a monitor's rules in, a verdict out.

Pure: no database, no network, no clock (``now`` is passed in), so a table of cases tests
every rule in milliseconds. The HTTP side lives in ``monitors.checker``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonpath_ng.ext import parse as parse_json_path

from monitors.models import CheckPhase, CheckStatus
from monitors.status_codes import parse_status_spec, status_matches

MAX_REASON = 500


@dataclass(frozen=True)
class ResponseSnapshot:
    """What the checker saw of one answer; enough to judge it, nothing more."""

    status_code: int
    elapsed_ms: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_truncated: bool = False  # only the first MAX_BODY bytes were read
    encoding: str | None = None
    cert_expires_at: datetime | None = None  # None for plain HTTP
    is_https: bool = False

    @property
    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class Verdict:
    status: str  # CheckStatus
    phase: str = CheckPhase.NONE
    reason: str = ""
    failed_assertion: dict | None = None

    @property
    def is_up(self) -> bool:
        return self.status == CheckStatus.UP


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _json_equal(actual: Any, expected: Any) -> bool:
    # In Python True == 1; in JSON true and 1 are different answers.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    return actual == expected


def _json_matches(snapshot: ResponseSnapshot, path: str) -> tuple[list[Any] | None, str]:
    """Values at ``path``, or (None, why) when the body cannot be read as JSON."""
    if snapshot.body_truncated:
        return None, "the body is over the read limit, so it cannot be parsed as JSON"
    try:
        document = json.loads(snapshot.text)
    except ValueError as exc:
        return None, f"the body is not valid JSON ({exc.msg} at line {exc.lineno})"
    return [match.value for match in parse_json_path(path).find(document)], ""


def _failed(assertion: dict, snapshot: ResponseSnapshot, now: datetime) -> str | None:
    """Why ``assertion`` does not hold, or None when it does."""
    kind = assertion["type"]
    value = assertion.get("value")
    if kind == "status_code":
        if not status_matches(parse_status_spec(str(value)), snapshot.status_code):
            return f"status code {snapshot.status_code} is not {value}"
    elif kind in ("body_contains", "body_not_contains"):
        found = value in snapshot.text
        scope = " (first 1 MiB searched)" if snapshot.body_truncated else ""
        if kind == "body_contains" and not found:
            return f"body does not contain {_short(value)}{scope}"
        if kind == "body_not_contains" and found:
            return f"body contains {_short(value)}"
    elif kind in ("json_path_equals", "json_path_exists"):
        path = assertion["path"]
        values, why = _json_matches(snapshot, path)
        if values is None:
            return f"{path}: {why}"
        if not values:
            return f"{path} not found in the JSON body"
        if kind == "json_path_equals" and not any(_json_equal(v, value) for v in values):
            actual = values[0] if len(values) == 1 else values
            return f"{path} is {_short(actual)}, expected {_short(value)}"
    elif kind in ("header_equals", "header_contains"):
        name = assertion["name"]
        actual = snapshot.header(name)
        if actual is None:
            return f"header {name} is missing"
        if kind == "header_equals" and actual.strip() != value:
            return f"header {name} is {_short(actual)}, expected {_short(value)}"
        if kind == "header_contains" and value not in actual:
            return f"header {name} ({_short(actual)}) does not contain {_short(value)}"
    elif kind == "response_time_below":
        if snapshot.elapsed_ms >= value:
            return f"response took {snapshot.elapsed_ms} ms, limit {value:g} ms"
    elif kind == "cert_valid_days":
        if snapshot.cert_expires_at is None:
            return "no TLS certificate to check (not an https:// URL)"
        days_left = (snapshot.cert_expires_at - now).total_seconds() / 86400
        if days_left <= value:
            expiry = f"{snapshot.cert_expires_at:%Y-%m-%d}"
            if days_left < 0:
                return f"TLS certificate expired on {expiry}"
            return (
                f"TLS certificate expires on {expiry}, in {days_left:.1f} days (minimum {value:g})"
            )
    else:  # validated on save; an unknown type here means stale data, not a passing check
        return f"unknown assertion type {kind!r}"
    return None


def judge(
    snapshot: ResponseSnapshot,
    *,
    expected_status: str,
    assertions: list[dict],
    now: datetime,
) -> Verdict:
    """UP when the status code is expected and every assertion holds; else DOWN and why.

    The first failure is reported; ``failed_assertion`` carries it for people and the API.
    """
    if not status_matches(parse_status_spec(expected_status), snapshot.status_code):
        return Verdict(
            CheckStatus.DOWN,
            CheckPhase.STATUS,
            f"HTTP {snapshot.status_code}, expected {expected_status}",
        )
    for index, assertion in enumerate(assertions, start=1):
        why = _failed(assertion, snapshot, now)
        if why is not None:
            is_status = assertion["type"] == "status_code"
            phase = CheckPhase.STATUS if is_status else CheckPhase.ASSERTION
            return Verdict(
                CheckStatus.DOWN,
                phase,
                _clip(f"Assertion {index} failed: {why}"),
                failed_assertion=assertion,
            )
    return Verdict(CheckStatus.UP, CheckPhase.NONE, f"HTTP {snapshot.status_code}")
