"""Plan and apply a document for one team.

``make_plan`` validates every object of the document with its API serializer and compares
it with what the team has, field by field; ``apply_document`` plans and carries the plan out
through the services (so each write is validated again and audited) in one transaction: any
problem and nothing changes. An object absent from the document is left alone unless
``prune``. Fields an entry omits take their default, as for a new object through the API, so
a document says the whole of each object it names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from rest_framework import serializers
from rest_framework.settings import api_settings

from accounts.audit import CHANGED, audit_changes
from accounts.models import Team, User
from config.document import Document, DocumentError, Entry, Problem, resolve_variables
from config.kinds import KINDS, Kind

CREATE, CHANGE, DELETE = "create", "change", "delete"
MASKED = "(secret)"
# Planning validates every object (~16 ms a monitor on a loaded machine): a 2 MB import
# naming 24,000 monitors held a web worker for minutes, though no team may hold more than
# its quota. A section past the quota is refused before anything is validated.
SECTION_QUOTAS = {"monitors": "TEAM_MAX_MONITORS", "channels": "TEAM_MAX_CHANNELS"}


@dataclass
class Action:
    kind: Kind
    key: str
    operation: str
    # What the plan shows: a new object's fields, or field -> [old, new] ("changed" for a
    # secret); nested keys are dotted (``headers.X-Trace``).
    fields: dict[str, Any] = field(default_factory=dict)
    # What the service is given: model values, references still as keys.
    values: dict[str, Any] = field(default_factory=dict)
    entry: Entry | None = None
    obj: models.Model | None = None

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"type": self.kind.label, "key": self.key}
        if self.operation != DELETE:
            answer["fields"] = self.fields
        return answer


@dataclass
class Plan:
    actions: list[Action]
    existing: dict[str, dict[str, models.Model]]

    def of(self, operation: str) -> list[Action]:
        return [action for action in self.actions if action.operation == operation]

    @property
    def is_empty(self) -> bool:
        return not self.actions

    def touches(self, section: str) -> bool:
        return any(action.kind.section == section for action in self.actions)

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "creates": [action.as_dict() for action in self.of(CREATE)],
            "changes": [action.as_dict() for action in self.of(CHANGE)],
            "deletes": [action.as_dict() for action in self.of(DELETE)],
        }


@dataclass
class _Desired:
    entry: Entry
    shown: dict[str, Any]
    values: dict[str, Any]


def existing_objects(kind: Kind, team: Team) -> dict[str, models.Model]:
    queryset = kind.model.objects.filter(team=team)  # type: ignore[attr-defined]
    readers = kind.reference_readers
    related = [readers[n][0] if n in readers else n for n in kind.references]
    related += kind.name_lists
    return {obj.key: obj for obj in queryset.prefetch_related(*related).order_by("key")}


def make_plan(*, document: Document, team: Team, variables: Mapping[str, str], prune: bool) -> Plan:
    """What applying ``document`` to ``team`` would do; raises ``DocumentError``."""
    _refuse_past_quotas(document)
    existing = {kind.section: existing_objects(kind, team) for kind in KINDS}
    problems: list[Problem] = []
    desired: dict[str, dict[str, _Desired]] = {}
    for kind in KINDS:
        desired[kind.section] = _validate_section(
            kind, document.section(kind.section), team, existing[kind.section], variables, problems
        )
    named = {kind.section: {e.key for e in document.section(kind.section)} for kind in KINDS}
    problems += _reference_problems(desired, named, existing, prune)
    if problems:
        raise DocumentError(problems)
    actions: list[Action] = []
    for kind in KINDS:
        actions += _actions(kind, desired[kind.section], existing[kind.section], prune)
    return Plan(actions, existing)


def _refuse_past_quotas(document: Document) -> None:
    problems = []
    for section, setting in SECTION_QUOTAS.items():
        entries, limit = document.section(section), getattr(settings, setting)
        if limit and len(entries) > limit:
            first = entries[0]
            reason = f"The document names {len(entries)}; a team holds at most {limit} ({setting})."
            problems.append(Problem(first.source, first.data.line, section, reason))
    if problems:
        raise DocumentError(problems)


def _validate_section(
    kind: Kind,
    entries: list[Entry],
    team: Team,
    existing: dict[str, models.Model],
    variables: Mapping[str, str],
    problems: list[Problem],
) -> dict[str, _Desired]:
    fields = kind.document_fields()
    valid: dict[str, _Desired] = {}
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        data, missing = resolve_variables(entry, variables)
        entry_problems = missing + [
            entry.problem(name, f"Unknown field; a {kind.label} has {', '.join(fields)}.")
            for name in data
            if name not in fields
        ]
        if not entry.key:
            entry_problems.append(entry.problem("key", "This field is required."))
        elif entry.key in first_seen:
            first = first_seen[entry.key]
            where = f"{first.source}:{first.data.line}"
            entry_problems.append(entry.problem("key", f"Duplicate key; first used at {where}."))
        else:
            first_seen[entry.key] = entry
        if entry_problems:
            problems += entry_problems
            continue
        serializer = kind.serializer(
            instance=existing.get(entry.key), data=data, context={"team": team}
        )
        if not serializer.is_valid():
            problems += _serializer_problems(entry, serializer.errors)
            continue
        valid[entry.key] = _desired(kind, entry, serializer)
    return valid


def _serializer_problems(entry: Entry, errors: Any, name: str = "") -> list[Problem]:
    if isinstance(errors, Mapping):
        return [
            problem
            for key, detail in errors.items()
            for problem in _serializer_problems(
                entry, detail, f"{name}.{key}" if name else _field_name(str(key))
            )
        ]
    if isinstance(errors, list):
        return [
            problem for detail in errors for problem in _serializer_problems(entry, detail, name)
        ]
    top = name.split(".")[0]
    return [Problem(entry.source, entry.data.line_of(top), _label(entry, name), str(errors))]


def _field_name(key: str) -> str:
    return "" if key in (NON_FIELD_ERRORS, api_settings.NON_FIELD_ERRORS_KEY) else key


def _label(entry: Entry, name: str) -> str:
    return f"{entry.section}.{entry.key}" + (f".{name}" if name else "")


def _desired(kind: Kind, entry: Entry, serializer: serializers.ModelSerializer) -> _Desired:
    validated = serializer.validated_data
    candidate = getattr(serializer, "candidate", None)  # the model's normalised values
    shown: dict[str, Any] = {}
    values: dict[str, Any] = {"key": entry.key}
    for name, fld in kind.plain_fields().items():
        source = _source_of(fld)
        if name in entry.data:
            value = getattr(candidate, source) if candidate else validated[source]
        else:
            value = _default(kind, source)
        values[source] = value
        shown[name] = _represent(fld, value)
    for name in kind.name_lists:
        values[name] = list(validated.get(name, []))
        shown[name] = sorted(values[name])
    for name in kind.references:
        if name in entry.data or name not in kind.kept_when_omitted:
            values[name] = list(validated.get(name, []))
            shown[name] = sorted(set(values[name]))
    for name in kind.secret_fields:
        if name in entry.data:
            values[name] = shown[name] = dict(validated[name])
    return _Desired(entry, shown, values)


def _source_of(fld: serializers.Field) -> str:
    assert fld.source, f"{fld!r} is not bound to a serializer"
    return fld.source


def _default(kind: Kind, source: str) -> Any:
    """What an omitted field becomes: the model's default, as for a new object."""
    model_field = kind.model._meta.get_field(source)
    return model_field.get_default() if isinstance(model_field, models.Field) else None


