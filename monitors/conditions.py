"""Gatus-compatible conditions: ``[STATUS] == 200``, ``[BODY].status == UP``, ...

A condition is two operands and an operator, written as Gatus documents them (README,
"Conditions", "Placeholders", "Functions"), so a Gatus endpoint's conditions can be pasted
into a monitor unchanged:

- operators ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, with a space on each side;
- placeholders ``[STATUS]``, ``[RESPONSE_TIME]`` (ms), ``[IP]``, ``[CONNECTED]``,
  ``[CERTIFICATE_EXPIRATION]``, ``[DNS_RCODE]``, ``[BODY]`` and its paths ``[BODY].a.b[0]``;
- functions ``len(...)`` and ``has(...)`` around a placeholder, ``pat(...)`` (a glob with
  ``*``) and ``any(a, b)`` as the other side of ``==`` / ``!=``.

Both sides resolve to text, as in Gatus: equality compares integers when both sides are
integers (``0x10 == 16``) and the text otherwise (JSON ``1`` and ``"1"`` are equal); order
compares numbers, a Go duration (``48h``, ``1h30m``) counting as its milliseconds. The
failure reason is the condition with the resolved values in brackets, as Gatus shows it:
``[STATUS] (503) == 200``.

Where Gatus is silent or lenient, this module is strict, because a monitor that cannot see
what it checks must not report UP: a condition Gatus would accept but never evaluate usefully
(an unknown placeholder, ``pat`` with ``<``, a word compared with ``>``) is refused when it is
written; a missing JSON path fails the condition whatever the operator (Gatus lets ``!=``
pass); a value that is not a number fails an ordering instead of counting as 0; decimals are
compared exactly (Gatus truncates them to integers).

Pure: no database, no network; ``Facts`` is what a check observed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any

OPERATORS = ("==", "!=", "<=", ">=", ">", "<")  # Gatus' search order: "<" is in "<="
EQUALITY_OPERATORS = frozenset({"==", "!="})

# What each placeholder resolves from (see ``Facts``).
PLACEHOLDERS = (
    "STATUS",
    "RESPONSE_TIME",
    "IP",
    "CONNECTED",
    "CERTIFICATE_EXPIRATION",
    "DNS_RCODE",
    "BODY",
)
# Gatus placeholders that need what healthmon does not do (a WHOIS lookup, suites).
UNSUPPORTED = {
    "DOMAIN_EXPIRATION": "healthmon does not look up domain registrations",
    "CONTEXT": "healthmon has no suites to share a context",
}
PATTERN_DISPLAY_LIMIT = 25  # Gatus shortens a value shown beside a pat(), for the eye only

_PLACEHOLDER = re.compile(r"\[([A-Za-z_]+)\](.*)", re.DOTALL)
_PATH_SEGMENT = re.compile(r"([^.\[\]]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")
# Go's integer syntax with base 0 (strconv.ParseInt(s, 0, 64)): 0x1f, 0o17, 017, 0b101, 42.
_GO_INTEGER = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[1-9][0-9]*|0)")
_GO_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,
    "μs": 1e-3,
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
}


class ConditionError(ValueError):
    """The condition cannot be evaluated; the message says why, for the person writing it."""


# --- What a check observed --------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """The values placeholders resolve to, with Gatus' value where a check has none."""

    status: int = 0
    response_time_ms: int = 0
    body: str = ""
    body_truncated: bool = False
    ip: str = ""
    connected: bool = True
    certificate_expiration_ms: int = 0  # 0 without a certificate, as in Gatus
    dns_rcode: str = ""

    @classmethod
    def of(cls, snapshot: Any, now: datetime) -> Facts:
        """The facts of any kind's snapshot; what a kind does not observe keeps its default."""
        expires_at = getattr(snapshot, "cert_expires_at", None)
        return cls(
            status=getattr(snapshot, "status_code", None) or 0,
            response_time_ms=getattr(snapshot, "elapsed_ms", None) or 0,
            body=getattr(snapshot, "text", ""),
            body_truncated=getattr(snapshot, "body_truncated", False),
            ip=getattr(snapshot, "peer_address", None) or "",
            # A check that could not connect never reaches the judge (it is an ERROR).
            connected=getattr(snapshot, "connected", True),
            certificate_expiration_ms=(
                int((expires_at - now).total_seconds() * 1000) if expires_at else 0
            ),
            dns_rcode=getattr(snapshot, "rcode", None) or "",
        )

    @cached_property
    def document(self) -> Any:
        """The body parsed as JSON, once per check; ``_Unresolved`` when it cannot be."""
        if self.body_truncated:
            return _Unresolved("the body is over the 1 MiB read limit, so it is not parsed")
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as exc:
            return _Unresolved(f"the body is not JSON ({exc.msg} at line {exc.lineno})")


