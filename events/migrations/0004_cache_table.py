"""The default cache's table (settings.CACHES without CACHE_URL: the database cache).

Created by `migrate`, so a setup needs no separate `createcachetable` step. Created whatever
the cache setting is: switching CACHE_URL off later then needs nothing either.
"""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "triggered_email_cache"


def create_cache_table(apps, schema_editor):
    # createcachetable's own table definition (key, value, expires and its index); it skips a
    # table that exists already.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)
    if schema_editor.connection.vendor == "postgresql":
        # The rate limiter writes the cache on every API request. A logged table makes each
        # write wait for its WAL flush (about 4 ms a request measured here); an unlogged one
        # does not, and a cache may be emptied by a crash.
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(CACHE_TABLE)} SET UNLOGGED")


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("events", "0003_contact_fields")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table, elidable=False)]
