"""Lane workers have PostgreSQL plan its foreign-key checks afresh on every use
(delivery.apps.replan_foreign_key_checks): a plan cached while the message table was nearly
empty otherwise scans the whole table for every `sent` event once it has grown."""

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created

from delivery.apps import replan_foreign_key_checks

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting"),
]


def plan_cache_mode(db) -> str:
    with db.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


@pytest.fixture
def lane_process():
    """This process as a lane worker after django-q2's post_spawn; undone afterwards."""
    replan_foreign_key_checks(sender="django_q", proc_name="Process-1")
    yield
    connection_created.disconnect(dispatch_uid="lane-custom-plans")


def fresh_connection():
    db = connections.create_connection("default")
    db.ensure_connection()
    return db


def test_connections_keep_postgresql_default_outside_lanes():
    db = fresh_connection()
    try:
        assert plan_cache_mode(db) == "auto"
    finally:
        db.close()


def test_lane_worker_connections_plan_each_check_afresh(lane_process):
    db = fresh_connection()
    try:
        assert plan_cache_mode(db) == "force_custom_plan"
    finally:
        db.close()


def test_connection_open_before_the_spawn_signal_is_switched_too():
    connection.ensure_connection()

    replan_foreign_key_checks(sender="django_q", proc_name="Process-1")
    try:
        assert plan_cache_mode(connection) == "force_custom_plan"
    finally:
        connection_created.disconnect(dispatch_uid="lane-custom-plans")
