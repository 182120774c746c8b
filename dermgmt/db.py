"""Set-based writes that the ORM does not offer, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model

# SQLite allows 32,766 bound parameters per statement (since 3.32).
SQLITE_MAX_PARAMS = 32_000


def update_rows(
    *, model: type[Model], pks: Sequence[int], columns: dict[str, Sequence[Any]]
) -> int:
    """Set per-row values on many rows of `model` in one statement; return rows changed.

    `columns` maps field names to value lists aligned with `pks`. PostgreSQL gets
    `UPDATE ... FROM unnest(...)` (typed arrays, one round trip whatever the row
    count); SQLite `UPDATE ... FROM (VALUES ...)` in chunks under its parameter
    limit. Unlike `bulk_update` it builds no per-row `CASE WHEN`.
    """
    if not pks:
        return 0
    meta = model._meta
    fields = [cast(Field, meta.get_field(name)) for name in columns]
    prepared = [
        [field.get_db_prep_save(value, connection) for value in columns[field.name]]
        for field in fields
    ]
    quote = connection.ops.quote_name
    table, pk_column = quote(meta.db_table), quote(str(meta.pk.column))
    if connection.vendor == "postgresql":
        arrays = ", ".join(
            f"%s::{field.db_type(connection)}[]" for field in [meta.pk, *fields]
        )
        names = ", ".join(["pk", *(f"c{i}" for i in range(len(fields)))])
        sets = ", ".join(
            f"{quote(str(field.column))} = v.c{i}" for i, field in enumerate(fields)
        )
        sql = (
            f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({names}) "
            f"WHERE {table}.{pk_column} = v.pk"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(pks), *prepared])
            return cursor.rowcount
    width = len(fields) + 1
    sets = ", ".join(
        f"{quote(str(field.column))} = v.column{i + 2}"
        for i, field in enumerate(fields)
    )
    rows = list(zip(pks, *prepared, strict=True))
    chunk = max(1, SQLITE_MAX_PARAMS // width)
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values = ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * len(part))
            sql = (
                f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v "
                f"WHERE {table}.{pk_column} = v.column1"
            )
            cursor.execute(sql, [value for row in part for value in row])
            changed += cursor.rowcount
    return changed
