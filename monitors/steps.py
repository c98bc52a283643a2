"""The steps of an ``api`` (multi-step) monitor: their shape, their variables, extraction.

A step is a JSON object: ``name``, a request (``method``, ``url``, ``headers``, ``body``),
``expected_status``, ``assertions`` (the http assertion classes) and ``extract`` rules that
put values of the response into variables, e.g. ``{"var": "token", "from": "json",
"path": "$.access_token"}``. Later steps use them as ``{{token}}`` in their URL, headers and
body, as they use the team's variables (``TeamVariable``, for secrets).

Pure, like the judge: no database, no network. Every message names the step and field
("steps[2].extract[0].path: ..."), so the API, the dashboard, the admin and the CLI point at
the place to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_json_path

from monitors.assertions import validate_assertions, validate_assertions_apply
from monitors.status_codes import parse_status_spec
from monitors.validation import (
    VARIABLE_NAME,
    validate_body,
    validate_headers,
    validate_monitor_url,
)

if TYPE_CHECKING:
    from monitors.judge import ResponseSnapshot

MAX_STEPS = 10
MAX_EXTRACTS = 10
MAX_VALUE = 4096  # characters kept of an extracted value
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# {{name}}, spaces allowed inside the braces; a value is inserted as it is, never re-expanded.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

STEP_KEYS = frozenset(
    {"name", "method", "url", "headers", "body", "expected_status", "assertions", "extract"}
)
EXTRACT_KEYS = {"json": {"path"}, "header": {"name"}, "regex": {"pattern"}}


class ExtractionFailed(Exception):
    """A rule found nothing to extract in the response."""


def step_defaults(step: Mapping[str, Any]) -> dict[str, Any]:
    """A validated step with its optional keys filled in."""
    return {
        "method": "GET",
        "headers": {},
        "body": "",
        "expected_status": "200-299",
        "assertions": [],
        "extract": [],
        **step,
    }


def placeholders(step: Mapping[str, Any]) -> set[str]:
    """The variable names a step's URL, header values and body refer to."""
    texts = [step.get("url", ""), step.get("body", ""), *dict(step.get("headers", {})).values()]
    return {name for text in texts if isinstance(text, str) for name in PLACEHOLDER.findall(text)}


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with each ``{{name}}`` replaced by its value (KeyError for an unknown one)."""
    return PLACEHOLDER.sub(lambda match: variables[match.group(1)], text)


def extract(rule: Mapping[str, str], snapshot: ResponseSnapshot) -> str:
    """The value ``rule`` takes from the response; ``ExtractionFailed`` says why not."""
    source = rule["from"]
    if source == "header":
        value = snapshot.header(rule["name"])
        if value is None:
            raise ExtractionFailed(f"no header {rule['name']!r} in the response")
        return value[:MAX_VALUE]
    if source == "regex":
        match = re.search(rule["pattern"], snapshot.text)
        if match is None or match.group(1) is None:
            raise ExtractionFailed(f"/{rule['pattern']}/ does not match the body")
        return match.group(1)[:MAX_VALUE]
    try:
        document = json.loads(snapshot.text)
    except ValueError:
        raise ExtractionFailed("the body is not JSON") from None
    found = parse_json_path(rule["path"]).find(document)
    if not found:
        raise ExtractionFailed(f"{rule['path']} matches nothing in the body")
    value = found[0].value
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:MAX_VALUE]


# --- Validation ---------------------------------------------------------------------------


def validate_steps(steps: object, *, known_variables: Iterable[str]) -> None:
    """Raise ValidationError with one message per problem, each naming its step and field.

    ``known_variables`` are the team's; a step may also use what earlier steps extract."""
    if not isinstance(steps, list):
        raise ValidationError("steps must be a list of step objects.")
    if len(steps) > MAX_STEPS:
        raise ValidationError(f"steps: at most {MAX_STEPS} steps.")
    problems: list[str] = []
    available = set(known_variables)
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            problems.append(f"{where}: must be an object with a name and a url.")
            continue
        problems += _step_problems(where, step)
        for name in sorted(placeholders(step) - available):
            problems.append(
                f"{where}: unknown variable {{{{{name}}}}}: neither extracted by an earlier "
                "step nor a team variable."
            )
        for rule in step.get("extract", []) if isinstance(step.get("extract"), list) else []:
            if isinstance(rule, dict) and isinstance(rule.get("var"), str):
                available.add(rule["var"])
    if problems:
        raise ValidationError(problems)


