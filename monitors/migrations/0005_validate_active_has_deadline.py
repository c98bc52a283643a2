"""Validate the constraint 0004 added ``NOT VALID`` (PostgreSQL; SQLite checked it already).

Its own migration, so its own transaction: VALIDATE CONSTRAINT scans the table under a
SHARE UPDATE EXCLUSIVE lock, which lets reads and writes go on, whereas in 0004's
transaction the scan would run under the exclusive lock the ADD took.
"""

from django.db import migrations

from lib.db_operations import RunSQLOnPostgreSQL


class Migration(migrations.Migration):
    dependencies = [
        ("monitors", "0004_validators_active_has_deadline"),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            "ALTER TABLE monitors_monitor VALIDATE CONSTRAINT monitor_active_has_deadline",
            migrations.RunSQL.noop,
        ),
    ]
