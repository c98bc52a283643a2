"""Shared serializer pieces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import fields, serializers
from rest_framework.relations import PKOnlyObject

# Fields whose representation of a value loaded from the database is the value itself
# (``str(s)``, ``int(i)``, ``float(f)``, a non-binary JSON field's Python value, a choice's
# stored string). Exact classes only: a subclass may represent differently.
_PASSTHROUGH = frozenset(
    {
        fields.BooleanField,
        fields.CharField,
        fields.ChoiceField,
        fields.EmailField,
        fields.FloatField,
        fields.IntegerField,
        fields.URLField,
    }
)


class DirectReadMixin:
    """``to_representation`` that reads plain model attributes directly.

    DRF calls ``get_attribute`` (a source-path walk with callable checks and error wrapping)
    and ``to_representation`` for every field of every object; serializing a page of 50
    monitors of 30 fields was a third of the list endpoint's CPU. Fields in ``_PASSTHROUGH``
    with a plain attribute as their source (and non-binary JSON fields) are read with one
    ``getattr`` (6.7 -> 5.2 ms for that page); every other field (dates, relations, method
    fields, nested serializers) goes through DRF unchanged, so the output is the same.
    """

    if TYPE_CHECKING:  # provided by the Serializer this mixin is combined with

        @property
        def _readable_fields(self) -> list[fields.Field]: ...

    # Keys are field names; DRF's stubs allow an unbound field's name to be None.
    def to_representation(self, instance: Any) -> dict[Any, Any]:
        plan = self.__dict__.get("_direct_read_plan")
        if plan is None:
            plan = self._direct_read_plan = [
                (field.field_name, field.source if _is_direct(field) else None, field)
                for field in self._readable_fields
            ]
        ret = {}
        for name, attribute, field in plan:
            if attribute is not None:
                ret[name] = getattr(instance, attribute)
                continue
            try:
                value = field.get_attribute(instance)
            except fields.SkipField:
                continue
            check_for_none = value.pk if isinstance(value, PKOnlyObject) else value
            ret[name] = None if check_for_none is None else field.to_representation(value)
        return ret


def _is_direct(field: fields.Field) -> bool:
    if len(field.source_attrs) != 1 or field.source == "*":
        return False
    if type(field) is fields.JSONField:
        return not field.binary
    return type(field) in _PASSTHROUGH


@contextmanager
def service_errors_as_400() -> Iterator[None]:
    """A service's Django ``ValidationError`` as DRF's (a 400 keyed by field), for the checks a
    service repeats under its lock (a quota's last slot taken by a concurrent request)."""
    try:
        yield
    except DjangoValidationError as exc:
        raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
