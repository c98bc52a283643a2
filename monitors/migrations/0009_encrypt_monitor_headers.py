"""Encrypt the request headers of existing monitors (they often carry Authorization tokens).

Not atomic: each batch of rows is its own transaction (lib.encryption), so a large table is
never locked whole, and an interrupted run resumes where it stopped (tokens are skipped).
Reversible: the reverse step decrypts, with the keys of FIELD_ENCRYPTION_KEYS.
"""

import lib.encryption
import monitors.validation
from django.db import migrations


def encrypt(apps, schema_editor):
    lib.encryption.encrypt_plain_rows(apps.get_model("monitors", "Monitor"), "headers")


def decrypt(apps, schema_editor):
    lib.encryption.decrypt_to_plain_rows(apps.get_model("monitors", "Monitor"), "headers")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("monitors", "0008_statuspage_slug_lower_unique"),
    ]

    operations = [
        # While the field is still a plain JSONField in the migration state, values are read
        # and written as they are; then the field becomes encrypted (no schema change).
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            model_name="monitor",
            name="headers",
            field=lib.encryption.EncryptedJSONField(
                blank=True, default=dict, validators=[monitors.validation.validate_headers]
            ),
        ),
    ]
