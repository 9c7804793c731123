from django.apps import AppConfig


class StatusWebhooksConfig(AppConfig):
    """Status webhooks to client systems: signed, retried, recorded, redeliverable."""

    name = "status_webhooks"
    verbose_name = "Status webhooks"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from status_webhooks import lane

        post_spawn.connect(lane.start, dispatch_uid="webhook-lane-beat")