@dataclass(frozen=True)
class _Unresolved:
    why: str


# --- Operands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    text: str

    def resolve(self, facts: Facts) -> str | _Unresolved:
        return self.text


@dataclass(frozen=True)
class _Pattern:
    """``pat(john*)``: a glob matched against the other side."""

    text: str
    glob: str

    def resolve(self, facts: Facts) -> str | _Unresolved:
        return self.text

    def matches(self, value: str) -> bool:
        if self.glob == "*":
            return True
        # Gatus matches with Go's filepath.Match after removing "/" from both sides.
        return fnmatchcase(value.replace("/", ""), self.glob.replace("/", ""))


@dataclass(frozen=True)
class _AnyOf:
    """``any(200, 429)``: one of the listed values, compared as text."""

    text: str
    options: tuple[str, ...]

    def resolve(self, facts: Facts) -> str | _Unresolved:
        return self.text


@dataclass(frozen=True)
class _Placeholder:
    text: str
    name: str  # one of PLACEHOLDERS
    path: tuple[str | int, ...] = ()  # only for BODY: keys and list indexes
    function: str = ""  # "", "len" or "has"

    def resolve(self, facts: Facts) -> str | _Unresolved:
        if self.name != "BODY":
            return _apply(self.function, self._scalar(facts))
        if not self.path:
            return self._whole_body(facts)
        value = _walk(facts.document, self.path)
        if self.function == "has":
            return _bool(not isinstance(value, _Unresolved))
        if isinstance(value, _Unresolved):
            return value
        if self.function == "len":
            return str(_length(value))
        return _text(value)

    def _scalar(self, facts: Facts) -> str:
        return {
            "STATUS": lambda: str(facts.status),
            "RESPONSE_TIME": lambda: str(facts.response_time_ms),
            "IP": lambda: facts.ip,
            "CONNECTED": lambda: _bool(facts.connected),
            "CERTIFICATE_EXPIRATION": lambda: str(facts.certificate_expiration_ms),
            "DNS_RCODE": lambda: facts.dns_rcode,
        }[self.name]()

    def _whole_body(self, facts: Facts) -> str:
        body = facts.body.strip()
        if self.function == "has":
            return _bool(bool(body))
        if self.function == "len":
            # A JSON array counts its items; anything else its characters.
            document = facts.document
            return str(len(document) if isinstance(document, list) else len(body))
        return body


_Operand = _Literal | _Pattern | _AnyOf | _Placeholder


def _apply(function: str, value: str) -> str:
    if function == "has":
        return _bool(value != "")
    if function == "len":
        return str(len(value))
    return value


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _walk(document: Any, path: tuple[str | int, ...]) -> Any:
    if isinstance(document, _Unresolved):
        return document
    value = document
    where = "the JSON body"
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list):
                return _Unresolved(f"{where} is not a list")
            if step >= len(value):
                return _Unresolved(f"{where} has {len(value)} items, no [{step}]")
            value = value[step]
            where = f"item [{step}]"
        else:
            if not isinstance(value, dict):
                return _Unresolved(f"{where} is not an object, so it has no {step!r}")
            if step not in value:
                return _Unresolved(f"no {step!r} in {where}")
            value = value[step]
            where = repr(step)
    if value is None:  # Gatus counts a null as absent (has() is false)
        return _Unresolved(f"{where} is null")
    return value


