from django.apps import AppConfig


class TriggeredEmailConfig(AppConfig):
    """The project itself: commands that span every app (seed_demo, run_local)."""

    name = "triggered_email"
    verbose_name = "Triggered Email"
