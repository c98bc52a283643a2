"""Stable keys of monitors and status pages (monitors as code).

Safe on a large table: the column is added with a constant default (no table rewrite on
PostgreSQL 11+), existing rows get a key from their name in small batches, each its own
transaction (``atomic = False``), and the unique index is built concurrently.
"""

from django.db import migrations, models

from lib.db_operations import add_partial_unique_constraint_concurrently
from monitors.keys import backfill_keys

KEY_HELP = "Stable identifier in the team (monitors as code); generated from the name if blank"


def key_field() -> models.SlugField:
    return models.SlugField(blank=True, db_index=False, default="", help_text=KEY_HELP, max_length=60)


def unique_key(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        condition=~models.Q(key=""),
        fields=("team", "key"),
        name=name,
        violation_error_message="Another object of this team has this key; choose another.",
    )


def give_keys(apps, schema_editor) -> None:
    backfill_keys(apps.get_model("monitors", "Monitor"), fallback="monitor")
    backfill_keys(apps.get_model("monitors", "StatusPage"), fallback="status-page")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0002_audit_invitations"),
        ("monitors", "0010_monitor_kinds"),
    ]

    operations = [
        # The default fills existing rows only: a serializer must not see one, or a full update
        # without a key would reset it.
        migrations.AddField(
            model_name="monitor", name="key", field=key_field(), preserve_default=False
        ),
        migrations.AddField(
            model_name="statuspage", name="key", field=key_field(), preserve_default=False
        ),
        migrations.RunPython(give_keys, migrations.RunPython.noop, elidable=True),
        add_partial_unique_constraint_concurrently(
            model_name="monitor",
            table="monitors_monitor",
            constraint=unique_key("monitor_unique_team_key"),
            columns='"team_id", "key"',
            where="NOT (\"key\" = '')",
        ),
        add_partial_unique_constraint_concurrently(
            model_name="statuspage",
            table="monitors_statuspage",
            constraint=unique_key("statuspage_unique_team_key"),
            columns='"team_id", "key"',
            where="NOT (\"key\" = '')",
        ),
    ]
