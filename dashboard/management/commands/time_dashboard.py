"""Time the dashboard's pages as an operator gets them: full Django request, view, template, DB."""

from __future__ import annotations

import statistics
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from django.test import Client

from delivery import rollups
from delivery.models import DeliveryEvent, Message, StreamHourStats


class Command(BaseCommand):
    help = (
        "Request the dashboard overview and the busiest stream's page for 24h, 7d and 30d, "
        "several times each, and print how long they took (after one warm-up request each)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=10)

    def handle(self, *args, **options):
        user, _ = get_user_model().objects.get_or_create(
            username="dashboard-timer", defaults={"is_staff": True}
        )
        host = next((h for h in settings.ALLOWED_HOSTS if h and h != "*"), "localhost")
        client = Client(HTTP_HOST=host)
        client.force_login(user)
        busiest = (
            StreamHourStats.objects.values("stream_id")
            .annotate(n=Sum("triggered"))
            .order_by("-n")
            .first()
        )
        if busiest is None:
            raise CommandError("No rollups: run generate_volume (or refresh_stats) first.")
        self.stdout.write(
            f"Data: {Message.objects.count():,} messages, "
            f"{DeliveryEvent.objects.count():,} events, "
            f"{StreamHourStats.objects.count():,} rollup rows; "
            f"busiest stream #{busiest['stream_id']} ({busiest['n']:,} messages)."
        )
        pages = []
        for key in ("24h", "7d", "30d"):
            pages.append((f"overview {key}", f"/dashboard/?range={key}"))
        for key in ("24h", "7d", "30d"):
            pages.append(
                (f"stream page {key}", f"/dashboard/streams/{busiest['stream_id']}/?range={key}")
            )
        pages.append(
            ("stream CSV 30d", f"/dashboard/streams/{busiest['stream_id']}/series.csv?range=30d")
        )
        for name, url in pages:
            timings = []
            for attempt in range(options["repeat"] + 1):
                started = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")
                if attempt:  # the first request warms caches and connections
                    timings.append(elapsed)
            self.stdout.write(
                f"{name:<18} median {statistics.median(timings):7.1f} ms   "
                f"max {max(timings):7.1f} ms   ({len(timings)} requests)"
            )
        started = time.perf_counter()
        result = rollups.refresh()
        self.stdout.write(
            f"rollup refresh (nothing new): {(time.perf_counter() - started) * 1000:.1f} ms, "
            f"{result['hours']} hour(s) recomputed"
        )
