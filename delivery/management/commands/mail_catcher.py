import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from delivery import mail_catcher


class Command(BaseCommand):
    help = (
        "Run a local SMTP server that stores every accepted message as an .eml file "
        "(the laptop stand-in for the dedicated MTA)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1025)
        parser.add_argument(
            "--dir", default=str(settings.VAR_DIR / "outbox"), help="where .eml files go"
        )

    def handle(self, *args, **options):
        directory = Path(options["dir"])
        try:
            controller = mail_catcher.start(directory, options["host"], options["port"])
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc}. "
                "Is another mail catcher running? Pick another port with --port."
            ) from exc
        self.stdout.write(
            f"Mail catcher on {options['host']}:{options['port']}, storing messages in {directory}"
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        controller.stop()
