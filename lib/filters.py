"""Query-string filters shared by the list endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date and time, converted to UTC before it reaches the database.

    Python accepts offsets up to +/-23:59, PostgreSQL only up to +/-15:59: a filter value such
    as ``...+23:00`` was a database error (500). In UTC every offset is fine; a value that
    leaves the datetime range once converted is the field's error (400).
    """

    default_error_messages = {
        "out_of_range": "Enter a date and time between years 1 and 9999 in UTC.",
    }

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                self.error_messages["out_of_range"], code="out_of_range"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
