"""The one place that decides whether a connection gets PostgreSQL-only statements.

Why there are two paths at all: PostgreSQL is the production database; SQLite serves `make run`
on a laptop and the second CI leg (the whole suite runs on both). Everything works through
Django's ORM on both. PostgreSQL-only statements are used where they were measured to matter,
or where SQLite has no such thing:

- an `UPDATE … RETURNING` feeding a second statement in one round trip: a send task's claim
  (delivery.claim_rows);
- `COPY` and `INSERT … RETURNING` instead of `bulk_create` (delivery.copy_insert);
- `= ANY(array)`: one statement for one value or a thousand (triggered_email.row_lookup);
- `SET enable_seqscan = off` on the lanes' connections (delivery.apps);
- `jsonb_each_text` and time zones, to merge the dashboard's histograms in the database
  (dashboard.stats);
- `ANALYZE` and `VACUUM` after bulk loads in the tooling (benchmark, generate_volume).

Every such branch asks has_postgresql_statements(), so searching for it lists them all. A second
path kept only for speed stays only while its measured gain on PostgreSQL is 10 % or more
(issue 26); below that, the ORM path is the only one.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper


def has_postgresql_statements(connection: BaseDatabaseWrapper) -> bool:
    """Whether `connection` takes PostgreSQL-only statements (otherwise: SQLite, the ORM path)."""
    return connection.vendor == "postgresql"
