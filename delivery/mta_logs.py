"""Importing an MTA's delivery log: what the dedicated MTA did with each message after it
accepted it (`manage.py import_mta_log FILE --format postfix`).

Where the MTA writes logs rather than sending notifications back (or as well), its log says
for every recipient whether the receiving server took the message (`status=sent`: we record
`delivered`), asked to try later (`deferred`) or refused it (`bounced`, or `expired` when the
MTA gave up retrying: `bounced` with the kind the status code says). A hard bounce suppresses
the address, as every other source does (delivery.tracking.record_event).

Postfix logs a queue id per accepted message: the cleanup line ties it to the Message-ID we
set, the qmgr line to the envelope sender (our signed VERP return path), and the delivery
lines carry the outcome. A queue id is matched by Message-ID first, else by a return path
that verifies; lines of other mail are skipped. Each event's id is a hash of its log line,
so importing the same file twice (or overlapping excerpts) records every line once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from delivery.bounce_codes import kind_from_enhanced, kind_from_text
from delivery.models import DeliveryEvent, Message
from delivery.return_paths import verified_message_pk
from delivery.tracking import TrackedEvent, record_event

logger = logging.getLogger(__name__)

Type = DeliveryEvent.Type
BounceKind = Message.BounceKind
FORMATS = ("postfix",)
# Lines longer than this are not Postfix's (its own limit is a few kilobytes).
MAX_LINE = 8_192

_LINE = re.compile(
    r"^(?P<when>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?) \S+ postfix(?:-[\w.-]+)?/[\w/.-]+\[\d+\]: "
    r"(?P<queue_id>[0-9A-Za-z]{5,20}): (?P<rest>.*)$"
)
_MESSAGE_ID = re.compile(r"^message-id=(?P<id><[^<>\s]{1,250}>)")
_FROM = re.compile(r"^from=<(?P<address>[^<>\s]*)>")
_DELIVERY = re.compile(
    r"^to=<(?P<to>[^<>\s]*)>,.*? dsn=(?P<dsn>\d\.\d{1,3}\.\d{1,3}), "
    r"status=(?P<status>sent|deferred|bounced|expired)(?: \((?P<text>.*)\))?"
)
_EVENT_FOR_STATUS = {
    "sent": Type.DELIVERED,
    "deferred": Type.DEFERRED,
    "bounced": Type.BOUNCED,
    "expired": Type.BOUNCED,
}


@dataclass
class ImportResult:
    recorded: int = 0
    duplicates: int = 0  # lines imported before
    other_mail: int = 0  # delivery lines of queue ids that are not our messages
    lines: int = 0


def _syslog_time(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """A classic syslog time has no year: the most recent such moment not after tomorrow
    (a log read in January holds December's lines)."""
    try:
        if "T" in text:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=zone)
        parsed = datetime.strptime(f"{now.year} {' '.join(text.split())}", "%Y %b %d %H:%M:%S")
    except ValueError:
        return None
    moment = parsed.replace(tzinfo=zone)
    if moment > now + timedelta(days=1):
        try:
            moment = moment.replace(year=moment.year - 1)
        except ValueError:  # 29 February
            return None
    return moment


class _QueueIds:
    """Which of our messages each Postfix queue id carries (None: not ours, or not known)."""

    def __init__(self) -> None:
        self.message_ids: dict[str, str] = {}
        self.return_paths: dict[str, int] = {}
        self.found: dict[str, Message | None] = {}

    def note(self, queue_id: str, rest: str) -> None:
        if match := _MESSAGE_ID.match(rest):
            self.message_ids[queue_id] = match["id"]
            self.found.pop(queue_id, None)
        elif match := _FROM.match(rest):
            pk = verified_message_pk(match["address"]) if match["address"] else None
            if pk is not None:
                self.return_paths[queue_id] = pk
                self.found.pop(queue_id, None)

    def message(self, queue_id: str) -> Message | None:
        if queue_id not in self.found:
            message = None
            message_id = self.message_ids.get(queue_id)
            if message_id is not None:
                message = Message.objects.filter(message_id=message_id).first()
            pk = self.return_paths.get(queue_id)
            if message is None and pk is not None:
                message = Message.objects.filter(pk=pk).first()
            self.found[queue_id] = message
        return self.found[queue_id]


def _event(line: str, when: datetime, delivery: re.Match[str]) -> TrackedEvent:
    status, dsn, text = delivery["status"], delivery["dsn"], (delivery["text"] or "")
    event_type = _EVENT_FOR_STATUS[status]
    kind = ""
    if event_type == Type.BOUNCED:
        kind = kind_from_enhanced(dsn) or kind_from_text(text) or BounceKind.HARD
    return TrackedEvent(
        event_type=event_type,
        occurred_at=when,
        provider="postfix",
        provider_event_id="sha256:" + hashlib.sha256(line.encode("utf-8", "replace")).hexdigest(),
        bounce_kind=kind,
        description=f"Postfix status={status} for {delivery['to']}",
        mta_response=f"{dsn} {text}".strip()[:10_000],
        raw={"log_line": line[:MAX_LINE]},
    )


def import_postfix_log(lines: Iterable[str]) -> ImportResult:
    """Record the delivery lines of our messages in a Postfix log (any order of files is
    fine as long as a queue id's cleanup or qmgr line comes before its delivery lines)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    now = timezone.now().astimezone(zone)
    queue_ids = _QueueIds()
    result = ImportResult()
    for raw_line in lines:
        result.lines += 1
        line = raw_line.rstrip("\r\n").replace("\x00", "\ufffd")
        if len(line) > MAX_LINE:
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        queue_id, rest = match["queue_id"], match["rest"]
        delivery = _DELIVERY.match(rest)
        if delivery is None:
            queue_ids.note(queue_id, rest)
            continue
        message = queue_ids.message(queue_id)
        if message is None:
            result.other_mail += 1
            continue
        when = _syslog_time(match["when"], now, zone)
        if when is None:
            continue
        if record_event(message, _event(line, when, delivery)) is None:
            result.duplicates += 1
        else:
            result.recorded += 1
    return result
