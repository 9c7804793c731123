from django.core.management.base import BaseCommand

from delivery import rollups


class Command(BaseCommand):
    help = (
        "Rebuild the dashboard's hourly rollups of the last N days from the messages "
        "(the schedule keeps them current; this repairs or fills them after an import)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=31, help="how far back (default 31)")

    def handle(self, *args, **options):
        result = rollups.rebuild(options["days"])
        self.stdout.write(f"Recomputed {result['hours']} hours: {result['rows']} rows.")
