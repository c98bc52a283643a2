"""Stable keys of channels (monitors as code), added as monitors' 0007 adds theirs."""

from django.db import migrations, models

from lib.db_operations import add_partial_unique_constraint_concurrently
from monitors.keys import backfill_keys


def give_keys(apps, schema_editor) -> None:
    backfill_keys(apps.get_model("notifications", "Channel"), fallback="channel")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0002_audit_invitations"),
        ("monitors", "0011_keys"),
        ("notifications", "0004_encrypt_channel_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="key",
            field=models.SlugField(
                blank=True,
                db_index=False,
                default="",
                help_text="Stable identifier in the team (monitors as code); generated from "
                "the name if blank",
                max_length=60,
            ),
            preserve_default=False,  # for existing rows only (see monitors' 0007)
        ),
        migrations.RunPython(give_keys, migrations.RunPython.noop, elidable=True),
        add_partial_unique_constraint_concurrently(
            model_name="channel",
            table="notifications_channel",
            constraint=models.UniqueConstraint(
                condition=~models.Q(key=""),
                fields=("team", "key"),
                name="channel_unique_team_key",
                violation_error_message="Another object of this team has this key; choose another.",
            ),
            columns='"team_id", "key"',
            where="NOT (\"key\" = '')",
        ),
    ]
