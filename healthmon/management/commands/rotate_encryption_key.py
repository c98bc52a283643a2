"""``manage.py rotate_encryption_key``: re-encrypt every encrypted value with the first key.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old one after it), restart,
run this command, then remove the old key. Safe to run while healthmon runs, and again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from lib.encryption import DecryptionError, encrypted_fields, reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt channel secrets and monitor headers with the first key of "
        "FIELD_ENCRYPTION_KEYS, so that the other keys can be removed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )

    def handle(self, *args, batch_size: int = 500, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        for model, field in encrypted_fields():
            try:
                count = reencrypt(model, field, batch_size=batch_size)
            except DecryptionError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{model._meta.label}.{field}: {count} re-encrypted")
        self.stdout.write("Done: every value is encrypted with the first key; older keys may go.")
