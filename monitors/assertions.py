"""Response assertions a monitor can carry: one small class per kind.

An assertion is stored as a JSON object with a ``type`` and the keys that type needs, e.g.
``{"type": "json_path_equals", "path": "$.status", "value": "ok"}``. All must hold.

Each kind says which keys it takes, parses and checks their values when built (raising
ValidationError: on every write, through ``validate_assertions``) and judges a response
(``failure``, on every check), so adding a kind is adding one class to ``KINDS``.
Nothing here touches the database or the network: ``monitors.judge`` calls ``failure`` with
a response snapshot and the time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_json_path

from monitors.conditions import ConditionError, Facts, parse_condition
from monitors.status_codes import parse_status_spec, status_matches

if TYPE_CHECKING:  # the judge imports this module; the snapshot is only a type here
    from monitors.judge import ResponseSnapshot

MAX_ASSERTIONS = 20


# --- Helpers shared by the kinds ------------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _require_text(kind: str, key: str, value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{kind}: {key} must be {what}.")


def _require_positive_number(kind: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValidationError(f"{kind}: value must be a positive number.")


def _json_equal(actual: Any, expected: Any) -> bool:
    # In Python True == 1; in JSON true and 1 are different answers.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    return bool(actual == expected)


# --- The kinds ------------------------------------------------------------------------------


ALL_MONITOR_KINDS = frozenset({"http", "tcp", "dns", "tls", "icmp"})


class Assertion:
    """One assertion of one kind, built by ``parse_assertion`` from its stored spec."""

    kind: ClassVar[str]
    keys: ClassVar[frozenset[str]]  # all required, none optional
    # The monitor kinds whose snapshots carry what this assertion reads (monitors.kinds).
    monitor_kinds: ClassVar[frozenset[str]] = frozenset({"http"})
    # A failed status_code assertion is a status failure (phase "status"), not a content one.
    judges_status_code: ClassVar[bool] = False

    def __init__(self, spec: Mapping[str, Any]) -> None:
        """Parse the values (the keys are checked already); ValidationError if unusable."""
        self.spec = spec
        self.value: Any = spec.get("value")  # each kind checks its own

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        """Why the response does not pass, or None when it does."""
        raise NotImplementedError


class StatusCode(Assertion):
    kind = "status_code"
    keys = frozenset({"value"})
    judges_status_code = True

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.ranges = parse_status_spec(str(self.value))

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        if status_matches(self.ranges, snapshot.status_code):
            return None
        return f"status code {snapshot.status_code} is not {self.value}"


class BodyContains(Assertion):
    kind = "body_contains"
    keys = frozenset({"value"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_text(self.kind, "value", self.value, "a non-empty string")

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        if self.value in snapshot.text:
            return None
        scope = " (first 1 MiB searched)" if snapshot.body_truncated else ""
        return f"body does not contain {_short(self.value)}{scope}"


class BodyNotContains(BodyContains):
    kind = "body_not_contains"

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        if self.value in snapshot.text:
            return f"body contains {_short(self.value)}"
        return None


class JsonPathExists(Assertion):
    kind = "json_path_exists"
    keys = frozenset({"path"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.path = spec["path"]
        _require_text(self.kind, "path", self.path, "a JSONPath such as $.status")
        try:
            self.expression = parse_json_path(self.path)
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
            message = f"{self.kind}: {self.path!r} is not a valid JSONPath ({exc})."
            raise ValidationError(message) from None

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        if snapshot.body_truncated:
            return f"{self.path}: the body is over the read limit, so it cannot be parsed as JSON"
        try:
            document = json.loads(snapshot.text)
        except json.JSONDecodeError as exc:
            return f"{self.path}: the body is not valid JSON ({exc.msg} at line {exc.lineno})"
        values = [match.value for match in self.expression.find(document)]
        if not values:
            return f"{self.path} not found in the JSON body"
        return self.mismatch(values)

    def mismatch(self, values: list[Any]) -> str | None:
        return None  # found is enough


class JsonPathEquals(JsonPathExists):
    kind = "json_path_equals"
    keys = frozenset({"path", "value"})  # the value may be any JSON

    def mismatch(self, values: list[Any]) -> str | None:
        if any(_json_equal(value, self.value) for value in values):
            return None
        actual = values[0] if len(values) == 1 else values
        return f"{self.path} is {_short(actual)}, expected {_short(self.value)}"


class HeaderEquals(Assertion):
    kind = "header_equals"
    keys = frozenset({"name", "value"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.name = spec["name"]
        _require_text(self.kind, "value", self.value, "a non-empty string")
        _require_text(self.kind, "name", self.name, "a header name")

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        actual = snapshot.header(self.name)
        if actual is None:
            return f"header {self.name} is missing"
        return self.mismatch(self.name, actual)

    def mismatch(self, name: str, actual: str) -> str | None:
        if actual.strip() == self.value:
            return None
        return f"header {name} is {_short(actual)}, expected {_short(self.value)}"


class HeaderContains(HeaderEquals):
    kind = "header_contains"

    def mismatch(self, name: str, actual: str) -> str | None:
        if self.value in actual:
            return None
        return f"header {name} ({_short(actual)}) does not contain {_short(self.value)}"


class ResponseTimeBelow(Assertion):
    kind = "response_time_below"
    keys = frozenset({"value"})
    monitor_kinds = ALL_MONITOR_KINDS

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_positive_number(self.kind, self.value)

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        if snapshot.elapsed_ms < self.value:
            return None
        return f"response took {snapshot.elapsed_ms} ms, limit {self.value:g} ms"


class CertValidDays(Assertion):
    kind = "cert_valid_days"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"http", "tls"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_positive_number(self.kind, self.value)

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        if snapshot.cert_expires_at is None:
            return "no TLS certificate to check (not an https:// URL)"
        days_left = (snapshot.cert_expires_at - now).total_seconds() / 86400
        if days_left > self.value:
            return None
        expiry = f"{snapshot.cert_expires_at:%Y-%m-%d}"
        if days_left < 0:
            return f"TLS certificate expired on {expiry}"
        return (
            f"TLS certificate expires on {expiry}, in {days_left:.1f} days (minimum {self.value:g})"
        )


class GatusCondition(Assertion):
    """A Gatus condition, e.g. ``[BODY].status == UP`` (``monitors.conditions``)."""

    kind = "condition"
    keys = frozenset({"value"})
    monitor_kinds = ALL_MONITOR_KINDS  # placeholders a kind's snapshot lacks fail with a reason

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_text(self.kind, "value", self.value, "a condition such as [STATUS] == 200")
        try:
            self.condition = parse_condition(self.value)
        except ConditionError as exc:
            raise ValidationError(f"condition {self.value!r}: {exc}") from None

    def failure(self, snapshot: ResponseSnapshot, now: datetime) -> str | None:
        return self.condition.failure(Facts.of(snapshot, now))


class ReplyContains(Assertion):
    """tcp: what the server said (after ``send``, if any) contains a string."""

    kind = "reply_contains"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"tcp"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_text(self.kind, "value", self.value, "a non-empty string")

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        if self.value in snapshot.reply:
            return None
        return f"reply {_short(snapshot.reply)} does not contain {_short(self.value)}"


def normal_answer(text: str) -> str:
    """DNS answers compare without case and without the root's trailing dots."""
    return " ".join(token.rstrip(".") for token in text.split()).casefold()


RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED")


class Rcode(Assertion):
    """dns: the response code (NOERROR, NXDOMAIN, SERVFAIL, ...). Without one, a dns monitor
    expects NOERROR and at least one answer."""

    kind = "rcode"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"dns"})
    judges_status_code = True  # the rcode is DNS's status code

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_text(self.kind, "value", self.value, "a response code such as NOERROR")
        if self.value.upper() not in RCODES:
            known = ", ".join(RCODES)
            raise ValidationError(f"rcode: {self.value!r} is not one of {known}.")

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        if snapshot.rcode == self.value.upper():
            return None
        return f"response code {snapshot.rcode}, expected {self.value.upper()}"


class AnswerContains(Assertion):
    """dns: one of the answers is ``value`` (e.g. "10 mail.example.com" for MX)."""

    kind = "answer_contains"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"dns"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_text(self.kind, "value", self.value, "a non-empty string")

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        if normal_answer(self.value) in {normal_answer(a) for a in snapshot.answers}:
            return None
        return f"answers {_short(snapshot.answers)} do not include {_short(self.value)}"


class AnswerEquals(Assertion):
    """dns: the answers are exactly these, in any order."""

    kind = "answer_equals"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"dns"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        if not isinstance(self.value, list) or not all(
            isinstance(item, str) and item for item in self.value
        ):
            raise ValidationError(f"{self.kind}: value must be a list of answers (strings).")

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        expected = {normal_answer(item) for item in self.value}
        if {normal_answer(a) for a in snapshot.answers} == expected:
            return None
        return f"answers are {_short(snapshot.answers)}, expected {_short(self.value)}"