def _represent(fld: serializers.Field, value: Any) -> Any:
    return None if value is None else fld.to_representation(value)


def current_state(kind: Kind, obj: models.Model, *, secret_keys: Any = ()) -> dict[str, Any]:
    """``obj`` in the document's shape (references as keys; secrets only those named)."""
    shown = {
        name: _represent(fld, getattr(obj, _source_of(fld)))
        for name, fld in kind.plain_fields().items()
    }
    for name in kind.name_lists:
        shown[name] = sorted(related.name for related in getattr(obj, name).all())
    for name in kind.references:
        if name in kind.reference_readers:
            shown[name] = sorted(kind.reference_readers[name][1](obj))
        else:
            shown[name] = sorted(related.key for related in getattr(obj, name).all())
    for name in kind.secret_fields:
        stored = getattr(obj, name)
        shown[name] = {key: stored.get(key) for key in secret_keys}
    return shown


def _reference_problems(
    desired: dict[str, dict[str, _Desired]],
    named: dict[str, set[str]],
    existing: dict[str, dict[str, models.Model]],
    prune: bool,
) -> list[Problem]:
    problems = []
    for kind in KINDS:
        for item in desired[kind.section].values():
            for name, section in kind.references.items():
                # An object named but invalid has its own problem: not one per reference.
                known = named[section] | (set() if prune else set(existing[section]))
                for key in item.values.get(name, []):
                    if key not in known:
                        target = section.replace("_", " ").rstrip("s")
                        reason = f"No {target} has the key {key!r}" + (
                            " in the document (--prune deletes the others)." if prune else "."
                        )
                        problems.append(item.entry.problem(name, reason))
    return problems


