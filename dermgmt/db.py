"""Set-based writes that the ORM does not offer, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
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


def insert_rows(
    *, model: type[Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Append many rows to `model`'s table; return how many.

    PostgreSQL gets `COPY ... FROM STDIN` (about 3.5x `bulk_create`); SQLite an
    `executemany` INSERT. No model instances are built, so no `save()` logic runs:
    for append-only tables whose rows are plain values.
    """
    if not rows:
        return 0
    meta = model._meta
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(column.column)) for column in columns)
    table = quote(meta.db_table)
    prepared = [
        [
            column.get_db_prep_save(value, connection)
            for column, value in zip(columns, row, strict=True)
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = f"COPY {table} ({names}) FROM STDIN"
            started = time.monotonic()
            with cursor.cursor.copy(sql) as copy:
                for row in prepared:
                    copy.write_row(row)
            if connection.queries_logged:  # visible to query counts and debug logs
                elapsed = time.monotonic() - started
                connection.queries_log.append({"sql": sql, "time": f"{elapsed:.3f}"})
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})", prepared
            )
    return len(rows)
