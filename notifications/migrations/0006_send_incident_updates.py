"""Incident updates to channels: ``Channel.send_incident_updates``, and deliveries carrying an
update (event "update", ``update_id``), each update owed once per channel.

Safe on a large delivery table: both columns are added with a constant default (no rewrite
on PostgreSQL 11+); the new unique constraint's index is built CONCURRENTLY and attached
with ``ADD CONSTRAINT ... USING INDEX`` before the old constraint is dropped, so the
fan-out's idempotency holds throughout.
"""

from django.db import migrations, models

from lib.db_operations import AddConstraintUnlessPostgreSQL, RunSQLOnPostgreSQL

NEW = "delivery_unique_incident_event"
TABLE = "notifications_delivery"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("incidents", "0003_maintenance_windows"),
        ("notifications", "0005_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="send_incident_updates",
            field=models.BooleanField(
                default=False, help_text="Also send the updates the team posts to an incident"
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="update_id",
            field=models.BigIntegerField(
                default=0,
                help_text="The incident update carried (event 'update'); 0 for other events",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="event",
            field=models.CharField(
                choices=[
                    ("opened", "Incident opened"),
                    ("resolved", "Incident resolved"),
                    ("acknowledged", "Incident acknowledged"),
                    ("update", "Incident update"),
                ],
                max_length=12,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="delivery",
                    constraint=models.UniqueConstraint(
                        fields=("incident", "channel", "event", "update_id"), name=NEW
                    ),
                )
            ],
            database_operations=[
                RunSQLOnPostgreSQL(
                    f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{NEW}" ON "{TABLE}" '
                    '("incident_id", "channel_id", "event", "update_id")',
                    f'DROP INDEX CONCURRENTLY IF EXISTS "{NEW}"',
                ),
                RunSQLOnPostgreSQL(
                    f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{NEW}" UNIQUE USING INDEX "{NEW}"',
                    f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS "{NEW}"',
                ),
                AddConstraintUnlessPostgreSQL(
                    model_name="delivery",
                    constraint=models.UniqueConstraint(
                        fields=("incident", "channel", "event", "update_id"), name=NEW
                    ),
                ),
            ],
        ),
        migrations.RemoveConstraint(
            model_name="delivery",
            name="delivery_unique_incident_channel",
        ),
    ]
