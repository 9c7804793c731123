"""Delete expired messages now (what the periodic task does), or show what would go."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from delivery import retention


class Command(BaseCommand):
    help = (
        "Delete the messages older than their stream's retention (with their events and "
        "attachment files) in small batches; the dashboard's counts and suppressions stay. "
        "--dry-run only shows what would go."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument("--batch", type=int, default=None, help="messages per transaction")
        parser.add_argument("--pause", type=float, default=None, help="seconds between batches")

    def handle(self, *args, **options):
        if options["dry_run"]:
            report = retention.preview()
            verb = "would delete"
        else:
            report = retention.purge(batch=options["batch"], pause=options["pause"])
            verb = "deleted"
        for stream in report.streams:
            self.stdout.write(
                f"{stream.stream} (keeps {stream.retention_days} days, before "
                f"{stream.cutoff:%Y-%m-%d %H:%M} UTC): {verb} {stream.messages:,} messages, "
                f"{stream.events:,} events, {stream.attachments:,} attachments"
            )
        self.stdout.write(f"In all: {verb} {report.messages:,} messages.")
