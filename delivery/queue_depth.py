"""What waits in the outbox, per lane and stream: read by /readyz, /metrics and `manage.py status`.

Only queued and held rows are read, through the partial indexes that hold just those rows
(message_queued_due_idx, message_held_stream_idx), so the cost follows what waits, not the size
of the message table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from delivery.models import Message


@dataclass(frozen=True)
class StreamQueue:
    lane: str
    stream_id: int
    queued: int
    # Queued messages whose (re)try time has come: the ones a lane should be sending now.
    due: int
    # The (re)try time of the longest-waiting due message; None when nothing is due.
    oldest_due_at: datetime | None
    held: int

    def oldest_due_age(self, now: datetime) -> float:
        """Seconds the longest-waiting due message has waited (0 when none is due)."""
        return max(0.0, (now - self.oldest_due_at).total_seconds()) if self.oldest_due_at else 0.0


def waiting(now: datetime | None = None) -> list[StreamQueue]:
    """Queued and held messages per lane and stream (test sends included: they wait too)."""
    now = now or timezone.now()
    due = Q(status=Message.Status.QUEUED, next_attempt_at__lte=now)
    rows = (
        Message.objects.filter(status__in=[Message.Status.QUEUED, Message.Status.HELD])
        .order_by()
        .values("lane", "stream_id")
        .annotate(
            queued=Count("id", filter=Q(status=Message.Status.QUEUED)),
            due=Count("id", filter=due),
            oldest_due_at=Min("next_attempt_at", filter=due),
            held=Count("id", filter=Q(status=Message.Status.HELD)),
        )
    )
    return [StreamQueue(**row) for row in rows]


def by_lane(queues: list[StreamQueue], lanes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Totals per lane: queued, due, held and the oldest due message's age in seconds."""
    now = timezone.now()
    totals = {lane: {"queued": 0, "due": 0, "held": 0, "oldest_due_age": 0.0} for lane in lanes}
    for queue in queues:
        lane = totals.setdefault(
            queue.lane, {"queued": 0, "due": 0, "held": 0, "oldest_due_age": 0.0}
        )
        lane["queued"] += queue.queued
        lane["due"] += queue.due
        lane["held"] += queue.held
        lane["oldest_due_age"] = max(lane["oldest_due_age"], queue.oldest_due_age(now))
    return totals
