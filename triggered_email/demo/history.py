"""Traffic history for the demo: a few thousand messages over the last 30 days, with what
became of them (sent, delivered, bounced, opened, clicked, complained, failed, skipped) and
their delivery events, so the dashboard and the message log have something to show.

Written with bulk_create (PostgreSQL and SQLite alike, a few seconds), then the rollups of
those days are rebuilt. Deterministic (a seeded random generator) and written once: messages
carry the client trigger id `demo-history-<n>`, and a second run finds them and adds nothing.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from delivery import rollups
from delivery.models import DeliveryEvent, Message
from streams.models import MailStream

DAYS = 30
MARK = "demo-history-"
FIRST_NAMES = ["Jane", "Lukas", "Amira", "Chen", "Sofia", "Mateo", "Aiko", "Noah", "Lea", "Omar"]
LAST_NAMES = ["Doe", "Schmidt", "Haddad", "Wang", "Rossi", "Garcia", "Sato", "Meyer", "Kaya"]
PRODUCTS = [
    ("Espresso beans, 1 kg", "24.90"),
    ("Milk frother", "39.00"),
    ("Ceramic cup, set of 2", "18.50"),
    ("Descaler", "7.95"),
    ("Grinder burr set", "29.00"),
]


@dataclass(frozen=True)
class Traffic:
    stream: MailStream
    per_day: int  # messages on an average day
    data: str  # "order" or "reset"


def _data(kind: str, n: int, rnd: random.Random, at: datetime) -> dict:
    if kind == "reset":
        return {
            "account": f"user{n}",
            "reset_url": f"https://shop.example.com/reset/{uuid.UUID(int=rnd.getrandbits(128)).hex}",
            "valid_minutes": 30,
        }
    items = [
        {"name": name, "quantity": rnd.randint(1, 3), "price": price}
        for name, price in rnd.sample(PRODUCTS, rnd.randint(1, 3))
    ]
    total = sum(float(i["price"]) * i["quantity"] for i in items)
    order_id = str(20000 + n)
    return {
        "order_id": order_id,
        "order_date": f"{timezone.localtime(at):%Y-%m-%d}",
        "currency": "EUR",
        "items": items,
        "total": f"{total:.2f}",
        "order_url": f"https://shop.example.com/orders/{order_id}",
    }


def _outcome(message: Message, rnd: random.Random, now: datetime) -> list[DeliveryEvent]:
    """Decide what became of a message; set its fields and return its events."""
    events: list[DeliveryEvent] = []

    def happened(kind: str, at: datetime, **fields) -> datetime:
        at = min(now, at)
        events.append(
            DeliveryEvent(
                message=message,
                event_type=kind,
                occurred_at=at,
                received_at=at,
                provider="smtp" if kind in ("sent", "failed") else "postmark",
                **fields,
            )
        )
        return at

    received = message.received_at
    roll = rnd.random()
    if roll < 0.015:
        message.status, message.skip_reason = Message.Status.SKIPPED, Message.SkipReason.SUPPRESSED
        return events
    if roll < 0.025:
        message.status, message.attempts = Message.Status.FAILED, 1
        message.last_error = "550 5.1.1 recipient address rejected: user unknown"
        happened("failed", received + timedelta(seconds=2), mta_response=message.last_error)
        return events
    latency = min(600.0, rnd.lognormvariate(math.log(1.2), 0.8))
    sent = happened("sent", received + timedelta(seconds=latency))
    message.status, message.attempts = Message.Status.SENT, 1
    message.queued_at, message.sent_at = received, sent
    arrived = sent + timedelta(seconds=rnd.uniform(1, 20))
    outcome = rnd.random()
    if outcome < 0.03:
        kind, response = rnd.choice(
            [("hard", "550 5.1.1 user unknown"), ("soft", "452 4.2.2 mailbox full")]
        )
        message.bounce_kind, message.outcome = kind, Message.Outcome.BOUNCED
        message.outcome_at = happened("bounced", arrived, bounce_kind=kind, mta_response=response)
        return events
    message.delivered_at = happened("delivered", arrived, mta_response="250 2.0.0 OK")
    message.outcome, message.outcome_at = Message.Outcome.DELIVERED, message.delivered_at
    opened = arrived + timedelta(minutes=rnd.expovariate(1 / 60))
    if rnd.random() < 0.5 and opened < now:
        message.opened_at = happened("opened", opened, user_agent="Mozilla/5.0")
        message.outcome, message.outcome_at = Message.Outcome.OPENED, message.opened_at
        if rnd.random() < 0.3:
            clicked = opened + timedelta(seconds=rnd.uniform(5, 120))
            url = message.data.get("order_url") or message.data.get("reset_url", "")
            message.clicked_at = happened("clicked", clicked, url=url, user_agent="Mozilla/5.0")
            message.outcome, message.outcome_at = Message.Outcome.CLICKED, message.clicked_at
        elif rnd.random() < 0.004:
            message.complained_at = happened("complained", opened + timedelta(minutes=5))
            message.outcome, message.outcome_at = Message.Outcome.COMPLAINED, message.complained_at
    return events


def generate(traffic: list[Traffic], seed: int = 23) -> int:
    """Write the history once; returns the number of messages written (0 if it exists)."""
    if Message.objects.filter(client_trigger_id__startswith=MARK).exists():
        return 0
    rnd = random.Random(seed)
    now = timezone.now()
    # Inside the dashboard's "30d" range, which starts on a whole hour.
    start = rollups.hour_of(now) + rollups.HOUR - timedelta(days=DAYS)
    seconds = (now - start).total_seconds()
    messages: list[Message] = []
    for entry in traffic:
        # Message-IDs on the stream's sender domain, as real ones are.
        domain = entry.stream.sender_email.rpartition("@")[2]
        count = entry.per_day * DAYS
        for _ in range(count):
            # More traffic by day than by night, as real shops see.
            while True:
                at = start + timedelta(seconds=rnd.uniform(0, seconds))
                hour = timezone.localtime(at).hour
                if rnd.random() < 0.3 + 0.7 * math.sin(math.pi * hour / 24) ** 2:
                    break
            n = len(messages) + 1
            first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
            message_uuid = uuid.UUID(int=rnd.getrandbits(128))
            messages.append(
                Message(
                    stream=entry.stream,
                    version_id=entry.stream.current_version_id,
                    recipient=f"{first}.{last}{n}@example.org".lower(),
                    data=_data(entry.data, n, rnd, at),
                    lane=entry.stream.lane,
                    uuid=message_uuid,
                    message_id=f"<{message_uuid.hex}@{domain}>",
                    client_trigger_id=f"{MARK}{n}",
                    received_at=at,
                )
            )
    messages.sort(key=lambda message: message.received_at)  # ids in time order, as real ones
    events = [event for message in messages for event in _outcome(message, rnd, now)]
    with transaction.atomic():
        Message.objects.bulk_create(messages, batch_size=500)
        for event in events:
            event.message_id = event.message.pk
        DeliveryEvent.objects.bulk_create(events, batch_size=1000)
    rollups.rebuild(DAYS + 1)
    return len(messages)
