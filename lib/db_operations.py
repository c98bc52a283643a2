"""Migration operations that run on one database vendor only.

A change that PostgreSQL can make without blocking writes on a large table (a constraint
added ``NOT VALID`` and validated later) is plain SQL there, while SQLite (the embedded
default) needs Django's own operation: these wrappers let one migration say both. The
migration state changes either way; only the database work is skipped.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


class _OnPostgreSQLOnly:
    """Mixin for an operation: run its database work only where ``runs_on_postgresql`` says."""

    runs_on_postgresql = True

    def _applies(self, schema_editor: BaseDatabaseSchemaEditor) -> bool:
        return (schema_editor.connection.vendor == "postgresql") == self.runs_on_postgresql

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if self._applies(schema_editor):
            super().database_forwards(app_label, schema_editor, *args)  # type: ignore[misc]

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if self._applies(schema_editor):
            super().database_backwards(app_label, schema_editor, *args)  # type: ignore[misc]


class RunSQLOnPostgreSQL(_OnPostgreSQLOnly, migrations.RunSQL):
    """``RunSQL`` on PostgreSQL; nothing elsewhere."""


class AddConstraintUnlessPostgreSQL(_OnPostgreSQLOnly, migrations.AddConstraint):
    """``AddConstraint`` on every database but PostgreSQL (which gets its own SQL)."""

    runs_on_postgresql = False


class AddIndexUnlessPostgreSQL(_OnPostgreSQLOnly, migrations.AddIndex):
    """``AddIndex`` on every database but PostgreSQL (which builds it CONCURRENTLY)."""

    runs_on_postgresql = False


def add_partial_unique_constraint_concurrently(
    *, model_name: str, table: str, constraint: Any, columns: str, where: str
) -> migrations.SeparateDatabaseAndState:
    """A partial ``UniqueConstraint`` (one with a ``condition``) as a unique index built
    ``CONCURRENTLY`` on PostgreSQL, so writes go on while it is built (the migration must be
    ``atomic = False``); Django's ``AddConstraint`` elsewhere. Django creates and drops such
    constraints as indexes, so the index made here is what a later migration expects.
    ``columns`` and ``where`` are the index's SQL, e.g. ``"team_id", "key"`` and ``"key" <> ''``.
    """
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddConstraint(model_name=model_name, constraint=constraint)],
        database_operations=[
            RunSQLOnPostgreSQL(
                f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{constraint.name}" '
                f'ON "{table}" ({columns}) WHERE {where}',
                f'DROP INDEX CONCURRENTLY IF EXISTS "{constraint.name}"',
            ),
            AddConstraintUnlessPostgreSQL(model_name=model_name, constraint=constraint),
        ],
    )
