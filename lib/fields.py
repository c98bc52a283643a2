"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models


class LowercaseSlugField(models.SlugField):
    """A slug kept in lower case when saved, validated and looked up.

    Every writer (API, dashboard, admin, ``objects.create``) stores ``orders`` for ``Orders``,
    and ``filter(slug="Orders")`` finds it, so two slugs cannot differ only in case.
    """

    def to_python(self, value: Any) -> Any:
        return _lower(super().to_python(value))

    def get_prep_value(self, value: Any) -> Any:
        return _lower(super().get_prep_value(value))

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = _lower(super().pre_save(model_instance, add))
        setattr(model_instance, self.attname, value)
        return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
