from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Mail streams"

    def ready(self) -> None:
        from streams.marketers import ensure_marketers_group

        # After every migrate (for every app, as each one's permissions appear), so a new
        # installation has the Marketers group without extra steps.
        post_migrate.connect(ensure_marketers_group, dispatch_uid="streams.marketers_group")
