"""Response assertions a monitor can carry: their schema and its validation.

An assertion is a JSON object with a ``type`` and the keys that type needs, e.g.
``{"type": "json_path_equals", "path": "$.status", "value": "ok"}``. All must hold.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_json_path

from monitors.status_codes import parse_status_spec

# type -> (required keys, optional keys)
ASSERTION_TYPES: dict[str, tuple[set[str], set[str]]] = {
    "status_code": ({"value"}, set()),
    "body_contains": ({"value"}, set()),
    "body_not_contains": ({"value"}, set()),
    "json_path_equals": ({"path", "value"}, set()),
    "json_path_exists": ({"path"}, set()),
    "header_equals": ({"name", "value"}, set()),
    "header_contains": ({"name", "value"}, set()),
    "response_time_below": ({"value"}, set()),
    "cert_valid_days": ({"value"}, set()),
}
MAX_ASSERTIONS = 20


def _positive_number(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValidationError(f"{what} must be a positive number.")


def validate_assertion(assertion: object) -> None:
    if not isinstance(assertion, dict):
        raise ValidationError("Each assertion must be an object with a 'type'.")
    kind = assertion.get("type")
    if kind not in ASSERTION_TYPES:
        known = ", ".join(sorted(ASSERTION_TYPES))
        raise ValidationError(f"Unknown assertion type {kind!r}; use one of: {known}.")
    required, optional = ASSERTION_TYPES[kind]
    missing = required - assertion.keys()
    if missing:
        raise ValidationError(f"{kind} needs {', '.join(sorted(missing))}.")
    extra = assertion.keys() - required - optional - {"type"}
    if extra:
        raise ValidationError(f"{kind} does not take {', '.join(sorted(extra))}.")

    value = assertion.get("value")
    if kind == "status_code":
        parse_status_spec(str(value))
    elif kind in ("body_contains", "body_not_contains", "header_equals", "header_contains"):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{kind}: value must be a non-empty string.")
    elif kind in ("response_time_below", "cert_valid_days"):
        _positive_number(value, f"{kind}: value")
    if "path" in assertion:
        path = assertion["path"]
        if not isinstance(path, str) or not path:
            raise ValidationError(f"{kind}: path must be a JSONPath such as $.status.")
        try:
            parse_json_path(path)
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
            raise ValidationError(f"{kind}: {path!r} is not a valid JSONPath ({exc}).") from None
    if "name" in assertion and (not isinstance(assertion["name"], str) or not assertion["name"]):
        raise ValidationError(f"{kind}: name must be a header name.")


def validate_assertions(assertions: object) -> None:
    if not isinstance(assertions, list):
        raise ValidationError("Assertions must be a list.")
    if len(assertions) > MAX_ASSERTIONS:
        raise ValidationError(f"At most {MAX_ASSERTIONS} assertions.")
    for index, assertion in enumerate(assertions):
        try:
            validate_assertion(assertion)
        except ValidationError as exc:
            raise ValidationError(f"Assertion {index + 1}: {exc.messages[0]}") from None
