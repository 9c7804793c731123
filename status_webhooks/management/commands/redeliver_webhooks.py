from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from status_webhooks.models import WebhookSubscription
from status_webhooks.redelivery import redeliver, redeliver_failed


class Command(BaseCommand):
    help = (
        "Send status webhooks again: one delivery (--delivery ID), or everything that failed for "
        "a subscription since a time (--subscription ID --since 2026-12-01T00:00Z)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--delivery", type=int, action="append", default=[])
        parser.add_argument("--subscription", type=int)
        parser.add_argument("--since", help="ISO 8601 time with a zone, e.g. 2026-12-01T08:00Z")

    def handle(self, *args, **options):
        if options["delivery"]:
            count = redeliver(options["delivery"])
        elif options["subscription"] is not None and options["since"]:
            since = parse_datetime(options["since"].replace("Z", "+00:00"))
            if since is None or since.tzinfo is None:
                raise CommandError(
                    "--since must be an ISO 8601 time with a zone, e.g. 2026-12-01T08:00Z"
                )
            if not WebhookSubscription.objects.filter(pk=options["subscription"]).exists():
                raise CommandError(f"No webhook subscription {options['subscription']}.")
            count = redeliver_failed(options["subscription"], since)
        else:
            raise CommandError("Give --delivery ID, or --subscription ID and --since TIME.")
        self.stdout.write(f"Queued {count} deliveries again.")
