"""Encrypt the secrets of existing channels (webhook signing secret and headers, Apprise URL).

Not atomic: each batch of rows is its own transaction (lib.encryption), so a large table is
never locked whole, and an interrupted run resumes where it stopped (tokens are skipped).
Reversible: the reverse step decrypts, with the keys of FIELD_ENCRYPTION_KEYS.
"""

import lib.encryption
from django.db import migrations


def encrypt(apps, schema_editor):
    lib.encryption.encrypt_plain_rows(apps.get_model("notifications", "Channel"), "secrets")


def decrypt(apps, schema_editor):
    lib.encryption.decrypt_to_plain_rows(apps.get_model("notifications", "Channel"), "secrets")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("notifications", "0003_delivery_sequence"),
    ]

    operations = [
        # While the field is still a plain JSONField in the migration state, values are read
        # and written as they are; then the field becomes encrypted (no schema change).
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            model_name="channel",
            name="secrets",
            field=lib.encryption.EncryptedJSONField(blank=True, default=dict),
        ),
    ]