class AnswerMatches(Assertion):
    """dns: every answer (and there is at least one) matches a regular expression."""

    kind = "answer_matches"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"dns"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_text(self.kind, "value", self.value, "a regular expression")
        try:
            self.pattern = re.compile(self.value)
        except re.error as exc:
            raise ValidationError(f"{self.kind}: {self.value!r} is not a regex ({exc}).") from None

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        if not snapshot.answers:
            return f"no answers to match {_short(self.value)}"
        misfits = [a for a in snapshot.answers if not self.pattern.search(a)]
        if not misfits:
            return None
        return f"answer {_short(misfits[0])} does not match {_short(self.value)}"


class PacketLossBelow(Assertion):
    """icmp: the percentage of pings without a reply is below ``value`` (an icmp monitor
    with no reply at all is a timeout, whatever its assertions)."""

    kind = "packet_loss_below"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"icmp"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_positive_number(self.kind, self.value)
        if self.value > 100:
            raise ValidationError(f"{self.kind}: value is a percentage, at most 100.")

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        if snapshot.packet_loss < self.value:
            return None
        return f"packet loss {snapshot.packet_loss:g}%, limit {self.value:g}%"


class RttBelow(Assertion):
    """icmp: the average round trip of the answered pings is below ``value`` ms."""

    kind = "rtt_below"
    keys = frozenset({"value"})
    monitor_kinds = frozenset({"icmp"})

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        _require_positive_number(self.kind, self.value)

    def failure(self, snapshot: Any, now: datetime) -> str | None:
        if snapshot.rtt_avg_ms < self.value:
            return None
        return f"average round trip {snapshot.rtt_avg_ms:.3f} ms, limit {self.value:g} ms"


KINDS: dict[str, type[Assertion]] = {
    kind.kind: kind
    for kind in (
        StatusCode,
        BodyContains,
        BodyNotContains,
        JsonPathEquals,
        JsonPathExists,
        HeaderEquals,
        HeaderContains,
        ResponseTimeBelow,
        CertValidDays,
        GatusCondition,
        ReplyContains,
        Rcode,
        AnswerContains,
        AnswerEquals,
        AnswerMatches,
        PacketLossBelow,
        RttBelow,
    )
}


# --- Validation and parsing -----------------------------------------------------------------


def parse_assertion(spec: object) -> Assertion:
    """The assertion ``spec`` describes; ValidationError (one message) if it is malformed."""
    if not isinstance(spec, dict):
        raise ValidationError("Each assertion must be an object with a 'type'.")
    kind = KINDS.get(spec.get("type"))  # type: ignore[arg-type]
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise ValidationError(f"Unknown assertion type {spec.get('type')!r}; use one of: {known}.")
    missing = kind.keys - spec.keys()
    if missing:
        raise ValidationError(f"{kind.kind} needs {', '.join(sorted(missing))}.")
    extra = spec.keys() - kind.keys - {"type"}
    if extra:
        raise ValidationError(f"{kind.kind} does not take {', '.join(sorted(extra))}.")
    return kind(spec)


def validate_assertions(assertions: object) -> None:
    """Raise ValidationError naming every malformed assertion ("Assertion 2: ..."), so one
    round trip shows everything to fix."""
    if not isinstance(assertions, list):
        raise ValidationError("Assertions must be a list.")
    if len(assertions) > MAX_ASSERTIONS:
        raise ValidationError(f"At most {MAX_ASSERTIONS} assertions.")
    problems = []
    for index, spec in enumerate(assertions, start=1):
        try:
            parse_assertion(spec)
        except ValidationError as exc:
            problems.append(f"Assertion {index}: {exc.messages[0]}")
    if problems:
        raise ValidationError(problems)


def validate_assertions_apply(assertions: list, *, monitor_kind: str) -> None:
    """Raise ValidationError naming each (well-formed) assertion a ``monitor_kind`` monitor
    cannot be judged by, e.g. body_contains on a dns monitor."""
    problems = []
    for index, spec in enumerate(assertions, start=1):
        kind = KINDS.get(str(spec.get("type"))) if isinstance(spec, dict) else None
        if kind is not None and monitor_kind not in kind.monitor_kinds:
            usable = ", ".join(
                sorted(k for k, c in KINDS.items() if monitor_kind in c.monitor_kinds)
            )
            problems.append(
                f"Assertion {index}: {kind.kind} does not apply to {monitor_kind} monitors; "
                f"use one of: {usable}."
            )
    if problems:
        raise ValidationError(problems)
