"""Is this installation ready to take and send time-critical mail? (/readyz, `manage.py status`)

Each check names one part: the database, each lane's broker, each lane's workers (their
heartbeat, delivery.heartbeats) and the transactional lane's backlog (its oldest due message
against TRIGGERED_EMAIL_READY_MAX_QUEUED_AGE_SECONDS). Every check runs even when an earlier one
failed, so the answer names every failing part at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

TIME_CRITICAL_LANE = "transactional"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Readiness:
    checks: list[Check]
    lanes: dict[str, dict[str, float]]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def as_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "failing": self.failing,
            "checks": {
                check.name: {"ok": check.ok, "detail": check.detail, **check.facts}
                for check in self.checks
            },
            "lanes": self.lanes,
        }


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        connection.close_if_unusable_or_obsolete()
        return Check("database", False, f"unreachable: {type(exc).__name__}")
    return Check("database", True, "reachable")


def _broker(lane: str) -> Check:
    from delivery.queue import forget_broker, lane_broker

    try:
        lane_broker(lane).ping()
    except Exception as exc:
        forget_broker(lane)
        return Check(f"broker:{lane}", False, f"unreachable: {type(exc).__name__}")
    return Check(f"broker:{lane}", True, "reachable")


def readiness() -> Readiness:
    from delivery import heartbeats, queue_depth
    from delivery.queue import LANES

    now = timezone.now()
    database = _database()
    checks = [database, *(_broker(lane) for lane in LANES)]
    if not database.ok:  # lanes and backlog live in the database: unknown, so not ready
        checks += [Check(f"lane:{lane}", False, "unknown: database unreachable") for lane in LANES]
        checks.append(Check("backlog", False, "unknown: database unreachable"))
        return Readiness(checks, {})
    silence = settings.TRIGGERED_EMAIL_LANE_SILENT_SECONDS
    seen = heartbeats.last_seen()
    for lane in LANES:
        at = seen.get(lane)
        if at is None:
            checks.append(Check(f"lane:{lane}", False, "never seen working"))
            continue
        age = (now - at).total_seconds()
        facts = {"seen_seconds_ago": round(age, 1)}
        if age > silence:
            checks.append(Check(f"lane:{lane}", False, f"silent for {age:.0f} s", facts))
        else:
            checks.append(Check(f"lane:{lane}", True, "working", facts))
    lanes = queue_depth.by_lane(queue_depth.waiting(now), LANES)
    oldest = lanes[TIME_CRITICAL_LANE]["oldest_due_age"]
    limit = settings.TRIGGERED_EMAIL_READY_MAX_QUEUED_AGE_SECONDS
    facts = {"oldest_due_seconds": round(oldest, 1), "limit_seconds": limit}
    if oldest > limit:
        detail = f"a {TIME_CRITICAL_LANE} message has waited {oldest:.0f} s (limit {limit} s)"
        checks.append(Check("backlog", False, detail, facts))
    else:
        checks.append(Check("backlog", True, f"oldest due {oldest:.0f} s", facts))
    return Readiness(checks, lanes)
