"""The default cache: Django's database cache, with `set` as one statement.

Every web process shares it, so the API's rate limit counts the requests of all workers (issue
20). The rate limiter reads and writes its counter on every API request; Django's
DatabaseCache.set costs four statements (a COUNT(*) for culling, a SELECT, then UPDATE or
INSERT, in a transaction). Here `set` is one INSERT … ON CONFLICT DO UPDATE, the same statement
on both databases the project runs on (SQLite ≥ 3.24 and PostgreSQL); a read is one SELECT that
skips expired rows instead of deleting them there (a second write per read), and expired rows
are deleted, and the table culled, on a process's first `set` and then at most once an hour:
the table holds a few keys per credential.
"""

from __future__ import annotations

import base64
import pickle
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router
from django.utils import timezone

CULL_INTERVAL_SECONDS = 3600


class SharedDatabaseCache(DatabaseCache):
    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self._culled_at: float | None = None

    def get_many(self, keys: Any, version: int | None = None) -> dict[str, Any]:
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not key_map:
            return {}
        db = router.db_for_read(self.cache_model_class)
        connection = connections[db]
        qn = connection.ops.quote_name
        now = connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))
        marks = ", ".join(["%s"] * len(key_map))
        sql = (
            f"SELECT {qn('cache_key')}, {qn('value')} FROM {qn(self._table)} "  # noqa: S608
            f"WHERE {qn('cache_key')} IN ({marks}) AND {qn('expires')} >= %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*key_map, now])
            rows = cursor.fetchall()
        return {key_map[key]: pickle.loads(base64.b64decode(value.encode())) for key, value in rows}  # noqa: S301 - our own rows

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        key = self.make_and_validate_key(key, version=version)
        timeout = self.get_backend_timeout(timeout)
        if timeout is None:
            expires = datetime.max
        else:
            expires = datetime.fromtimestamp(timeout, tz=UTC if settings.USE_TZ else None)
        expires = connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))
        encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
        qn = connection.ops.quote_name
        table, key_column = qn(self._table), qn("cache_key")
        value_column, expires_column = qn("value"), qn("expires")
        sql = (
            f"INSERT INTO {table} ({key_column}, {value_column}, {expires_column}) "  # noqa: S608
            f"VALUES (%s, %s, %s) ON CONFLICT ({key_column}) DO UPDATE SET "
            f"{value_column} = excluded.{value_column}, "
            f"{expires_column} = excluded.{expires_column}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, encoded, expires])
            self._cull_now_and_then(db, cursor)

    def _cull_now_and_then(self, db: str, cursor: Any) -> None:
        started = time.monotonic()
        if self._culled_at is not None and started - self._culled_at < CULL_INTERVAL_SECONDS:
            return
        self._culled_at = started
        connection = connections[db]
        table, expires = (
            connection.ops.quote_name(self._table),
            connection.ops.quote_name("expires"),
        )
        now = timezone.now().replace(microsecond=0)
        cursor.execute(
            f"DELETE FROM {table} WHERE {expires} < %s",  # noqa: S608
            [connection.ops.adapt_datetimefield_value(now)],
        )
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        count = cursor.fetchone()[0]
        if count > self._max_entries:
            self._cull(db, cursor, now, count)
