from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events and contacts"

    def ready(self) -> None:
        from events.integrations import tasks as integrations_tasks
        from events.programs import tasks as programs_tasks
        from events.tasks import ensure_schedules

        post_migrate.connect(ensure_schedules, sender=self)
        post_migrate.connect(programs_tasks.ensure_schedules, sender=self)
        post_migrate.connect(integrations_tasks.ensure_schedules, sender=self)
