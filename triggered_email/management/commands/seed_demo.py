from django.core.management.base import BaseCommand

from triggered_email import demo


class Command(BaseCommand):
    help = (
        "Create the demo event, a live order-confirmation stream, a demo contact, an API "
        "credential and an admin login; print them as one JSON line. Safe to run repeatedly."
    )

    def handle(self, *args, **options):
        self.stdout.write(demo.as_json(demo.seed()))
