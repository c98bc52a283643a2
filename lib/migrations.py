"""Migration operations that stay safe on large tables."""

from __future__ import annotations

from django.db import NotSupportedError
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations import AddConstraint
from django.db.migrations.state import ProjectState


class AddUniqueIndexConstraintConcurrently(AddConstraint):
    """``AddConstraint`` for a ``UniqueConstraint`` on expressions (Django makes it a unique
    index), built with ``CREATE UNIQUE INDEX CONCURRENTLY`` on PostgreSQL so writes to the
    table go on while it builds. Other databases get the plain ``AddConstraint``. The
    migration needs ``atomic = False``, as PostgreSQL builds such an index outside a
    transaction only.
    """

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        if schema_editor.connection.in_atomic_block:
            raise NotSupportedError(f"{type(self).__name__} needs a migration with atomic = False")
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        sql = str(self.constraint.create_sql(model, schema_editor))
        assert sql.startswith("CREATE UNIQUE INDEX "), sql  # an expression unique constraint
        schema_editor.execute(
            sql.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1)
        )
        return None

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        name = schema_editor.quote_name(self.constraint.name)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        return None
