"""Model instances from a row's values, without Model.__init__.

Model.__init__ sorts out positional and keyword arguments, fills defaults and sends the init
signals for every object. Where rows are read or written by the hundred (a batch call's
contacts and messages, a task's claimed messages) that was most of the cost of each instance:
about 14 µs for a message read back, 4 µs so (measured in afa6062). The instance is the same:
a value per field given in `__dict__` (a field not given stays out of it, which is what
makes it deferred) and the `_state` of a new or a loaded row.

Where anything listens to `pre_init` or `post_init`, Model.__init__ runs as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

M = TypeVar("M", bound=models.Model)


def instance(model: type[M], attnames: Sequence[str], values: Sequence[Any], db: str | None) -> M:
    """`model.from_db(db, attnames, values)`, or with `db` None the new, unsaved
    `model(**dict(zip(attnames, values)))`, for values already in their Python form."""
    if pre_init.receivers or post_init.receivers:
        if db is None:
            return model(**dict(zip(attnames, values, strict=True)))
        return model.from_db(db, list(attnames), list(values))
    obj = model.__new__(model)
    obj.__dict__.update(zip(attnames, values, strict=True))
    state = obj._state = ModelState()
    if db is not None:
        state.adding = False
        state.db = db
    return obj


class RowReader:
    """Instances from rows of `fields` as the database returns them: each value converted as
    the ORM converts it (the backend's converters, SQLite's text to datetime for one, then the
    field's own: JSON text to Python), then `instance`."""

    def __init__(self, model: type[models.Model], fields: Sequence[models.Field], connection: Any):
        self.model = model
        self.attnames = [f.attname for f in fields]
        self.converters: list[tuple[int, list[Callable], Any]] = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + field.get_db_converters(
                connection
            )
            if converters:
                self.converters.append((index, converters, column))

    def __len__(self) -> int:
        return len(self.attnames)

    def __call__(self, values: Sequence[Any], connection: Any) -> models.Model:
        """The instance of one row read over `connection` (the one the reader was made for)."""
        converted = list(values)
        for index, converters, column in self.converters:
            value = converted[index]
            for convert in converters:
                value = convert(value, column, connection)
            converted[index] = value
        return instance(self.model, self.attnames, converted, connection.alias)