def _messages(where: str, error: ValidationError) -> list[str]:
    return [f"{where}: {message}" for message in error.messages]


def _step_problems(where: str, step: dict) -> list[str]:
    problems = [f"{where}: unknown key {key!r}." for key in sorted(step.keys() - STEP_KEYS)]
    name = step.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        problems.append(f"{where}.name: a name of 1 to 100 characters is required.")
    url = step.get("url")
    if not isinstance(url, str) or not url:
        problems.append(f"{where}.url: this field is required.")
    else:
        try:  # placeholders stand for anything, so the scheme and a host must be literal
            validate_monitor_url(PLACEHOLDER.sub("x", url))
        except ValidationError as exc:
            problems += _messages(f"{where}.url", exc)
    if step.get("method", "GET") not in METHODS:
        problems.append(f"{where}.method: use one of {', '.join(METHODS)}.")
    body = step.get("body", "")
    checks = [
        ("headers", lambda: validate_headers(step.get("headers", {}))),
        ("body", lambda: validate_body(body) if isinstance(body, str) else _not_text()),
        ("expected_status", lambda: _validate_status(step.get("expected_status", "200-299"))),
        ("assertions", lambda: _validate_step_assertions(step.get("assertions", []))),
    ]
    for field, check in checks:
        try:
            check()
        except ValidationError as exc:
            problems += _messages(f"{where}.{field}", exc)
    return problems + _extract_problems(where, step.get("extract", []))


def _not_text() -> None:
    raise ValidationError("must be a string.")


def _validate_status(spec: object) -> None:
    if not isinstance(spec, str):
        raise ValidationError("must be a string such as 200-299,301.")
    parse_status_spec(spec.replace(" ", ""))


def _validate_step_assertions(assertions: object) -> None:
    validate_assertions(assertions)
    validate_assertions_apply(assertions, monitor_kind="http")  # type: ignore[arg-type]


def _extract_problems(where: str, rules: object) -> list[str]:
    if not isinstance(rules, list):
        return [f"{where}.extract: must be a list of rules."]
    if len(rules) > MAX_EXTRACTS:
        return [f"{where}.extract: at most {MAX_EXTRACTS} rules."]
    problems: list[str] = []
    for index, rule in enumerate(rules):
        at = f"{where}.extract[{index}]"
        if not isinstance(rule, dict):
            problems.append(f"{at}: must be an object with var and from.")
            continue
        if not isinstance(rule.get("var"), str) or not VARIABLE_NAME.match(rule["var"]):
            problems.append(f"{at}.var: a variable name (letters, digits, _) is required.")
        source = rule.get("from")
        if source not in EXTRACT_KEYS:
            problems.append(f"{at}.from: use one of {', '.join(EXTRACT_KEYS)}.")
            continue
        allowed = {"var", "from", *EXTRACT_KEYS[source]}
        problems += [f"{at}: unknown key {key!r}." for key in sorted(rule.keys() - allowed)]
        for key in sorted(EXTRACT_KEYS[source]):
            problem = _rule_value_problem(source, rule.get(key))
            if problem:
                problems.append(f"{at}.{key}: {problem}")
    return problems


def _rule_value_problem(source: str, value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "this field is required."
    if source == "json":
        try:
            parse_json_path(value)
        except (JsonPathLexerError, JsonPathParserError, ValueError, TypeError):
            return f"{value!r} is not a valid JSONPath."
    elif source == "regex":
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            return f"{value!r} is not a valid regular expression ({exc})."
        if groups < 1:
            return "the pattern needs a group: group 1 is the value extracted."
    return None
