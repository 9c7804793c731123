import os

from django.apps import AppConfig
from django.db.models.signals import post_migrate


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


def lower_bulk_worker_priority(sender, proc_name: str, **kwargs) -> None:
    """Run the bulk lane's processes at a lower CPU priority: where both lanes share cores, a
    broadcast then takes only what the time-critical lane leaves (docs/performance.md).

    SCHED_IDLE (Q_BULK_SCHED_IDLE, Linux) where available, else the nice level Q_BULK_NICE.
    SCHED_IDLE states the promise as a scheduling rule: bulk work never takes a CPU from anything
    else. Measured, it and nice 10 are close (docs/performance.md, isolation): what a broadcast
    still costs the transactional lane is the work done for it at normal priority (database, MTA).
    """
    from django.conf import settings
    from django_q.conf import Conf

    if Conf.CLUSTER_NAME != "bulk":
        return
    if settings.Q_BULK_SCHED_IDLE and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif settings.Q_BULK_NICE:
        os.nice(settings.Q_BULK_NICE)
