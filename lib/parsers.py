"""JSON request bodies with a bounded nesting depth.

Python's JSON decoder recurses once per nesting level: a 5,000-deep body (a few kilobytes)
raised RecursionError, a 500. No document of ours nests more than a handful of levels, so
anything deeper than ``MAX_JSON_DEPTH`` is refused as a parse error (400) in every API
endpoint (``BoundedJSONParser`` is DRF's default parser) and in the dashboard's JSON fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64
TOO_DEEP = f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)."


class JSONTooDeepError(json.JSONDecodeError):
    """A document nested deeper than ``MAX_JSON_DEPTH``; a JSONDecodeError like any other."""

    def __init__(self, document: str) -> None:
        super().__init__(TOO_DEEP, document, 0)


def depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` has containers nested more than ``limit`` deep (iteratively)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def loads_bounded(text: str) -> Any:
    """``json.loads``, raising ``JSONTooDeepError`` for a document nested too deeply."""
    try:
        value = json.loads(text)
    except RecursionError:  # deeper than the interpreter's recursion limit
        raise JSONTooDeepError(text) from None
    if depth_exceeds(value):
        raise JSONTooDeepError(text)
    return value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 for a body nested more than ``MAX_JSON_DEPTH`` deep."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            value = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if depth_exceeds(value):
            raise ParseError(TOO_DEEP)
        return value
