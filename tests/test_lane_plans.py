"""Lane workers keep their cached plans index lookups (delivery.apps.price_out_sequential_scans):
a plan cached while a table was nearly empty otherwise scans the whole table for every lookup
once it has grown (for every `sent` event's check of its message). And a time-critical task's
claim and record of one message reuse their plan instead of being planned on every call
(triggered_email.row_lookup.any_of)."""

import uuid

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.utils import timezone

from delivery.apps import price_out_sequential_scans
from delivery.claim_rows import claim_rows
from delivery.models import Message
from delivery.sent_rows import record_sent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting"),
]


def setting(db, name: str) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def cached_plan_after_growth(db) -> str:
    """The plan PostgreSQL keeps for a key lookup (the one a foreign-key check runs) prepared
    while its table was empty, once the table has 20,000 rows."""
    with db.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE grows (id bigserial PRIMARY KEY, note text)")
        cursor.execute("ANALYZE grows")
        cursor.execute(
            "PREPARE lookup(bigint) AS SELECT 1 FROM ONLY grows x WHERE id = $1 FOR KEY SHARE OF x"
        )
        # From the sixth use on, PostgreSQL may keep a generic plan for good.
        for _ in range(7):
            cursor.execute("EXECUTE lookup(1)")
        cursor.execute(
            "INSERT INTO grows (note) SELECT 'row ' || n FROM generate_series(1, 20000) n"
        )
        cursor.execute("EXPLAIN EXECUTE lookup(5)")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def lane_process():
    """This process as a lane worker after django-q2's post_spawn; undone afterwards."""
    price_out_sequential_scans(sender="django_q", proc_name="Process-1")
    yield
    connection_created.disconnect(dispatch_uid="lane-index-plans")


@pytest.fixture
def fresh_connection():
    db = connections.create_connection("default")
    db.ensure_connection()
    yield db
    db.close()


def test_a_plan_cached_on_an_empty_table_scans_it_outside_lanes(fresh_connection):
    # PostgreSQL's default, which the web server keeps: the case the lanes must not hit.
    assert setting(fresh_connection, "enable_seqscan") == "on"
    assert "Seq Scan on grows" in cached_plan_after_growth(fresh_connection)


def test_lane_connection_keeps_key_lookups_on_the_index_as_the_table_grows(
    lane_process, fresh_connection
):
    plan = cached_plan_after_growth(fresh_connection)

    assert "Index Scan using grows_pkey" in plan
    assert "Seq Scan" not in plan


def test_lane_connections_keep_reusing_cached_plans(lane_process, fresh_connection):
    # Planning every statement afresh was the earlier cure, and cost more than the lookups.
    assert setting(fresh_connection, "plan_cache_mode") == "auto"
    assert setting(fresh_connection, "enable_seqscan") == "off"


def test_connection_open_before_the_spawn_signal_is_switched_too():
    connection.ensure_connection()

    price_out_sequential_scans(sender="django_q", proc_name="Process-1")
    try:
        assert setting(connection, "enable_seqscan") == "off"
    finally:
        connection_created.disconnect(dispatch_uid="lane-index-plans")
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")


def plans_made(statement_start: str) -> tuple[int, int]:
    """(generic, custom) plans PostgreSQL made for this connection's prepared statement that
    starts so (psycopg prepares a statement on its fifth use)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [statement_start + "%"],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_one_message_claims_and_records_reuse_their_plan(
    lane_process, make_stream, make_queued_messages
):
    # A time-critical lane claims and records one message per task while it keeps up. With a
    # table of a few rows every plan costs the same; the difference shows on a real one.
    messages = make_queued_messages(make_stream(), 3000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")

    for message in messages[:15]:
        claim_rows([message.pk], uuid.uuid4(), timezone.now())
        record_sent([message.pk], timezone.now(), "smtp")

    for start in ("WITH claimed AS", "WITH sent AS"):
        generic, custom = plans_made(start)
        assert generic >= 5, (start, generic, custom)
        assert custom <= 5, (start, generic, custom)