def _actions(
    kind: Kind, desired: dict[str, _Desired], existing: dict[str, models.Model], prune: bool
) -> list[Action]:
    actions = []
    for key, item in desired.items():
        obj = existing.get(key)
        if obj is None:
            actions.append(Action(kind, key, CREATE, _masked(item.shown), item.values, item.entry))
            continue
        secrets = {k for name in kind.secret_fields for k in item.shown.get(name, {})}
        current = current_state(kind, obj, secret_keys=secrets)
        # Only what the entry manages (an omitted monitor's ``channels`` is kept as it is).
        changes = audit_changes({k: v for k, v in current.items() if k in item.shown}, item.shown)
        if changes:
            changed = {name.split(".")[0] for name in changes}
            values = {_source(kind, name): item.values[_source(kind, name)] for name in changed}
            actions.append(Action(kind, key, CHANGE, changes, values, item.entry, obj))
    if prune:
        actions += [
            Action(kind, key, DELETE, obj=obj)
            for key, obj in existing.items()
            if key not in desired
        ]
    return actions


def _source(kind: Kind, name: str) -> str:
    fld = kind.plain_fields().get(name)
    return _source_of(fld) if fld is not None else name


def _masked(shown: dict[str, Any]) -> dict[str, Any]:
    """A new object's fields for display, secrets (by name, at any depth) masked."""
    return {
        name: MASKED if change == CHANGED else change[1]
        for name, change in audit_changes({}, shown).items()
    }


def apply_plan(plan: Plan, *, team: Team, actor: User | None) -> None:
    """Carry ``plan`` out through the services; raises ``DocumentError`` (call it inside a
    transaction, which the error rolls back)."""
    objects = {section: dict(found) for section, found in plan.existing.items()}
    deferred: list[tuple[Action, models.Model, dict]] = []
    for kind in KINDS:
        for action in plan.actions:
            if action.kind is kind and action.operation in (CREATE, CHANGE):
                values = dict(action.values)
                later = {n: values.pop(n) for n in kind.deferred_references if n in values}
                values = _with_objects(kind, values, objects)
                obj = _write(action, team, actor, values)
                objects[kind.section][action.key] = obj
                if later:
                    deferred.append((action, obj, later))
    _write_deferred(deferred, objects, actor)
    for kind in reversed(KINDS):
        for action in plan.of(DELETE):
            if action.kind is kind:
                kind.delete(action.obj, actor)


def _write_deferred(
    deferred: list[tuple[Action, models.Model, dict]], objects: dict[str, dict], actor
) -> None:
    """Write the same-section references once every object exists: first only what each
    object drops (so that A -> B becoming B -> A is not judged a cycle halfway), then all."""
    for removals_only in (True, False):
        for action, obj, later in deferred:
            values = _with_objects(action.kind, later, objects)
            for name, write in action.kind.deferred_references.items():
                if name not in values:
                    continue
                wanted = values[name]
                if removals_only:
                    kept = (
                        set(action.kind.reference_readers[name][1](obj))
                        if (name in action.kind.reference_readers)
                        else set()
                    )
                    wanted = [o for o in wanted if getattr(o, "key", None) in kept]
                _guarded(action, lambda: write(obj, actor, {name: wanted}))  # noqa: B023


def _guarded(action: Action, write: Callable[[], Any]) -> Any:
    try:
        return write()
    except DjangoValidationError as exc:
        assert action.entry is not None
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        raise DocumentError(_serializer_problems(action.entry, detail)) from None


def _with_objects(kind: Kind, values: dict, objects: dict[str, dict]) -> dict:
    resolved = dict(values)
    for name, section in kind.references.items():
        if name in resolved:
            resolved[name] = [objects[section][key] for key in resolved[name]]
    return resolved


def _write(action: Action, team: Team, actor: User | None, values: dict) -> models.Model:
    try:
        if action.operation == CREATE:
            return action.kind.create(team, actor, values)
        return action.kind.update(action.obj, actor, values)
    except DjangoValidationError as exc:
        assert action.entry is not None
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        raise DocumentError(_serializer_problems(action.entry, detail)) from None


def apply_document(
    *,
    document: Document,
    team: Team,
    variables: Mapping[str, str],
    prune: bool,
    actor: User | None,
) -> Plan:
    """Plan and apply in one transaction; returns what was done."""
    with transaction.atomic():
        plan = make_plan(document=document, team=team, variables=variables, prune=prune)
        apply_plan(plan, team=team, actor=actor)
    return plan
