from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SendersConfig(AppConfig):
    name = "senders"
    verbose_name = "Sender domains"

    def ready(self) -> None:
        from senders.schedules import ensure_schedules

        # After every migrate, so a new installation re-checks its DNS records without extra steps.
        post_migrate.connect(ensure_schedules, sender=self)
