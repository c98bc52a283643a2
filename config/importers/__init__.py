"""Importers: another tool's configuration translated into healthmon's document format.

Each importer is a pure function (text in; no database, no network) returning a
``Translation``: the document (the same dict ``export`` writes, so it goes through plan and
apply like any other), every item it could not translate with the reason, the ``${NAME}``
variables the document needs (secrets are never written into it) and what the user must do
after applying. Nothing is dropped without a line in the report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.text import slugify

from accounts.audit import SECRET_NAME
from config.document import VARIABLE, placeholder
from monitors.keys import KEY_MAX_LENGTH


@dataclass(frozen=True)
class ReportItem:
    kind: str  # what the item is in the source tool: "endpoint", "monitor", "alerting provider"
    where: str  # "config.yaml:12" or "Kuma monitor 7"
    name: str
    why: str

    def __str__(self) -> str:
        label = f"{self.kind} {self.name!r}" if self.name else self.kind
        return f"{self.where}: {label}: {self.why}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "where": self.where, "name": self.name, "why": self.why}


@dataclass
class Translation:
    document: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Items not translated (or translated only in part): kind, where, why.
    untranslated: list[ReportItem] = field(default_factory=list)
    # ${NAME} -> what to set it to, for every reference the document holds.
    variables: dict[str, str] = field(default_factory=dict)
    # What the user must do once applied (a push monitor's new ping URL).
    todo: list[ReportItem] = field(default_factory=list)

    def add(self, section: str, item: dict[str, Any]) -> None:
        self.document.setdefault(section, []).append(item)

    def report(self) -> dict[str, Any]:
        return {
            "untranslated": [item.as_dict() for item in self.untranslated],
            "variables": [{"name": n, "what": v} for n, v in sorted(self.variables.items())],
            "todo": [item.as_dict() for item in self.todo],
        }

    def secret(self, value: Any, *path: str, what: str) -> str:
        """A ``${NAME}`` reference for a secret ``value``: the source's own reference kept
        when it is one (Gatus expands ``${NAME}`` itself), else a name made from ``path``;
        ``what`` tells the user which value to set."""
        text = str(value)
        own = VARIABLE.fullmatch(text.strip())
        if own:
            self.variables.setdefault(own.group(1), f"{what} (already a variable in the source)")
            return own.group(0)
        reference = placeholder(*path)
        self.variables[reference[2:-1]] = what
        return reference

    def note_variables(self, value: Any, what: str) -> None:
        """Record the ``${NAME}`` references already in ``value`` (kept as they are)."""
        if isinstance(value, dict):
            for item in value.values():
                self.note_variables(item, what)
        elif isinstance(value, list):
            for item in value:
                self.note_variables(item, what)
        elif isinstance(value, str):
            for match in VARIABLE.finditer(value):
                self.variables.setdefault(match.group(1), what)

    def secret_headers(self, headers: dict[str, str], *path: str, where: str) -> dict[str, str]:
        """Headers with the values of secret-looking names (Authorization, X-Api-Key, ...)
        replaced by references, as export writes them."""
        return {
            name: (
                self.secret(value, *path, name, what=f"the {name} header of {where}")
                if SECRET_NAME.search(name) and not VARIABLE.fullmatch(str(value).strip())
                else str(value)
            )
            for name, value in headers.items()
        }


class Keys:
    """Stable keys from names, unique within one section of the document: ``orders-api``,
    then ``orders-api-2``... The same file gives the same keys, so a re-import plans nothing."""

    def __init__(self, fallback: str) -> None:
        self.fallback = fallback
        self.taken: set[str] = set()

    def make(self, name: str) -> str:
        base = slugify(name)[: KEY_MAX_LENGTH - 4].strip("-") or self.fallback
        key, number = base, 1
        while key in self.taken:
            number += 1
            key = f"{base}-{number}"
        self.taken.add(key)
        return key


def bounded_interval(seconds: float, *, minimum: int) -> tuple[int, str | None]:
    """Whole seconds within healthmon's limits, and why it differs from ``seconds`` if so."""
    wanted = max(1, math.ceil(seconds))
    if wanted < minimum:
        return minimum, f"interval {seconds:g}s is below this server's minimum; set to {minimum}s"
    if wanted > 86400:
        return 86400, f"interval {seconds:g}s is above healthmon's maximum; set to 86400s"
    return wanted, None


def integer_setting(value: Any) -> int | None:
    """A number setting (a priority), None when absent; ValueError when it is no number
    (the importer reports the item as malformed)."""
    return None if value in (None, "") else int(value)


TAG_MAX_LENGTH = 50
_NOT_TAG = re.compile(r"[^\w .:/-]+")


def tag_name(text: str) -> str:
    """A tag healthmon accepts (letters, digits, space . : / - _; 50 at most)."""
    return _NOT_TAG.sub("-", text).strip()[:TAG_MAX_LENGTH] or "imported"
