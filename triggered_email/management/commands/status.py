"""Print what /readyz answers, for a person at a terminal, with the queue depth per lane."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from triggered_email import health


class Command(BaseCommand):
    help = (
        "Is the installation ready? Database, brokers, each lane's workers and the "
        "transactional backlog (as /readyz), and what waits in each lane. Exits 1 when not ready."
    )

    def handle(self, *args, **options):
        result = health.readiness()
        for check in result.checks:
            mark = "ok  " if check.ok else "FAIL"
            self.stdout.write(f"{mark} {check.name:<24} {check.detail}")
        if result.lanes:
            self.stdout.write("")
            self.stdout.write("Queue per lane:")
            for lane, figures in result.lanes.items():
                self.stdout.write(
                    f"  {lane:<14} queued {figures['queued']:,} (due {figures['due']:,}), "
                    f"held {figures['held']:,}, oldest due waited {figures['oldest_due_age']:.0f} s"
                )
        self.stdout.write("")
        if result.ready:
            self.stdout.write(self.style.SUCCESS("READY"))
        else:
            self.stdout.write(self.style.ERROR(f"NOT READY: {', '.join(result.failing)}"))
            raise CommandError("not ready", returncode=1)
