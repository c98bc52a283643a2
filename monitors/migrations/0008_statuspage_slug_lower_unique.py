"""Slugs unique whatever their case, enforced by the database.

The unique index on lower(slug) is built CONCURRENTLY on PostgreSQL, so adding it to a large
table does not block writes; that needs a migration outside a transaction.
"""

import django.db.models.functions.text
from django.db import migrations, models

import lib.migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("monitors", "0007_statuspage_slug_lowercase"),
    ]

    operations = [
        lib.migrations.AddUniqueIndexConstraintConcurrently(
            model_name="statuspage",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("slug"),
                name="statuspage_slug_lower_unique",
                violation_error_message="A status page with this slug already exists.",
            ),
        ),
    ]
