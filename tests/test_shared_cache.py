"""The default cache (triggered_email.shared_cache): Django's cache semantics, one statement for
a read and one for a write, expired rows skipped on read and deleted by the periodic cull."""

import time

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from triggered_email.shared_cache import SharedDatabaseCache

pytestmark = pytest.mark.django_db


def cache_statements(queries) -> list[str]:
    return [q["sql"].split()[0] for q in queries if "triggered_email_cache" in q["sql"]]


def test_the_default_cache_is_the_shared_database_cache():
    assert isinstance(caches["default"], SharedDatabaseCache)


def test_values_round_trip_with_django_cache_semantics():
    cache.set("a", {"n": [1, 2]}, 60)
    cache.set("a", "second", 60)

    assert cache.get("a") == "second"
    assert cache.get_many(["a", "missing"]) == {"a": "second"}
    assert cache.add("a", "third") is False
    assert cache.add("counter", 1) is True
    assert cache.incr("counter") == 2
    cache.delete("a")
    assert cache.get("a", "gone") == "gone"


def test_an_expired_value_is_missing_and_its_read_writes_nothing():
    cache.set("short", 1, 1)
    time.sleep(2.1)

    with CaptureQueriesContext(connection) as queries:
        value = cache.get("short", "expired")

    assert value == "expired"
    assert cache_statements(queries) == ["SELECT"]


def test_a_write_is_one_statement_after_the_first_cull():
    cache.set("warm", 1, 60)

    with CaptureQueriesContext(connection) as queries:
        cache.set("k", 1, 60)
        cache.set("k", 2, 60)

    assert cache_statements(queries) == ["INSERT", "INSERT"]
    assert cache.get("k") == 2


def test_the_first_write_of_a_process_deletes_expired_rows():
    cache.set("old", 1, 1)
    time.sleep(2.1)
    fresh = SharedDatabaseCache("triggered_email_cache", {"KEY_PREFIX": "triggered_email"})

    fresh.set("new", 1, 60)

    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM triggered_email_cache")
        keys = [row[0] for row in cursor.fetchall()]
    assert keys == ["triggered_email:1:new"]
