import json

from django.core.management.base import BaseCommand

from senders.signing_cost import measure


class Command(BaseCommand):
    help = "Measure what one DKIM signature costs on this machine; prints one JSON line (ms)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--signatures", type=int, default=1000)

    def handle(self, *args, signatures: int, **options) -> None:
        self.stdout.write(json.dumps(measure(max(1, signatures))))