def _text(value: Any) -> str:
    """A JSON value as Gatus shows it: strings bare, true/false, 1 for 1.0, JSON otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _length(value: Any) -> int:
    # Gatus: a list counts its items; anything else the characters of its minified JSON.
    return len(value) if isinstance(value, list) else len(_text(value))


# --- Numbers and durations --------------------------------------------------------------------


def go_integer(text: str) -> int | None:
    if not _GO_INTEGER.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return sign * int(digits, 8)  # Go reads a leading 0 as octal
    return sign * int(digits, 0)


def go_duration_ms(text: str) -> float | None:
    """Milliseconds of a Go duration ("48h", "1h30m", "300ms"); None for anything else."""
    match = _GO_DURATION.fullmatch(text)
    if not match:
        return None
    total = sum(float(number) * _UNIT_MS[unit] for number, unit in _DURATION_PART.findall(text))
    return -total if match.group(1) == "-" else total


def number(text: str) -> float | None:
    """A side of ``<`` as Gatus reads it: a duration in ms, an integer, a decimal."""
    duration = go_duration_ms(text)
    if duration is not None:
        return duration
    integer = go_integer(text)
    if integer is not None:
        return integer
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def format_duration(milliseconds: float) -> str:
    """Like Gatus: whole seconds, zero minutes and seconds left out ("48h", "1h30m", "0s")."""
    sign = "-" if milliseconds < 0 else ""
    seconds = int(abs(milliseconds) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (seconds, "s")]
    while parts and parts[0][0] == 0:  # no leading zero units
        parts.pop(0)
    while len(parts) > 1 and parts[-1][0] == 0:  # nor trailing ones
        parts.pop()
    return sign + "".join(f"{n}{unit}" for n, unit in parts) if parts else "0s"


# --- Parsing ----------------------------------------------------------------------------------


def _split(text: str) -> tuple[str, str, str]:
    # Padded so that "[STATUS] ==" is an operator with nothing after it, not no operator.
    padded = f" {text} "
    for operator in OPERATORS:
        parts = padded.split(f" {operator} ")
        if len(parts) == 2:
            return parts[0].strip(), operator, parts[1].strip()
        if len(parts) > 2:
            raise ConditionError(f"more than one {operator!r}; a condition compares two sides")
    unknown = re.search(r"\s([=!<>]+)\s", padded)
    if unknown:
        raise ConditionError(f"unknown operator {unknown.group(1)!r}")
    raise ConditionError("no operator; use ==, !=, <, <=, > or >= with a space on each side")


def _body_path(text: str, rest: str) -> tuple[str | int, ...]:
    if not rest.startswith((".", "[")):
        raise ConditionError(f"{text!r}: after [BODY] comes a path such as .status or [0]")
    path: list[str | int] = []
    segments = rest[1:].split(".") if rest.startswith(".") else rest.split(".")
    for position, segment in enumerate(segments):
        match = _PATH_SEGMENT.fullmatch(segment)
        # Only the first segment may be a bare index: [BODY][0].id on a JSON list.
        if not match or (not match.group(1) and (position > 0 or not match.group(2))):
            raise ConditionError(f"{text!r}: {segment!r} is not a key or key[index]")
        if match.group(1):
            path.append(match.group(1))
        path.extend(int(index) for index in _INDEX.findall(match.group(2)))
    return tuple(path)


def _placeholder(text: str, inner: str, function: str) -> _Placeholder | None:
    match = _PLACEHOLDER.fullmatch(inner)
    if not match:
        return None
    name, rest = match.group(1).upper(), match.group(2)
    if name in UNSUPPORTED:
        raise ConditionError(f"[{name}] is not supported: {UNSUPPORTED[name]}")
    if name not in PLACEHOLDERS:
        known = ", ".join(f"[{known}]" for known in PLACEHOLDERS)
        raise ConditionError(f"unknown placeholder [{match.group(1)}]; use one of {known}")
    if name != "BODY" and rest:
        raise ConditionError(f"{inner!r}: only [BODY] takes a path")
    path = _body_path(inner, rest) if rest else ()
    return _Placeholder(text, name, path, function)


def _operand(text: str) -> _Operand:
    if not text:
        raise ConditionError("a side of the comparison is empty")
    for function in ("len", "has"):
        if text.startswith(f"{function}(") and text.endswith(")"):
            inner = text[len(function) + 1 : -1].strip()
            placeholder = _placeholder(text, inner, function)
            if placeholder is None:
                raise ConditionError(f"{function}() takes a placeholder, e.g. {function}([BODY])")
            return placeholder
    if text.startswith("pat(") and text.endswith(")"):
        return _Pattern(text, text[4:-1])
    if text.startswith("any(") and text.endswith(")"):
        return _AnyOf(text, tuple(option.strip() for option in text[4:-1].split(",")))
    return _placeholder(text, text, "") or _Literal(text)


@dataclass(frozen=True)
class Condition:
    text: str
    left: _Operand
    operator: str
    right: _Operand

    def failure(self, facts: Facts) -> str | None:
        """Why the condition does not hold (Gatus' display of it), or None when it does."""
        resolved = (self.left.resolve(facts), self.right.resolve(facts))
        unresolved = [side for side in resolved if isinstance(side, _Unresolved)]
        if unresolved:
            return f"{self._display(resolved)}: {unresolved[0].why}"
        left, right = resolved
        assert isinstance(left, str) and isinstance(right, str)
        if self.operator in EQUALITY_OPERATORS:
            holds = self._equal(left, right) == (self.operator == "==")
            return None if holds else self._display(resolved)
        numbers = (number(left), number(right))
        for side, value in zip(resolved, numbers, strict=True):
            if value is None:
                return f"{self._display(resolved, numbers)}: {side!r} is not a number"
        holds = _ORDER[self.operator](numbers[0], numbers[1])
        return None if holds else self._display(resolved, numbers)

    def _equal(self, left: str, right: str) -> bool:
        for one, other in ((self.left, right), (self.right, left)):
            if isinstance(one, _Pattern):
                return one.matches(other)
            if isinstance(one, _AnyOf):
                return other in one.options
        left_integer, right_integer = go_integer(left), go_integer(right)
        if left_integer is not None and right_integer is not None:
            return left_integer == right_integer
        return left == right

    def _display(
        self,
        resolved: tuple[str | _Unresolved, str | _Unresolved],
        numbers: tuple[float | None, float | None] = (None, None),
    ) -> str:
        shown = [
            self._shown(operand, value, amount, other)
            for operand, value, amount, other in zip(
                (self.left, self.right), resolved, numbers, (self.right, self.left), strict=True
            )
        ]
        return f"{shown[0]} {self.operator} {shown[1]}"

    @staticmethod
    def _shown(
        operand: _Operand, value: str | _Unresolved, amount: float | None, other: _Operand
    ) -> str:
        # "[STATUS] (503)": the operand as written, then what it resolved to if that differs.
        if isinstance(value, _Unresolved):
            return f"{operand.text} (INVALID)"
        is_duration = (
            isinstance(operand, _Placeholder) and operand.name == "CERTIFICATE_EXPIRATION"
        ) or go_duration_ms(operand.text) is not None
        if amount is not None and is_duration:
            value = format_duration(amount)
        if isinstance(other, _Pattern) and len(value) > PATTERN_DISPLAY_LIMIT:
            value = f"{value[:PATTERN_DISPLAY_LIMIT]}...(truncated)"
        return operand.text if value == operand.text else f"{operand.text} ({value})"


_ORDER = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def parse_condition(text: str) -> Condition:
    """The condition ``text`` states; ConditionError saying why it cannot be evaluated."""
    left_text, operator, right_text = _split(text.strip())
    left, right = _operand(left_text), _operand(right_text)
    functions = [side for side in (left, right) if isinstance(side, (_Pattern, _AnyOf))]
    if functions and operator not in EQUALITY_OPERATORS:
        name = functions[0].text.split("(", 1)[0]
        raise ConditionError(f"{name}() works only with == and !=")
    if len(functions) == 2:
        raise ConditionError("only one side may be pat() or any()")
    if not any(isinstance(side, _Placeholder) for side in (left, right)):
        raise ConditionError("compares no placeholder such as [STATUS] or [BODY].status")
    if operator not in EQUALITY_OPERATORS:
        for side in (left, right):
            if isinstance(side, _Literal) and number(side.text) is None:
                raise ConditionError(
                    f"{side.text!r} is not a number or a duration (units ms, s, m, h) for "
                    f"{operator!r}"
                )
    return Condition(text, left, operator, right)
