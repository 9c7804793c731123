import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from delivery.bounce_listener import BounceListener


class Command(BaseCommand):
    help = (
        "Run the bounce listener: an SMTP server that takes in delivery status notifications "
        "sent to messages' VERP return paths (bounces+…@domain) and records them "
        "(docs/deliverability.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=2525, help="port to listen on")

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        controller = BounceListener(host, port)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write(f"Bounce listener on {host}:{port}", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        controller.stop()
