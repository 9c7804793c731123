from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Mail streams"

    def ready(self) -> None:
        from streams.contact_field_ids import forget_custom_field_ids
        from streams.marketers import ensure_marketers_group

        # After every migrate (for every app, as each one's permissions appear), so a new
        # installation has the Marketers group without extra steps.
        post_migrate.connect(ensure_marketers_group, dispatch_uid="streams.marketers_group")
        # By label: streams does not import events.
        for signal in (post_save, post_delete):
            signal.connect(
                forget_custom_field_ids,
                sender="events.ContactField",
                dispatch_uid=f"streams.contact_field_ids.{signal is post_save}",
            )
