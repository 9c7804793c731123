import sys

from django.core.management.base import BaseCommand, CommandError

from delivery.mta_logs import FORMATS, import_postfix_log


class Command(BaseCommand):
    help = (
        "Record delivered/deferred/bounced events from the dedicated MTA's log "
        "(matched by Message-ID or VERP return path; importing a file twice records nothing "
        "twice). Times without a year or zone are read in TIME_ZONE."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the log file, or - for standard input")
        parser.add_argument("--format", choices=FORMATS, default="postfix")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                result = import_postfix_log(sys.stdin)
            else:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    result = import_postfix_log(handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        self.stdout.write(
            f"Read {result.lines} lines: recorded {result.recorded} events, "
            f"{result.duplicates} already recorded, {result.other_mail} lines of other mail."
        )
