"""The JSON Schema of the document, generated from the serializers that validate it.

drf-spectacular maps each document serializer to the OpenAPI schema the REST API publishes
for it; that schema is turned into JSON Schema (``nullable`` becomes a ``null`` type, the
OpenAPI-only keys go) and limited to the document's fields, so editors complete and check
exactly what apply accepts, and a field added to the API appears here without a change.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ComponentRegistry

from config.kinds import KINDS, Kind

OPENAPI_ONLY = frozenset({"x-spec-enum-id", "readOnly", "writeOnly"})


def document_schema(*, schema_id: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": "healthmon: monitors as code",
        "description": "A team's monitors, channels and status pages; apply with "
        "`manage.py monitors apply -f FILE --team T` or POST /api/v1/config/apply/. "
        "Strings may hold ${NAME} references, resolved at apply time.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            kind.section: {"type": "array", "items": object_schema(kind)} for kind in KINDS
        },
    }


def object_schema(kind: Kind) -> dict[str, Any]:
    generator = AutoSchema()
    generator.registry = ComponentRegistry()
    generator.method = "POST"
    serializer = kind.serializer(context={"team": None})
    openapi = generator._map_serializer(serializer, direction="request")
    names = list(kind.document_fields())
    return {
        "type": "object",
        "title": kind.label,
        "additionalProperties": False,
        "required": ["key", *(n for n in openapi.get("required", []) if n in names and n != "key")],
        "properties": {name: _json_schema(openapi["properties"][name]) for name in names},
    }


def _json_schema(openapi: Any) -> Any:
    """OpenAPI 3.0's schema dialect as JSON Schema."""
    if isinstance(openapi, list):
        return [_json_schema(item) for item in openapi]
    if not isinstance(openapi, dict):
        return openapi
    schema = {k: _json_schema(v) for k, v in openapi.items() if k not in OPENAPI_ONLY}
    if schema.pop("nullable", False):
        if "type" in schema:
            schema["type"] = [schema["type"], "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    return schema
