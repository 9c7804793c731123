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
    """Run the bulk lane's workers at a lower CPU priority (Q_BULK_NICE): where both lanes share
    cores, a broadcast then takes what the time-critical lane leaves (docs/performance.md)."""
    from django.conf import settings
    from django_q.conf import Conf

    if Conf.CLUSTER_NAME == "bulk" and settings.Q_BULK_NICE:
        os.nice(settings.Q_BULK_NICE)
