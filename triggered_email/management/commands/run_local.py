import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from triggered_email import demo


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None


class Command(BaseCommand):
    help = (
        "Run everything on this machine: the web server, the django-q2 lanes (transactional, "
        "bulk, webhooks) and the local mail "
        "catcher (the dedicated MTA stand-in). Seeds the demo first. Ctrl-C stops all of it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--smtp-port", type=int, default=settings.TRIGGERED_EMAIL_SMTP["port"])
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, **options):
        setup = demo.seed()
        host, port = options["host"], options["port"]
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        base_url = f"http://{host}:{port}"
        # Tracked links and the open pixel point at this server (SITE_URL), unless the
        # environment names another public URL for it.
        child_env = {
            "TRIGGERED_EMAIL_SMTP_PORT": str(options["smtp_port"]),
            "SITE_URL": os.environ.get("SITE_URL") or base_url,
        }
        children = [
            Child("mail", [python, manage, "mail_catcher", "--port", str(options["smtp_port"])]),
            Child(
                "web",
                [
                    python,
                    "-m",
                    "gunicorn",
                    "triggered_email.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    str(options["web_workers"]),
                    "--access-logfile",
                    "-",
                    # One fixed control-socket path per user: a second server would take it over.
                    "--no-control-socket",
                ],
                child_env,
            ),
            Child(
                "transactional",
                [python, manage, "qcluster"],
                {"Q_CLUSTER_NAME": "transactional", **child_env},
            ),
            Child("bulk", [python, manage, "qcluster"], {"Q_CLUSTER_NAME": "bulk", **child_env}),
            # Status webhooks to client systems: a lane of their own (status_webhooks.lane).
            Child(
                "webhooks",
                [python, manage, "qcluster"],
                {"Q_CLUSTER_NAME": "webhooks", **child_env},
            ),
        ]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for child in children:
                # Own process group: Ctrl-C reaches only this supervisor, which then stops each
                # child in order and waits for it, instead of everything dying at once.
                child.process = subprocess.Popen(  # noqa: S603 (our own argv)
                    child.argv, env={**os.environ, **child.env}, start_new_session=True
                )
            self._wait_for_web(base_url, children)
            self._banner(setup, base_url)
            while not stopping:
                for child in children:
                    if child.process.poll() is not None:
                        raise CommandError(
                            f"{child.name} stopped unexpectedly (exit code "
                            f"{child.process.returncode}); stopping everything. See its output "
                            "above."
                        )
                time.sleep(0.5)
        finally:
            self._stop_all(children)
        self.stdout.write("Stopped.")

    def _wait_for_web(self, base_url: str, children: list[Child]) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(c.process.poll() is not None for c in children):
                return  # the main loop reports which one
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"The web server did not answer on {base_url} within 30 s.")

    def _banner(self, setup: demo.DemoSetup, base_url: str) -> None:
        outbox = settings.VAR_DIR / "outbox"
        self.stdout.write(
            "\n"
            "Triggered Email is running.\n"
            f"  Admin:   {base_url}/admin/   login: {setup.admin_username} / "
            f"{setup.admin_password}\n"
            f"  Outbox:  {outbox}/  (every email the local MTA accepts, as .eml)\n"
            "  Trigger the demo stream:\n\n"
            f"{demo.curl_command(setup, base_url)}\n\n"
            "Press Ctrl-C to stop.\n"
        )
        self.stdout.flush()

    def _stop_all(self, children: list[Child]) -> None:
        running = [c for c in children if c.process and c.process.poll() is None]
        for child in reversed(running):
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in reversed(running):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{child.name} did not stop in time; killing it.")
                child.process.kill()
                child.process.wait()
