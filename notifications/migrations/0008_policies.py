"""Notification policies: grouping, reminders, escalation (notifications/policies.py).

Delivery is a large table: its new columns have database defaults (no rewrite), ``sent_in``
has no foreign key constraint (no validating scan), and its indexes and the two unique
constraints that replace (incident, channel, event) are built CONCURRENTLY on PostgreSQL.
The old constraint is dropped only once the new "event" one exists, so duplicate fan-outs
stay impossible throughout.
"""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

from lib.db_operations import (
    AddIndexUnlessPostgreSQL,
    RunSQLOnPostgreSQL,
    add_partial_unique_constraint_concurrently,
)


def add_index_concurrently(*, model_name: str, index: models.Index, sql: str):
    """An index built CONCURRENTLY on PostgreSQL (``sql``: its columns and WHERE clause);
    Django's ``AddIndex`` elsewhere."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex(model_name=model_name, index=index)],
        database_operations=[
            RunSQLOnPostgreSQL(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index.name}" ON {sql}',
                f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"',
            ),
            AddIndexUnlessPostgreSQL(model_name=model_name, index=index),
        ],
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("accounts", "0003_api_keys"),
        ("incidents", "0004_dependencies_flapping"),
        ("monitors", "0016_flapping"),
        ("notifications", "0007_delivery_event_flapping_stable"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChannelGroupState",
            fields=[
                (
                    "channel",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="group_state",
                        serialize=False,
                        to="notifications.channel",
                    ),
                ),
                ("last_event_at", models.DateTimeField(blank=True, null=True)),
                ("last_incident_id", models.BigIntegerField(blank=True, null=True)),
                (
                    "due_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the held deliveries of this channel go out",
                        null=True,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="EscalationPolicy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.SlugField(
                        blank=True,
                        db_index=False,
                        help_text="Stable identifier in the team (monitors as code); generated from the name if blank",
                        max_length=60,
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                (
                    "is_default",
                    models.BooleanField(
                        default=False,
                        help_text="Used for the team's monitors that name no policy of their own",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name_plural": "escalation policies",
                "ordering": ["name", "id"],
            },
        ),
        migrations.CreateModel(
            name="EscalationStage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "position",
                    models.PositiveSmallIntegerField(help_text="1 for the first stage, ..."),
                ),
                (
                    "after_minutes",
                    models.PositiveIntegerField(
                        validators=[django.core.validators.MaxValueValidator(10080)], help_text="Minutes after the incident opened, if still unacknowledged"
                    ),
                ),
            ],
            options={
                "ordering": ["policy_id", "position"],
            },
        ),
        migrations.CreateModel(
            name="FollowUp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("reminder", "Reminder"), ("escalation", "Escalation")],
                        max_length=10,
                    ),
                ),
                (
                    "done",
                    models.PositiveSmallIntegerField(
                        default=0, help_text="Reminders sent, stages reached"
                    ),
                ),
                ("due_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="MonitorEscalation",
            fields=[
                (
                    "monitor",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="escalation",
                        serialize=False,
                        to="monitors.monitor",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="channel",
            name="group_window_seconds",
            field=models.PositiveIntegerField(
                db_default=30,
                default=30,
                validators=[django.core.validators.MaxValueValidator(3600)], help_text="Events of other incidents arriving within this many seconds of the last one go out as one grouped message (0 = never group)",
            ),
        ),
        migrations.AddField(
            model_name="channel",
            name="reminder_interval_minutes",
            field=models.PositiveIntegerField(
                db_default=0,
                default=0,
                validators=[django.core.validators.MaxValueValidator(10080)], help_text="Repeat an open, unacknowledged incident every this many minutes (0 = off)",
            ),
        ),
        migrations.AddField(
            model_name="channel",
            name="reminder_max",
            field=models.PositiveSmallIntegerField(
                db_default=3, default=3, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)], help_text="At most this many reminders per incident"
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="purpose",
            field=models.CharField(
                choices=[
                    ("event", "Incident event"),
                    ("reminder", "Reminder (still open, unacknowledged)"),
                    ("escalation", "Escalation stage"),
                ],
                db_default="event",
                default="event",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="round",
            field=models.PositiveSmallIntegerField(
                db_default=0,
                default=0,
                help_text="Reminder number, or escalation stage position; 0 for the event itself",
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="sent_in",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                help_text="The delivery whose grouped message carried this one",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="notifications.delivery",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("delivered", "Delivered"),
                    ("failed", "Failed, will retry"),
                    ("dead", "Dead-lettered"),
                    ("skipped", "Skipped (channel disabled or deleted)"),
                    ("held", "Held for grouping"),
                ],
                default="pending",
                max_length=9,
            ),
        ),
        migrations.AddIndex(
            model_name="channelgroupstate",
            index=models.Index(
                condition=models.Q(("due_at__isnull", False)),
                fields=["due_at"],
                name="group_state_due_idx",
            ),
        ),
        migrations.AddField(
            model_name="escalationpolicy",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="escalation_policies",
                to="accounts.team",
            ),
        ),
        migrations.AddField(
            model_name="escalationstage",
            name="channels",
            field=models.ManyToManyField(
                related_name="escalation_stages", to="notifications.channel"
            ),
        ),
        migrations.AddField(
            model_name="escalationstage",
            name="policy",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="stages",
                to="notifications.escalationpolicy",
            ),
        ),
        migrations.AddField(
            model_name="followup",
            name="channel",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="notifications.channel",
            ),
        ),
        migrations.AddField(
            model_name="followup",
            name="incident",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="incidents.incident",
            ),
        ),
        migrations.AddField(
            model_name="followup",
            name="policy",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="notifications.escalationpolicy",
            ),
        ),
        migrations.AddField(
            model_name="monitorescalation",
            name="policy",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="notifications.escalationpolicy",
            ),
        ),
        migrations.AddField(
            model_name="escalationpolicy",
            name="monitors",
            field=models.ManyToManyField(
                blank=True,
                related_name="+",
                through="notifications.MonitorEscalation",
                to="monitors.monitor",
            ),
        ),
        migrations.AddConstraint(
            model_name="escalationstage",
            constraint=models.UniqueConstraint(
                fields=("policy", "position"), name="escalation_stage_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="followup",
            index=models.Index(
                condition=models.Q(("due_at__isnull", False)),
                fields=["due_at"],
                name="follow_up_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="followup",
            index=models.Index(fields=["incident"], name="follow_up_incident_idx"),
        ),
        migrations.AddConstraint(
            model_name="followup",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "reminder")),
                fields=("incident", "channel"),
                name="follow_up_one_reminder",
            ),
        ),
        migrations.AddConstraint(
            model_name="followup",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "escalation")),
                fields=("incident",),
                name="follow_up_one_escalation",
            ),
        ),
        migrations.AddConstraint(
            model_name="escalationpolicy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("key", ""), _negated=True),
                fields=("team", "key"),
                name="escalation_policy_unique_team_key",
                violation_error_message="Another object of this team has this key; choose another.",
            ),
        ),
        migrations.AddConstraint(
            model_name="escalationpolicy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_default", True)),
                fields=("team",),
                name="escalation_one_default",
            ),
        ),
        add_index_concurrently(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("sent_in__isnull", False)),
                fields=["sent_in"],
                name="delivery_sent_in_idx",
            ),
            sql='"notifications_delivery" ("sent_in_id") WHERE "sent_in_id" IS NOT NULL',
        ),
        add_index_concurrently(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status", "held")),
                fields=["channel", "created_at"],
                name="delivery_held_idx",
            ),
            sql='"notifications_delivery" ("channel_id", "created_at") WHERE "status" = \'held\'',
        ),
        add_partial_unique_constraint_concurrently(
            model_name="delivery",
            table="notifications_delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("purpose", "event")),
                fields=("incident", "channel", "event", "update_id"),
                name="delivery_unique_event",
            ),
            columns='"incident_id", "channel_id", "event", "update_id"',
            where="\"purpose\" = 'event'",
        ),
        add_partial_unique_constraint_concurrently(
            model_name="delivery",
            table="notifications_delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("purpose", "event"), _negated=True),
                fields=("incident", "channel", "purpose", "round"),
                name="delivery_unique_follow_up",
            ),
            columns='"incident_id", "channel_id", "purpose", "round"',
            where="NOT (\"purpose\" = 'event')",
        ),
        migrations.RemoveConstraint(
            model_name="delivery",
            name="delivery_unique_incident_event",
        ),
    ]
