from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        from delivery import webhooks
        from delivery.schedules import ensure_schedules

        # ESP tracking webhooks (Anymail's `tracking` signal) become DeliveryEvents.
        webhooks.connect()

        # After every migrate, so a new installation has its periodic sweep without extra steps.
        post_migrate.connect(ensure_schedules, sender=self)
