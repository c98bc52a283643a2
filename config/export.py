"""A team's current monitors, channels and status pages as a document.

Secrets never leave: channel secrets, and the values of secret-looking keys in other mappings
(a monitor's ``Authorization`` header), are written as ``${NAME}`` placeholders that apply
resolves from the environment, so export -> apply (with those variables set) changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from accounts.audit import SECRET_NAME
from accounts.models import Team
from config.document import placeholder
from config.kinds import KINDS
from config.plan import current_state, existing_objects


def export_document(team: Team) -> dict[str, list[dict[str, Any]]]:
    document: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        items = []
        for key, obj in existing_objects(kind, team).items():
            prefix = (kind.label, key)
            item: dict[str, Any] = {"key": key}
            for name, value in current_state(kind, obj).items():
                if name in kind.secret_fields:
                    value = _placeholders(getattr(obj, name), (*prefix, name), every=True)
                    if not value:
                        continue
                elif isinstance(value, dict):
                    value = _placeholders(value, (*prefix, name), every=False)
                item[name] = value
            items.append(item)
        if items:
            document[kind.section] = items
    return document


def _placeholders(value: Any, path: tuple[str, ...], *, every: bool) -> Any:
    """``value`` with its secrets replaced by placeholders named after their path: every
    string if ``every``, else those under a secret-looking key."""
    if isinstance(value, dict):
        return {
            key: _placeholders(item, (*path, key), every=every or bool(SECRET_NAME.search(key)))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_placeholders(item, (*path, str(i)), every=every) for i, item in enumerate(value)]
    if every and isinstance(value, str):
        return placeholder(*path)
    return value


def dump(document: dict, *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
