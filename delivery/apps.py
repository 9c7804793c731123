from django.apps import AppConfig
from django.db.models.signals import post_migrate

from triggered_email.database_dialect import has_postgresql_statements


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from delivery import webhooks
        from delivery.schedules import ensure_schedules

        # ESP tracking webhooks (Anymail's `tracking` signal) become DeliveryEvents.
        webhooks.connect()

        # After every migrate, so a new installation has its periodic sweep without extra steps.
        post_migrate.connect(ensure_schedules, sender=self)
        post_spawn.connect(lower_bulk_worker_priority)
        post_spawn.connect(price_out_sequential_scans)


def lower_bulk_worker_priority(sender, proc_name: str, **kwargs) -> None:
    """Run the bulk lane's processes at a lower CPU priority: where both lanes share cores, a
    broadcast then takes only what the time-critical lane leaves (docs/performance.md, *Settings
    that matter*).

    SCHED_IDLE (Q_BULK_SCHED_IDLE, Linux) where available, else the nice level Q_BULK_NICE.
    Measured, the two are close (docs/performance.md, *Settings that matter*).
    """
    from django.conf import settings
    from django_q.conf import Conf

    from triggered_email.process_priority import run_in_background

    if Conf.CLUSTER_NAME != "bulk":
        return
    run_in_background(sched_idle=settings.Q_BULK_SCHED_IDLE, nice=settings.Q_BULK_NICE)


def price_out_sequential_scans(sender, proc_name: str, **kwargs) -> None:
    """Lane processes: PostgreSQL looks rows up through their index even in a plan it made while
    the table was empty.

    PostgreSQL caches, per connection, the plan of the check it runs for each row that refers to
    another (a `sent` event to its message), and of each statement the lanes repeat. A plan made
    while the message table was nearly empty (a new installation's first minutes, every benchmark
    run) is a sequential scan, and the cached plan keeps it as the table grows: recording a chunk
    as sent took 77-600 ms instead of 10 ms until autovacuum happened to analyse the table
    (measured in 20939a9). Every statement of the lanes looks rows up by key or
    through an index, so here sequential scans are priced out (`enable_seqscan = off`; a table
    with no usable index is still scanned) and the cached plans stay index lookups. The earlier
    cure, planning every statement afresh (`plan_cache_mode = force_custom_plan`), cost about a
    fifth of PostgreSQL's CPU per message of a batch (measured in b315efe). The web server, whose
    admin and dashboard read long ranges, keeps the default.
    """
    from django.db import connection
    from django.db.backends.signals import connection_created

    connection_created.connect(_price_out_sequential_scans, dispatch_uid="lane-index-plans")
    if connection.connection is not None:  # opened before the signal was connected
        _price_out_sequential_scans(sender=None, connection=connection)


def _price_out_sequential_scans(sender, connection, **kwargs) -> None:
    if has_postgresql_statements(connection):
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
