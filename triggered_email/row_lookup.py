"""Looking up rows by a field's values with SQL written once per process.

The ORM builds its SELECT anew on every call; for the lookups every API request makes (its
credential, its event, its contacts) building cost about twice as much CPU as running it
(measured in 49aa88d).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from django.db import connections, models, router

from triggered_email.database_dialect import has_postgresql_statements
from triggered_email.row_instances import RowReader

M = TypeVar("M", bound=models.Model)


@lru_cache(maxsize=32)
def _select(model: type[models.Model], names: tuple[str, ...], alias: str) -> tuple[str, RowReader]:
    qn = connections[alias].ops.quote_name
    meta = model._meta
    fields = list(meta.concrete_fields)
    columns = ", ".join(qn(f.column) for f in fields)
    where = " AND ".join(f"{qn(meta.get_field(name).column)} = %s" for name in names)
    # Only quoted names go into the text; values are parameters.
    sql = f"SELECT {columns} FROM {qn(meta.db_table)} WHERE {where} LIMIT 1"  # noqa: S608
    return sql, RowReader(model, fields, connections[alias])


def first_where(model: type[M], **equal: Any) -> M | None:
    """`model.objects.filter(**equal).first()` for plain field values, without building the
    query each time (no ordering: meant for lookups of at most one row). Every API request
    looks up its credential and its event so; a raw queryset cost as much again to read the
    row as to run the query."""
    alias = router.db_for_read(model)
    names = tuple(equal)
    fields = [model._meta.get_field(name) for name in names]
    connection = connections[alias]
    params = [f.get_db_prep_value(equal[f.name], connection) for f in fields]
    sql, reader = _select(model, names, alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else reader(row, connection)


def any_of(connection: Any, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The SQL that matches a column against `values`, and its parameters.

    On PostgreSQL `= %s` for one value and `= ANY(%s)` with one array parameter for more: the
    same statement for two values or a thousand, where a thousand placeholders cost psycopg more
    to convert (and it keeps no such long statement converted) than the query cost to run. One
    value gets its own statement because PostgreSQL keeps a prepared statement's generic plan
    only while it costs no more than the plans made for each call's values, and it prices a
    generic `= ANY(%s)` for an array of ten: against one value it lost every time, so a
    statement that mostly matches one value (a single trigger's contact, a time-critical task's
    claim) was planned afresh on every call (the claim: 330 of its 490 µs in PostgreSQL,
    measured in 2edf686). Elsewhere `IN (%s, …)`.
    """
    if has_postgresql_statements(connection):
        if len(values) == 1:
            return "= %s", [values[0]]
        return "= ANY(%s)", [list(values)]
    return "IN (" + ", ".join(["%s"] * len(values)) + ")", list(values)


@lru_cache(maxsize=32)
def _select_in(
    model: type[models.Model], name: str, only: tuple[str, ...], alias: str, match: str
) -> tuple[str, RowReader]:
    connection = connections[alias]
    qn = connection.ops.quote_name
    meta = model._meta
    if only:
        names = (meta.pk.attname, *(n for n in only if n != meta.pk.attname))
        fields = [meta.get_field(n) for n in names]
    else:
        fields = list(meta.concrete_fields)
    columns = ", ".join(qn(f.column) for f in fields)
    column = qn(meta.get_field(name).column)
    # Only quoted names and placeholders go into the text; values are parameters.
    sql = f"SELECT {columns} FROM {qn(meta.db_table)} WHERE {column} {match}"  # noqa: S608
    return sql, RowReader(model, fields, connection)


def rows_where_in(
    model: type[M], name: str, values: Collection[Any], *, only: Sequence[str] = ()
) -> list[M]:
    """`model.objects.filter(**{name + "__in": values}).only(*only)`, unordered, with the
    statement written once per process; fields left out of `only` load when read.

    The instances are built by triggered_email.row_instances: a batch call reads a thousand
    contacts here.
    """
    if not values:
        return []
    alias = router.db_for_read(model)
    connection = connections[alias]
    field = model._meta.get_field(name)
    match, params = any_of(
        connection, [field.get_db_prep_value(value, connection) for value in values]
    )
    sql, reader = _select_in(model, name, tuple(only), alias, match)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [reader(row, connection) for row in cursor.fetchall()]
