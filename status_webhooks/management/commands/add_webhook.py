import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from status_webhooks.event_types import WebhookEventType
from status_webhooks.subscriptions import create_subscription


class Command(BaseCommand):
    help = (
        "Subscribe a client system's endpoint to status webhooks. Prints one JSON line with the "
        "subscription's id and its signing secret (shown only here)."
    )

    def add_arguments(self, parser):
        parser.add_argument("url", help="the endpoint, https://…")
        parser.add_argument(
            "--events",
            default="",
            help="comma-separated event types (default: all): " + ",".join(WebhookEventType.values),
        )
        parser.add_argument("--name", default="")
        parser.add_argument("--stream", type=int, action="append", default=[], help="stream id")
        parser.add_argument(
            "--external-event", type=int, action="append", default=[], help="external event id"
        )
        parser.add_argument(
            "--allow-private",
            action="store_true",
            help="let the URL reach loopback, private and link-local addresses",
        )

    def handle(self, *args, **options):
        try:
            subscription = create_subscription(
                options["url"],
                event_types=options["events"].split(","),
                name=options["name"],
                allow_private=options["allow_private"],
                stream_ids=options["stream"],
                external_event_ids=options["external_event"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            json.dumps(
                {
                    "id": subscription.pk,
                    "secret": subscription.secret,
                    "url": subscription.url,
                    "events": subscription.event_types,
                }
            )
        )
