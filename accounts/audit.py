"""The audit log: who created, changed, paused, resumed, deleted, acknowledged or replayed what.

Services call ``audit_record`` inside the transaction of the change they make, so an entry
exists exactly when the change does, whichever entry point (API, dashboard, admin, CLI) asked.
Secret values never reach an entry: a field encrypted at rest (monitor headers, channel
secrets), or a field or nested key whose name looks like a secret, is recorded as
``"changed"``, without its old or new value.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import AuditEntry, Team, User
from lib.encryption import EncryptedJSONField
from lib.request_id import current_request_id

SYSTEM_ACTOR = "system"
CHANGED = "changed"

# Names of fields, config keys and headers whose values are credentials.
SECRET_NAME = re.compile(
    r"secret|token|password|passwd|authorization|cookie|api[-_]?key|credential|signature",
    re.IGNORECASE,
)
# Bookkeeping that changes with every write and says nothing about who changed what.
NOT_AUDITED = frozenset({"created_at", "updated_at", "next_check_at"})


@dataclass(frozen=True)
class SecretDigest:
    """How an encrypted field stands in a snapshot: equal exactly when the values are."""

    sha256: str


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def audit_snapshot(obj: models.Model) -> dict[str, Any]:
    """The audited fields of ``obj`` as JSON values: take one before a change, one after.
    An encrypted field is kept as a digest of its value: enough to tell that it changed."""
    return {
        field.attname: _secret_digest(getattr(obj, field.attname))
        if isinstance(field, EncryptedJSONField)
        else _json_ready(getattr(obj, field.attname))
        for field in obj._meta.concrete_fields
        if not field.primary_key and field.attname not in NOT_AUDITED
    }


def _secret_digest(value: Any) -> SecretDigest:
    encoded = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True).encode()
    return SecretDigest(hashlib.sha256(encoded).hexdigest())


def _diff(name: str, old: Any, new: Any) -> dict[str, Any]:
    if old == new:
        return {}
    if SECRET_NAME.search(name) or isinstance(old, SecretDigest) or isinstance(new, SecretDigest):
        return {name: CHANGED}
    if isinstance(old, dict) or isinstance(new, dict):
        old_map = old if isinstance(old, dict) else {}
        new_map = new if isinstance(new, dict) else {}
        nested: dict[str, Any] = {}
        for key in sorted({*old_map, *new_map}, key=str):
            nested |= _diff(f"{name}.{key}", old_map.get(key), new_map.get(key))
        return nested
    return {name: [old, new]}


def audit_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Field -> [old, new] for what differs; secret-looking names (at any depth) -> "changed"."""
    changes: dict[str, Any] = {}
    for name in sorted({*before, *after}):
        changes |= _diff(name, before.get(name), after.get(name))
    return changes


def audit_record(
    *,
    team: Team | None,
    actor: User | None,
    action: str,
    obj: models.Model,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one entry; ``actor`` is None for the system's own writes. Call it before a delete
    (the object's id and label are read from it)."""
    return AuditEntry.objects.create(
        team=team,
        actor=actor,
        actor_label=actor.email if actor is not None else SYSTEM_ACTOR,
        action=action,
        object_type=obj._meta.model_name or "",
        object_id=obj.pk,
        object_label=str(obj)[:200],
        changes=changes or {},
        request_id=current_request_id() or "",
    )
