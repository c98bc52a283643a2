"""One UPDATE for many rows with different values, for the check engine's hot paths.

Django's ``bulk_update`` builds a ``CASE WHEN id = ... THEN ...`` expression per row and
field; at hundreds of checks a second that query building cost more CPU than the HTTP
checks themselves (see bench/check_throughput.py). On PostgreSQL this sends the new values
as one array per column and joins them with ``unnest``; elsewhere it falls back to
``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def bulk_set(model: type[models.Model], rows: Sequence[Sequence], fields: Sequence[str]) -> None:
    """Set ``fields`` of the rows ``(pk, value, ...)`` (values in ``fields`` order)."""
    if not rows:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        objects = [model(pk=row[0], **dict(zip(fields, row[1:], strict=True))) for row in rows]
        model.objects.bulk_update(objects, fields, batch_size=500)
        return
    quote = connection.ops.quote_name
    pk = meta.pk
    casts = [f"%s::{pk.db_type(connection)}[]"]
    casts += [f"%s::{column.db_type(connection)}[]" for column in columns]
    aliases = ", ".join(["pk_", *(f"v{i}" for i in range(len(columns)))])
    assignments = ", ".join(f"{quote(c.column)} = v.v{i}" for i, c in enumerate(columns))
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 -- names from the model
        f"FROM unnest({', '.join(casts)}) AS v({aliases}) WHERE t.{quote(pk.column)} = v.pk_"
    )
    params = [[pk.get_db_prep_value(row[0], connection) for row in rows]]
    for index, column in enumerate(columns, start=1):
        params.append([column.get_db_prep_value(row[index], connection) for row in rows])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
