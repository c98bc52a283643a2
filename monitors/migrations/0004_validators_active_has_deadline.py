"""Monitor validation moves into the model, and an active monitor always has a deadline.

The field changes only attach validators (no SQL). The constraint closes the hole the
Django admin left open: it saved monitors without ``next_check_at``, which the dispatcher
(``next_check_at <= now``) never claims.

Safe on a large table, on PostgreSQL: writers are held off (reads go on) while the monitors
without a deadline get one, so none can slip in before the constraint exists; the
constraint is added ``NOT VALID`` (no scan under the exclusive lock: new rows are checked
from now on) and 0005 validates the existing rows under a lock that blocks nobody.
``lock_timeout`` makes a busy table fail the migration fast instead of queueing every
request behind it. SQLite (the embedded default) adds the constraint by rebuilding the table.
"""

import django.core.validators
from django.db import migrations, models
from django.db.models.functions import Now

import monitors.validation
from lib.db_operations import AddConstraintUnlessPostgreSQL, RunSQLOnPostgreSQL

ACTIVE_HAS_DEADLINE = models.CheckConstraint(
    condition=models.Q(("is_active", False), ("next_check_at__isnull", False), _connector="OR"),
    name="monitor_active_has_deadline",
    violation_error_message="An active monitor needs a next check time.",
)


def give_active_monitors_a_deadline(apps, schema_editor) -> None:
    # Due at once: the dispatcher checks them on its next tick (and re-spreads a crowd).
    Monitor = apps.get_model("monitors", "Monitor")
    Monitor.objects.filter(is_active=True, next_check_at__isnull=True).update(
        next_check_at=Now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ('accounts', '0001_initial'),
        ('monitors', '0003_list_order_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='monitor',
            name='assertions',
            field=models.JSONField(blank=True, default=list, validators=[monitors.validation.validate_monitor_assertions]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='body',
            field=models.TextField(blank=True, validators=[monitors.validation.validate_body]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='expected_status',
            field=models.CharField(default='200-299', help_text='Codes and ranges, e.g. 200-299,301', max_length=200, validators=[monitors.validation.validate_status_spec]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='failure_threshold',
            field=models.PositiveSmallIntegerField(default=2, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='headers',
            field=models.JSONField(blank=True, default=dict, validators=[monitors.validation.validate_headers]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='interval',
            field=models.PositiveIntegerField(default=60, help_text='Seconds between checks', validators=[django.core.validators.MaxValueValidator(86400), monitors.validation.validate_interval]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='next_check_at',
            field=models.DateTimeField(blank=True, help_text='When the dispatcher will next claim this monitor (set by the services)', null=True),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='success_threshold',
            field=models.PositiveSmallIntegerField(default=1, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='timeout',
            field=models.FloatField(default=10.0, help_text='Seconds; must be below the interval', validators=[django.core.validators.MinValueValidator(0.1), monitors.validation.validate_timeout]),
        ),
        migrations.AlterField(
            model_name='monitor',
            name='url',
            field=models.URLField(max_length=2048, validators=[monitors.validation.validate_monitor_url]),
        ),
        RunSQLOnPostgreSQL("SET LOCAL lock_timeout = '5s'", migrations.RunSQL.noop),
        RunSQLOnPostgreSQL(
            "LOCK TABLE monitors_monitor IN SHARE ROW EXCLUSIVE MODE", migrations.RunSQL.noop
        ),
        migrations.RunPython(give_active_monitors_a_deadline, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(model_name="monitor", constraint=ACTIVE_HAS_DEADLINE)
            ],
            database_operations=[
                RunSQLOnPostgreSQL(
                    "ALTER TABLE monitors_monitor ADD CONSTRAINT monitor_active_has_deadline "
                    "CHECK (NOT is_active OR next_check_at IS NOT NULL) NOT VALID",
                    "ALTER TABLE monitors_monitor DROP CONSTRAINT monitor_active_has_deadline",
                ),
                AddConstraintUnlessPostgreSQL(
                    model_name="monitor", constraint=ACTIVE_HAS_DEADLINE
                ),
            ],
        ),
    ]
