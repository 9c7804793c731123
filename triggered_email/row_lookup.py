"""Looking up one row by equal fields with SQL written once per process.

The ORM builds its SELECT anew on every call; for the lookups every API request makes (its
credential, its event) building cost about twice as much CPU as running it (docs/performance.md).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


@lru_cache(maxsize=32)
def _select_sql(model: type[models.Model], names: tuple[str, ...], alias: str) -> str:
    qn = connections[alias].ops.quote_name
    meta = model._meta
    where = " AND ".join(f"{qn(meta.get_field(name).column)} = %s" for name in names)
    # Only quoted names go into the text; values are parameters.
    return f"SELECT * FROM {qn(meta.db_table)} WHERE {where} LIMIT 1"  # noqa: S608


def first_where(model: type[M], **equal: Any) -> M | None:
    """`model.objects.filter(**equal).first()` for plain field values, without building the
    query each time (no ordering: meant for lookups of at most one row)."""
    alias = router.db_for_read(model)
    names = tuple(equal)
    fields = [model._meta.get_field(name) for name in names]
    connection = connections[alias]
    params = [f.get_db_prep_value(equal[f.name], connection) for f in fields]
    sql = _select_sql(model, names, alias)
    return next(iter(model.objects.using(alias).raw(sql, params)), None)
