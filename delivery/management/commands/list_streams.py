from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from streams.models import MailStream


class Command(BaseCommand):
    help = "List the mail streams: id, name, event, status, lane, current version, held messages."

    def handle(self, *args, **options):
        streams = MailStream.objects.select_related("event", "current_version").annotate(
            held=Count("messages", filter=Q(messages__status="held"))
        )
        rows = [("ID", "NAME", "EVENT", "STATUS", "LANE", "VERSION", "HELD")]
        for stream in streams.order_by("pk"):
            rows.append(
                (
                    str(stream.pk),
                    stream.name,
                    f"{stream.event.pk} {stream.event.name}" if stream.event else "-",
                    stream.status
                    + (f" ({stream.pause_policy})" if stream.status == "paused" else ""),
                    stream.lane,
                    f"v{stream.current_version.number}" if stream.current_version else "-",
                    str(stream.held),
                )
            )
        if len(rows) == 1:
            self.stdout.write("No mail streams yet: create one in the admin.")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
