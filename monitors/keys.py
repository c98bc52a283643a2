"""Stable ``key``s of a team's monitors, channels and status pages (monitors as code).

A key identifies an object across applies of a document; objects created without one (API,
dashboard, admin, rows older than keys) get one made from their name, unique in the team.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import slugify

KEY_MAX_LENGTH = 60


def free_key(*, queryset: models.QuerySet, name: str, fallback: str) -> str:
    """A slug of ``name`` not yet used in ``queryset`` (one team's objects of one type):
    ``orders-api``, then ``orders-api-2``, ..."""
    base = slugify(name)[: KEY_MAX_LENGTH - 4].strip("-") or fallback
    taken = set(queryset.filter(key__startswith=base).values_list("key", flat=True))
    key, number = base, 1
    while key in taken:
        number += 1
        key = f"{base}-{number}"
    return key


def assign_key(obj: Any, *, name: str, fallback: str) -> None:
    """Give ``obj`` (a monitor, channel or status page) a key made from ``name`` if it has
    none; otherwise check its key is a slug not taken by another object of its type in its
    team (``ValidationError`` keyed ``key``)."""
    siblings = type(obj)._default_manager.filter(team_id=obj.team_id).exclude(pk=obj.pk)
    if not obj.key:
        obj.key = free_key(queryset=siblings, name=name, fallback=fallback)
        return
    try:
        obj._meta.get_field("key").clean(obj.key, obj)
    except ValidationError as exc:
        raise ValidationError({"key": exc.messages}) from None
    if siblings.filter(key=obj.key).exists():
        label = obj._meta.verbose_name
        raise ValidationError({"key": [f"Another {label} of this team has the key {obj.key!r}."]})


def backfill_keys(model: Any, *, fallback: str, batch_size: int = 1000) -> None:
    """Give every row without a key one (a migration's data step), in batches of
    ``batch_size`` rows so no transaction holds a large table's rows for long."""
    while True:
        rows = list(model.objects.filter(key="").order_by("pk")[:batch_size])
        if not rows:
            return
        for row in rows:
            row.key = free_key(
                queryset=model.objects.filter(team_id=row.team_id),
                name=getattr(row, "name", "") or getattr(row, "title", ""),
                fallback=fallback,
            )
            row.save(update_fields=["key"])
