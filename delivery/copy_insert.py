"""Writing new rows with written-out SQL on PostgreSQL instead of `bulk_create`.

`bulk_create` of a 1000-recipient batch spent most of the API call's CPU preparing each value of
each field and quoting them into arrays for `INSERT … SELECT UNNEST(…)`, and building its INSERT
cost a one-recipient trigger call more than running it (measured in e6e0cb3 and 49aa88d). Here the
values go to psycopg as they are, through one converter per field:

- many rows: COPY streams them through psycopg's C row writer. COPY returns no ids, so the ids
  are taken from the table's sequence first, in one query, and written with the rows;
- a few rows: one `INSERT … VALUES … RETURNING id`, cheaper than an extra round trip for ids.

Either way every object ends up with its primary key, as after `bulk_create`. Other databases
(SQLite on a laptop) take `bulk_create`.
"""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router

from triggered_email.database_dialect import has_postgresql_statements

# Below this many rows one INSERT is cheaper than fetching ids and then copying.
COPY_MIN_ROWS = 20


# Field types whose Python values psycopg's own dumpers write as the column expects.
PASSED_AS_IS = {
    "CharField",
    "TextField",
    "EmailField",
    "SlugField",
    "URLField",
    "BooleanField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
    "ForeignKey",
    "DateTimeField",
    "UUIDField",
    "DecimalField",
}


def _converter(field: models.Field, connection) -> Callable[[Any], Any] | None:
    """How one field's Python value becomes something psycopg can send; None: as it is."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def to_json(value: Any) -> Any:
            return None if value is None else json.dumps(value, cls=encoder)

        return to_json
    if field.get_internal_type() in PASSED_AS_IS:
        return None
    # Anything else goes through Django's own preparation, as bulk_create would do it.
    return lambda value: field.get_db_prep_save(value, connection)


def _row_values(fields: Sequence[models.Field], connection) -> Callable[[Any], list[Any]]:
    """A function giving an object's values for `fields`, in order, ready for psycopg.

    The values are read in one C call (attrgetter) and only the few fields that need it are
    converted: a message's row took 9.0 µs read value by value, 6.9 µs so (most of the rest is
    the JSON of its data).
    """
    read = operator.attrgetter(*(f.attname for f in fields))
    single = len(fields) == 1
    converters = [
        (index, convert)
        for index, field in enumerate(fields)
        if (convert := _converter(field, connection)) is not None
    ]

    def values(obj: Any) -> list[Any]:
        row = [read(obj)] if single else list(read(obj))
        for index, convert in converters:
            row[index] = convert(row[index])
        return row

    return values


def insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert `objs` (new, unsaved) and set their primary keys, like `bulk_create(objs)`."""
    if not objs:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    if not has_postgresql_statements(connection):
        model.objects.using(alias).bulk_create(objs)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    values = _row_values(fields, connection)
    # Only these compute a value in pre_save(); the others return what the object holds.
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    for obj in objs:
        # pre_save fills auto_now and auto_now_add fields, as save() and bulk_create do.
        for field in stamped:
            field.pre_save(obj, add=True)
    with connection.cursor() as cursor:
        if len(objs) < COPY_MIN_ROWS:
            _insert_returning(cursor, connection, meta, fields, values, objs)
        else:
            _copy(cursor, connection, meta, fields, values, objs)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def _insert_returning(cursor, connection, meta, fields, values, objs) -> None:
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Values are parameters; only quoted identifiers go into the text.
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES "  # noqa: S608
        + ", ".join([row] * len(objs))
        + f" RETURNING {qn(meta.pk.column)}"
    )
    params = [value for obj in objs for value in values(obj)]
    cursor.execute(sql, params)
    # PostgreSQL returns the rows of one INSERT … VALUES in the order given (bulk_create relies
    # on it too).
    for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
        obj.pk = pk


def _copy(cursor, connection, meta, fields, values, objs) -> None:
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in [meta.pk, *fields])
    # Values are parameters; only quoted identifiers go into the text.
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [qn(meta.db_table), meta.pk.column, len(objs)],
    )
    ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
    # Django wraps errors only for execute(): a unique violation must still arrive as
    # IntegrityError, which the trigger path retries on.
    sql = f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN"
    # Logged like any other query where Django logs queries (DEBUG, query-count tests).
    logged = cursor.debug_sql(sql) if hasattr(cursor, "debug_sql") else contextlib.nullcontext()
    with logged, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([obj.pk, *values(obj)])
