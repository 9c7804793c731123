"""Fill the database with a realistic volume of messages and events, for measuring the dashboard.

On PostgreSQL rows are loaded with COPY (1,000,000 messages and 3,000,000 events in a few
minutes); on SQLite (and any other database) with bulk_create in batches, which is slower: give
it fewer (`--messages 50000 --events 150000`). Never run it against a database whose data you
want to keep: it adds streams and messages by the million.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from delivery import rollups
from delivery.models import DeliveryEvent, Message
from events.models import ExternalEvent
from streams.models import MailStream
from streams.versions import publish_version, save_draft
from triggered_email.database_dialect import has_postgresql_statements

# Rows per bulk_create (SQLite): SQLite allows 32,766 parameters, a message has about 35.
BATCH = 500
HTML = "<html><body><p>Hi {{ contact.first_name }}</p><a href='https://example.com/'>Go</a></body></html>"


class Command(BaseCommand):
    help = (
        "Generate realistic volume for measuring the dashboard: messages over the last N days "
        "across several streams, with send outcomes, deliveries, bounces, opens, clicks and "
        "complaints, then rebuild the rollups. COPY on PostgreSQL, bulk_create elsewhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--events", type=int, default=3_000_000)
        parser.add_argument("--streams", type=int, default=12)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=4)
        parser.add_argument(
            "--yes", action="store_true", help="confirm: this adds millions of rows"
        )

    def handle(self, *args, **options):
        if not options["yes"]:
            raise CommandError(
                "This adds millions of rows to the database "
                f"{connection.settings_dict['NAME']!r}; run again with --yes to confirm."
            )
        self.random = random.Random(options["seed"])
        started = time.monotonic()
        streams = self._streams(options["streams"])
        messages, events = self._load(streams, options)
        loaded = time.monotonic()
        self._analyze("delivery_message", "delivery_deliveryevent")
        result = rollups.rebuild(options["days"] + 1)
        self._analyze("delivery_streamhourstats")
        done = time.monotonic()
        self.stdout.write(
            f"Loaded {messages:,} messages and {events:,} events into {len(streams)} streams "
            f"in {loaded - started:.1f} s; rollups rebuilt ({result['rows']:,} rows) in "
            f"{done - loaded:.1f} s."
        )

    @staticmethod
    def _analyze(*tables: str) -> None:
        """Fresh planner statistics after a bulk load (SQLite plans well enough without)."""
        if not has_postgresql_statements(connection):
            return
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {table}")

    def _streams(self, count: int) -> list[MailStream]:
        event, _ = ExternalEvent.objects.get_or_create(name="volume-test")
        streams = []
        for index in range(count):
            stream, created = MailStream.objects.get_or_create(
                name=f"Volume stream {index + 1:02d}",
                defaults={
                    "event": event,
                    "sender_email": "volume@example.com",
                    "status": MailStream.Status.LIVE,
                    "lane": "bulk" if index % 4 == 3 else "transactional",
                },
            )
            if created or stream.current_version_id is None:
                publish_version(
                    save_draft(stream, subject="Volume {{ event.n }}", html_source=HTML, text="")
                )
                stream.refresh_from_db()
            streams.append(stream)
        return streams

    def _load(self, streams: list[MailStream], options: dict[str, Any]) -> tuple[int, int]:
        total, event_target, days = options["messages"], options["events"], options["days"]
        now = timezone.now()
        rnd = self.random
        # Busier streams and busier hours, as real traffic has.
        weights = [1 / (rank + 1) for rank in range(len(streams))]
        message_fields = [f for f in Message._meta.concrete_fields]
        event_fields = [f for f in DeliveryEvent._meta.concrete_fields if f.name != "id"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM delivery_message")
            next_id = cursor.fetchone()[0] + 1
        first_id = next_id
        planned_events: list[tuple] = []
        opened_ids: list[tuple[int, Any]] = []
        copy = has_postgresql_statements(connection)
        with transaction.atomic():
            with self._writer(Message, message_fields, copy) as write:
                for _ in range(total):
                    stream = rnd.choices(streams, weights)[0]
                    row, events = self._message(next_id, stream, now, days)
                    write(row)
                    planned_events.extend(events)
                    if row.get("opened_at"):
                        opened_ids.append((next_id, row["opened_at"]))
                    next_id += 1
            # Extra (repeat) opens until the event count is reached, as real mail gets.
            while len(planned_events) < event_target and opened_ids:
                message_id, opened_at = rnd.choice(opened_ids)
                later = min(now, opened_at + timedelta(hours=rnd.expovariate(1 / 12)))
                planned_events.append((message_id, "opened", later, "", "", "Mozilla/5.0", ""))
            planned_events = planned_events[:event_target]
            with self._writer(DeliveryEvent, event_fields, copy) as write:
                for message_id, kind, at, bounce, response, agent, url in planned_events:
                    write(
                        {
                            "message": message_id,
                            "event_type": kind,
                            "occurred_at": at,
                            "received_at": at,
                            "bounce_kind": bounce,
                            "mta_response": response,
                            "user_agent": agent,
                            "url": url,
                            "provider": "smtp"
                            if kind in ("sent", "deferred", "failed")
                            else "postmark",
                        }
                    )
            if copy:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT setval(pg_get_serial_sequence('delivery_message', 'id'), %s)",
                        [next_id - 1],
                    )
        self.stdout.write(f"Messages {first_id}…{next_id - 1}")
        return total, len(planned_events)

    def _message(self, pk: int, stream: MailStream, now, days: int) -> tuple[dict, list[tuple]]:
        rnd = self.random
        # More traffic in the day than at night.
        while True:
            received = now - timedelta(seconds=rnd.uniform(0, days * 86400))
            if rnd.random() < 0.35 + 0.65 * math.sin(math.pi * received.hour / 24) ** 2:
                break
        message_uuid = uuid.uuid4()
        row: dict[str, Any] = {
            "id": pk,
            "stream": stream.pk,
            "version": stream.current_version_id,
            "recipient": f"user{rnd.randrange(400_000)}@example.{rnd.choice(['org', 'net'])}",
            "lane": stream.lane,
            "uuid": message_uuid,
            "message_id": f"<{message_uuid.hex}@example.com>",
            "received_at": received,
            "updated_at": received,
            "data": {"n": pk},
        }
        events: list[tuple] = []
        roll = rnd.random()
        if roll < 0.02:
            row.update(status=Message.Status.SKIPPED, skip_reason=Message.SkipReason.SUPPRESSED)
            return row, events
        if roll < 0.035:
            failed_at = min(now, received + timedelta(seconds=rnd.uniform(1, 600)))
            row.update(
                status=Message.Status.FAILED,
                attempts=1,
                last_error="recipient refused by the MTA",
            )
            events.append((pk, "failed", failed_at, "", "550 5.1.1 user unknown", "", ""))
            return row, events
        # Trigger → sent latency: log-normal, median about 1.5 s, a long tail.
        latency = min(3600, rnd.lognormvariate(math.log(1.5), 0.9))
        sent = min(now, received + timedelta(seconds=latency))
        row.update(status=Message.Status.SENT, attempts=1, queued_at=received, sent_at=sent)
        events.append((pk, "sent", sent, "", "", "", ""))
        outcome = rnd.random()
        arrived = min(now, sent + timedelta(seconds=rnd.uniform(1, 30)))
        if outcome < 0.015:
            row.update(bounce_kind="hard", outcome="bounced", outcome_at=arrived)
            events.append((pk, "bounced", arrived, "hard", "550 5.1.1 user unknown", "", ""))
            return row, events
        if outcome < 0.023:
            row.update(bounce_kind="soft", outcome="bounced", outcome_at=arrived)
            events.append((pk, "bounced", arrived, "soft", "452 4.2.2 mailbox full", "", ""))
            return row, events
        if outcome < 0.027:
            row.update(bounce_kind="block", outcome="bounced", outcome_at=arrived)
            events.append((pk, "bounced", arrived, "block", "554 5.7.1 blocked", "", ""))
            return row, events
        row.update(delivered_at=arrived, outcome="delivered", outcome_at=arrived)
        events.append((pk, "delivered", arrived, "", "250 2.0.0 OK", "", ""))
        if rnd.random() < 0.45:
            # Nothing happens in the future: a recent message may not have been opened yet.
            opened = arrived + timedelta(minutes=rnd.expovariate(1 / 90))
            if opened > now:
                return row, events
            row.update(opened_at=opened, outcome="opened", outcome_at=opened)
            events.append((pk, "opened", opened, "", "", "Mozilla/5.0", ""))
            if rnd.random() < 0.25:
                clicked = min(now, opened + timedelta(seconds=rnd.uniform(5, 300)))
                row.update(clicked_at=clicked, outcome="clicked", outcome_at=clicked)
                events.append(
                    (pk, "clicked", clicked, "", "", "Mozilla/5.0", "https://example.com/")
                )
            if rnd.random() < 0.002:
                complained = min(now, opened + timedelta(minutes=rnd.uniform(1, 600)))
                row.update(complained_at=complained, outcome="complained", outcome_at=complained)
                events.append((pk, "complained", complained, "", "", "", ""))
        return row, events

    @contextmanager
    def _writer(self, model: type, fields: list, copy: bool) -> Iterator[Callable[[dict], None]]:
        """A function taking one row (a dict by field name) at a time: COPY on PostgreSQL,
        bulk_create in batches elsewhere."""
        if copy:
            columns = ", ".join(f.column for f in fields)
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as out,
            ):
                yield lambda row: out.write_row(
                    [self._db_value(f, row, jsonb=True) for f in fields]
                )
            return
        batch: list = []

        def write(row: dict) -> None:
            batch.append(model(**{f.attname: self._db_value(f, row) for f in fields}))
            if len(batch) >= BATCH:
                model.objects.bulk_create(batch)
                batch.clear()

        yield write
        if batch:
            model.objects.bulk_create(batch)

    @staticmethod
    def _db_value(field, row: dict[str, Any], jsonb: bool = False) -> Any:
        key = field.name
        if key in row:
            value = row[key]
        elif field.null:
            value = None
        else:
            value = field.get_default()
        if jsonb and isinstance(value, dict | list):
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return value
