"""Secrets encrypted at rest: a JSON model field stored as one Fernet token.

The keys are ``settings.FIELD_ENCRYPTION_KEYS``: the first encrypts, all decrypt (cryptography's
``MultiFernet``), so a key is rotated by putting a new one first, running
``manage.py rotate_encryption_key`` (``reencrypt`` below) and dropping the old one.

Built on cryptography directly rather than django-fernet-encrypted-fields: that library returns
the ciphertext as the value when no key fits (a wrong key would send tokens as header values
instead of failing), derives its keys from SECRET_KEY (rotating SECRET_KEY would lose the
data) and marks "already decrypted" on the shared field object, which races under gevent.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models, transaction


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any key of FIELD_ENCRYPTION_KEYS."""


def development_key(secret_key: str) -> str:
    """The key used when DEBUG and none is configured, so ``make run`` needs no setup."""
    digest = hashlib.sha256(b"healthmon field encryption\0" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@functools.lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    # Cached per key list: building Fernet objects per value would double the cost of a read.
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_json(value: Any) -> str:
    return fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str, *, where: str = "a stored value") -> Any:
    try:
        plain = fernet().decrypt(token.encode())
    except InvalidToken:
        raise DecryptionError(
            f"{where} cannot be decrypted with any key of FIELD_ENCRYPTION_KEYS: the key that "
            "encrypted it is missing or wrong"
        ) from None
    return json.loads(plain)


class EncryptedJSONField(models.JSONField):
    """A ``JSONField`` whose value is encrypted before it is written and decrypted when read.

    The column stays ``jsonb`` and holds a JSON string: the whole value is one token, so the
    column does not even show which headers are set. Lookups on the contents
    cannot work (each encryption differs); nothing filters on these fields.
    """

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return super().get_db_prep_value(value, connection, prepared)
        return super().get_db_prep_value(encrypt_json(value), connection, prepared)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        stored = super().from_db_value(value, expression, connection)
        if stored is None:
            return None
        where = f"{self.model._meta.label}.{self.name}"
        if not isinstance(stored, str):
            raise DecryptionError(f"{where} holds a value that is not encrypted; run migrate")
        return decrypt_json(stored, where=where)


def _batches(queryset: models.QuerySet, batch_size: int) -> Iterator[list[Any]]:
    """Primary-key ranges of ``queryset``, so that no batch scans or locks the whole table."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def reencrypt(model: type[models.Model], field: str, *, batch_size: int = 500) -> int:
    """Rewrite every value of an encrypted field with the first key; returns the row count.

    Each batch is read under a row lock and written in one transaction, so an edit made
    meanwhile is neither lost nor left under the old key.
    """
    done = 0
    for ids in _batches(model._default_manager.all(), batch_size):
        with transaction.atomic():
            rows = list(
                model._default_manager.select_for_update().filter(pk__in=ids).only("pk", field)
            )
            model._default_manager.bulk_update(rows, [field])
        done += len(rows)
    return done


def encrypt_plain_rows(model: type[models.Model], field: str, *, batch_size: int = 500) -> int:
    """Migration step: encrypt the values of a plain ``JSONField`` (a historical model) in place.

    Values already encrypted (a string token) are skipped, so an interrupted run resumes.
    """
    return _rewrite(model, field, batch_size, encrypt_json, plain=True)


def decrypt_to_plain_rows(model: type[models.Model], field: str, *, batch_size: int = 500) -> int:
    """The reverse migration step: decrypt every token back to its plain JSON value."""
    where = f"{model._meta.label}.{field}"
    return _rewrite(model, field, batch_size, lambda v: decrypt_json(v, where=where), plain=False)


def _rewrite(
    model: type[models.Model],
    field: str,
    batch_size: int,
    convert: Callable[[Any], Any],
    *,
    plain: bool,
) -> int:
    done = 0
    for ids in _batches(model._default_manager.all(), batch_size):
        with transaction.atomic():
            rows = model._default_manager.select_for_update().filter(pk__in=ids).only("pk", field)
            # A token is a JSON string; a plain value is an object (or anything else).
            changed = [row for row in rows if isinstance(getattr(row, field), str) != plain]
            for row in changed:
                setattr(row, field, convert(getattr(row, field)))
            model._default_manager.bulk_update(changed, [field])
        done += len(changed)
    return done


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) stored with ``EncryptedJSONField``, from the app registry."""
    from django.apps import apps

    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedJSONField)
    ]
