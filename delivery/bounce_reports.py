"""Recording delivery status notifications that came back to a message's VERP return path.

The message is the one the signed return path names (delivery.return_paths), never one named
inside the notification: its body is written by whoever sends it. What the notification says
is recorded like every other event (delivery.tracking.record_event): `bounced` (hard, soft or
block; a hard bounce suppresses the address), `deferred`, or `delivered`.

What is not recorded is logged and dropped, never retried: a return path that does not verify
(forged, altered or unsigned), one naming a message that no longer exists (purged by
retention), a mail that is not a DSN (an auto-reply sent to the return path). The listener
still accepts such mail (250): refusing it would only make the reporting MTA keep or bounce
it, and a DSN is never answered with another one.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from delivery import dsn
from delivery.bounce_codes import kind_from_enhanced, kind_from_text
from delivery.models import DeliveryEvent, Message
from delivery.return_paths import verified_message_pk
from delivery.tracking import TrackedEvent, record_event

logger = logging.getLogger(__name__)

Type = DeliveryEvent.Type
BounceKind = Message.BounceKind
PROVIDER = "dsn"

# RFC 3464 actions → our events. "relayed" and "expanded": handed on to a system that sends
# no further reports; as far as anyone will tell us, delivered.
_EVENT_FOR_ACTION = {
    "failed": Type.BOUNCED,
    "delayed": Type.DEFERRED,
    "delivered": Type.DELIVERED,
    "relayed": Type.DELIVERED,
    "expanded": Type.DELIVERED,
}


@dataclass
class Intake:
    """What became of one received mail: events recorded, and why the rest was ignored."""

    recorded: int = 0
    duplicates: int = 0
    ignored: str = ""


def _bounce_kind(report: dsn.RecipientReport) -> str:
    # The Status field decides; a failure without a readable one is taken as hard (RFC 3464
    # makes Status mandatory, and "failed" means the MTA gave up).
    return kind_from_enhanced(report.status) or kind_from_text(report.diagnostic) or BounceKind.HARD


def _event(
    report: dsn.RecipientReport, index: int, digest: str, received: datetime
) -> TrackedEvent | None:
    event_type = _EVENT_FOR_ACTION.get(report.action)
    if event_type is None:
        return None
    occurred_at = report.last_attempt or received
    if occurred_at > received:
        occurred_at = received  # a clock in the future must not reorder the timeline
    words = f"{report.status} {report.diagnostic}".strip()
    return TrackedEvent(
        event_type=event_type,
        occurred_at=occurred_at,
        provider=PROVIDER,
        # The same notification delivered twice (our 250 lost on the way) is one event.
        provider_event_id=f"sha256:{digest}:{index}",
        bounce_kind=_bounce_kind(report) if event_type == Type.BOUNCED else "",
        description=f"DSN {report.action} for {report.final_recipient}"
        + (f" from {report.remote_mta}" if report.remote_mta else ""),
        mta_response=words,
        raw={
            "final_recipient": report.final_recipient,
            "original_recipient": report.original_recipient,
            "action": report.action,
            "status": report.status,
            "diagnostic_code": report.diagnostic,
            "remote_mta": report.remote_mta,
        },
    )


def record_notification(return_paths: list[str], raw: bytes) -> Intake:
    """Record the DSN `raw`, received for the envelope recipients `return_paths`."""
    messages = []
    for address in return_paths:
        pk = verified_message_pk(address)
        if pk is None:
            logger.warning("Bounce for %r ignored: the return path does not verify", address[:300])
            continue
        message = Message.objects.filter(pk=pk).first()
        if message is None:
            logger.info("Bounce for message #%s ignored: no such message (purged?)", pk)
            continue
        messages.append(message)
    if not messages:
        return Intake(ignored="no verified return path of a known message")
    report = dsn.parse(raw)
    if report is None:
        logger.info("Mail to the return path of message #%s is not a DSN: ignored", messages[0].pk)
        return Intake(ignored="not a delivery status notification")
    digest = hashlib.sha256(raw).hexdigest()
    received = timezone.now()
    intake = Intake()
    for message in messages:
        for index, recipient_report in enumerate(report.recipients):
            event = _event(recipient_report, index, f"{digest}:{message.pk}", received)
            if event is None:
                continue
            if record_event(message, event) is None:
                intake.duplicates += 1
            else:
                intake.recorded += 1
    return intake
