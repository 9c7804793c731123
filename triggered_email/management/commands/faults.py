import json
import sys

from django.core.management.base import BaseCommand, CommandError

from triggered_email.faults.run import FAULTS, SAFE_FAULTS, Options, run, table


class Command(BaseCommand):
    help = (
        "Inject faults into a real stack it starts (web, both lanes, an SMTP sink that can go "
        "down, refuse and slow down) and count every accepted message at the sink: delivered "
        "once, duplicates, lost, recovery time. Prints a table, then one JSON line. "
        "docs/reliability.md explains the faults."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--faults",
            default=",".join(SAFE_FAULTS),
            help=f"comma-separated, of: {', '.join(FAULTS)}",
        )
        parser.add_argument("--messages", type=int, default=300, help="single triggers per fault")
        parser.add_argument("--fault-seconds", type=float, default=10.0)
        parser.add_argument("--slow-seconds", type=float, default=1.5, help="mta-slow: per message")
        parser.add_argument(
            "--lease-seconds", type=int, default=10, help="TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS"
        )
        parser.add_argument("--wait-seconds", type=float, default=180.0)
        parser.add_argument("--restart-postgres", default="", help="shell command that restarts it")
        parser.add_argument("--restart-redis", default="", help="shell command that restarts it")

    def handle(self, *args, **options):
        faults = tuple(f.strip() for f in options["faults"].split(",") if f.strip())
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise CommandError(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
        chosen = Options(
            faults=faults,
            messages=options["messages"],
            fault_seconds=options["fault_seconds"],
            slow_seconds=options["slow_seconds"],
            lease_seconds=options["lease_seconds"],
            wait_seconds=options["wait_seconds"],
            restart_postgres=options["restart_postgres"],
            restart_redis=options["restart_redis"],
        )
        try:
            results = run(chosen, lambda line: print(line, file=sys.stderr, flush=True))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(table(results))
        self.stdout.write(json.dumps({"faults": [r.row() for r in results]}))
