from django.apps import AppConfig


class TriggeredEmailConfig(AppConfig):
    """The project itself: commands that span every app (seed_demo, run_local)."""

    name = "triggered_email"
    verbose_name = "Triggered Email"

    def ready(self) -> None:
        from triggered_email.startup_gc import freeze_startup_objects

        # Here the admin has imported every app's admin module (it comes first in
        # INSTALLED_APPS): most of what the web server and the lanes run is loaded. The web
        # server freezes again once its URLs are loaded (triggered_email.wsgi).
        freeze_startup_objects()
