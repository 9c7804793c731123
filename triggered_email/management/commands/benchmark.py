import argparse
import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triggered_email.benchmarking import dataset
from triggered_email.benchmarking.modes import MODES, Options, run
from triggered_email.benchmarking.services import Topology


class Command(BaseCommand):
    help = (
        "Measure the real system (gunicorn, both django-q2 lanes, the configured database and "
        "broker, an SMTP sink) against the raw SMTP limit of this machine. Progress goes to "
        "stderr; the result is one JSON line on stdout. docs/performance.md explains the modes."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--mode", choices=MODES)
        what.add_argument(
            "--remove", metavar="RUN", help="remove the rows of a run kept with --keep, and stop"
        )
        parser.add_argument("--messages", type=int, default=1000, help="messages measured")
        parser.add_argument("--batch-size", type=int, default=1000, help="recipients per call")
        parser.add_argument("--rate", type=float, default=50.0, help="single triggers per second")
        parser.add_argument(
            "--broadcast", type=int, default=50_000, help="isolation: broadcast recipients"
        )
        parser.add_argument(
            "--concurrency", type=int, default=4, help="batch calls in flight at once"
        )
        parser.add_argument(
            "--find-max-rate",
            action="store_true",
            help="single: step the rate up (from --rate) until p99 passes --p99-limit-ms",
        )
        parser.add_argument("--step-seconds", type=float, default=5.0)
        parser.add_argument(
            "--step-min-messages", type=int, default=200, help="at least this many per step"
        )
        parser.add_argument("--max-rate", type=float, default=3000.0)
        parser.add_argument("--p99-limit-ms", type=float, default=150.0)
        parser.add_argument("--url", default="", help="use this running web server")
        parser.add_argument("--smtp", default="", help="HOST:PORT of a running SMTP server")
        parser.add_argument(
            "--no-workers", action="store_true", help="the lanes are running already"
        )
        parser.add_argument("--keep", action="store_true", help="keep the benchmark's rows")
        parser.add_argument("--sink", choices=("auto", "builtin", "smtp-sink"), default="auto")
        parser.add_argument("--auth", choices=("token", "wsse"), default="token")
        parser.add_argument("--lane", choices=("transactional", "bulk"), default="transactional")
        parser.add_argument("--warmup", type=int, default=20, help="messages per lane first")
        parser.add_argument(
            "--ceiling-messages", type=int, default=0, help="messages for the sink's ceiling"
        )
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--web-threads", type=int, default=1, help=">1: gthread workers")
        parser.add_argument("--workers", type=int, default=2, help="transactional lane workers")
        parser.add_argument("--bulk-workers", type=int, default=2)
        parser.add_argument(
            "--bulk-nice",
            type=int,
            default=None,
            help="nice level of the bulk lane's workers (default: Q_BULK_NICE, 10)",
        )
        parser.add_argument(
            "--bulk-sched-idle",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="run the bulk lane's workers under SCHED_IDLE (default: Q_BULK_SCHED_IDLE, on)",
        )

    def handle(self, *args, **options):
        if options["remove"]:
            try:
                removed = dataset.kept(options["remove"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            dataset.remove(removed)
            dataset.vacuum()
            self.stdout.write(f"Removed the rows of benchmark run {removed.run}.")
            return
        if options["messages"] < 1:
            raise CommandError("--messages must be at least 1")
        opts = Options(
            mode=options["mode"],
            messages=options["messages"],
            batch_size=options["batch_size"],
            rate=options["rate"],
            broadcast=options["broadcast"],
            concurrency=options["concurrency"],
            find_max_rate=options["find_max_rate"],
            step_seconds=options["step_seconds"],
            step_min_messages=options["step_min_messages"],
            max_rate=options["max_rate"],
            p99_limit_ms=options["p99_limit_ms"],
            url=options["url"],
            smtp=options["smtp"],
            no_workers=options["no_workers"],
            keep=options["keep"],
            sink=options["sink"],
            auth=options["auth"],
            lane=options["lane"],
            warmup=options["warmup"],
            ceiling_messages=options["ceiling_messages"],
            topology=Topology(
                web_workers=options["web_workers"],
                web_threads=options["web_threads"],
                transactional_workers=options["workers"],
                bulk_workers=options["bulk_workers"],
                bulk_nice=(
                    settings.Q_BULK_NICE if options["bulk_nice"] is None else options["bulk_nice"]
                ),
                bulk_sched_idle=(
                    settings.Q_BULK_SCHED_IDLE
                    if options["bulk_sched_idle"] is None
                    else options["bulk_sched_idle"]
                ),
            ),
        )

        def progress(line: str) -> None:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

        try:
            result = run(opts, progress)
        except (RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, separators=(", ", ": ")))
