"""Stream many rows into one table without building model instances.

:func:`rows_write` is for large append-only results (a backtest's cycles, fills and round
trips): on PostgreSQL it uses ``COPY ... FROM STDIN`` (psycopg's ``cursor.copy``); on other
engines (SQLite) chunked ``executemany``. Values are given as plain tuples in the order of
``fields`` and converted per column the way Django would save them: each field's
``get_db_prep_save`` on SQLite, and on PostgreSQL COPY's own adaptation of ``Decimal``,
``datetime`` (aware), ``int`` and ``str`` with JSON columns sent as JSON text (a
:class:`JsonText` value is that text already). Nothing is
validated beyond what the database checks (types, constraints): use it for rows the code built,
never for user input. It writes inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

from django.conf import settings
from django.db import connection, models

CHUNK_ROWS = 5_000


def rows_write(model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple]) -> int:
    """Append ``rows`` (tuples in the order of ``fields``, model field names; a foreign key by
    its attribute name, e.g. ``run_id``) to ``model``'s table; returns how many were written.

    Raises the database's error (``IntegrityError``, ``DataError``...) on a bad row; inside
    ``transaction.atomic`` nothing of the call is then kept."""
    meta = model._meta
    columns = [meta.get_field(_field_name(meta, name)) for name in fields]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    table = connection.ops.quote_name(meta.db_table)
    if connection.vendor == "postgresql":
        return _copy(table, names, columns, rows)
    return _executemany(table, names, columns, rows)


def _field_name(meta, name: str) -> str:
    """``run_id`` -> ``run`` (the field that owns the ``_id`` attribute)."""
    for field in meta.concrete_fields:
        if field.attname == name:
            return field.name
    return name


def _copy(table: str, names: str, columns: list, rows: Iterable[tuple]) -> int:
    dumps: list[Callable | None] = [
        json_text if isinstance(f, models.JSONField) else None for f in columns
    ]
    count = 0
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor  # psycopg's own cursor; its errors become Django's (IntegrityError)
        # names are the model's own, quoted by the backend; values are streamed as data
        with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # nosec B608
            if any(dumps):
                for row in rows:
                    copy.write_row(
                        [
                            v if d is None or v is None else d(v)
                            for d, v in zip(dumps, row, strict=True)
                        ]
                    )
                    count += 1
            else:
                for row in rows:
                    copy.write_row(row)
                    count += 1
    return count


def _executemany(table: str, names: str, columns: list, rows: Iterable[tuple]) -> int:
    prep = [_sqlite_prep(f) for f in columns]
    marks = ", ".join(["%s"] * len(columns))
    # names are the model's own, quoted by the backend; values are parameters
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # nosec B608
    count = 0
    iterator = iter(rows)
    with connection.cursor() as cursor:
        while chunk := list(islice(iterator, CHUNK_ROWS)):
            cursor.executemany(
                sql, [[p(v) if p else v for p, v in zip(prep, row, strict=True)] for row in chunk]
            )
            count += len(chunk)
    return count


def _sqlite_prep(field) -> Callable | None:
    """The per-value conversion Django's save would apply, or ``None`` where the driver's own
    adaptation is the same (integers, text, and ``Decimal``, which Django's SQLite backend
    registers as ``str``)."""
    if isinstance(field, (models.IntegerField, models.CharField, models.ForeignKey)):
        return None
    if isinstance(field, models.DecimalField):
        return None
    if isinstance(field, models.JSONField):
        return json_text
    if isinstance(field, models.DateTimeField):
        return _sqlite_datetime(field)
    return lambda value: field.get_db_prep_save(value, connection)


def _sqlite_datetime(field) -> Callable:
    """Django's SQLite conversion of an aware datetime (``make_naive`` in the connection's
    time zone, then ``str``) without its per-value lookups; anything else goes through
    ``get_db_prep_save``."""
    zone, use_tz = connection.timezone, settings.USE_TZ

    def prep(value):
        if use_tz and getattr(value, "tzinfo", None) is not None:
            return str(value.astimezone(zone).replace(tzinfo=None))
        return field.get_db_prep_save(value, connection)

    return prep


class JsonText(str):
    """A JSON column's value already encoded (e.g. one text shared by many rows): written
    as is instead of being encoded again."""

    __slots__ = ()


def json_text(value: object) -> str | None:
    """A JSON column's text; the empty list (most decision columns) without ``json.dumps``,
    a :class:`JsonText` as it is."""
    if value is None:
        return None
    if isinstance(value, JsonText):
        return value
    if value == [] and isinstance(value, list):
        return "[]"
    return json.dumps(value)
