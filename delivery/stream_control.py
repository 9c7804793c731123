"""Launching, pausing and resuming mail streams, and what that means for their messages.

Every change is a conditional UPDATE on the row's current status, so two people (or a person
and a command) acting at once never apply the same change twice, and every message is released
or resent at most once. Work for the lanes is enqueued only after commit.

Pausing stops a stream's messages from going out: messages still waiting in the lane are held,
and triggers that arrive while it is paused are held or discarded according to the stream's pause
policy (delivery.outbox). Resuming releases the held ones — except those held longer than
TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS, which are recorded as expired — with the version each was
triggered with, or, if the resumer chooses, with the version current at the resume.

Each step leaves a DeliveryEvent (held, released, discarded) written in the transaction that
changes the message's status, so the timeline never disagrees with the row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from delivery.models import DeliveryEvent, Message, Suppression
from delivery.queue import enqueue_on_commit
from streams.models import MailStream, StreamVersion

# Rows released per transaction: short transactions, and the lanes start sending the first
# chunk while later ones are still being released.
RELEASE_CHUNK = 1000


class HeldVersion(models.TextChoices):
    """Which version held messages are sent with when their stream resumes."""

    TRIGGERED = "triggered", "the version each message was triggered with"
    CURRENT = "current", "the stream's current version"


class StreamStateError(Exception):
    """The stream is not in a state that allows the change; the message says what to do."""


@dataclass(frozen=True)
class PauseResult:
    stream: MailStream
    held_from_lane: int
    policy_changed: bool = False


@dataclass(frozen=True)
class ReleaseResult:
    released: int
    expired: int


@dataclass(frozen=True)
class ResendResult:
    resent: int
    suppressed: int
    not_failed: int
    tests: int = 0


def _refresh(stream: MailStream) -> MailStream:
    stream.refresh_from_db()
    return stream


def launch_stream(stream: MailStream) -> MailStream:
    """draft → live. Refused while the stream cannot send (sender domain, no version, no event)."""
    stream = _refresh(stream)
    if stream.status != MailStream.Status.DRAFT:
        raise StreamStateError(
            f"{stream} is {stream.status}, not a draft: only drafts are launched"
            + (" (resume a paused stream instead)." if stream.status == "paused" else ".")
        )
    problems = stream.launch_problems()
    if problems:
        raise StreamStateError(f"{stream} cannot go live: " + " ".join(problems))
    updated = MailStream.objects.filter(pk=stream.pk, status=MailStream.Status.DRAFT).update(
        status=MailStream.Status.LIVE, updated_at=timezone.now()
    )
    if not updated:
        raise StreamStateError(f"{stream} changed meanwhile; reload and try again.")
    return _refresh(stream)


def pause_stream(stream: MailStream, policy: str | None = None) -> PauseResult:
    """live → paused, optionally with a new pause policy (changing it on a paused stream too).

    Messages of the stream still waiting in the lane (queued, not being sent) are held as well,
    so nothing more goes out after the pause; resume releases them like the others.
    """
    if policy is not None and policy not in MailStream.PausePolicy.values:
        choices = ", ".join(MailStream.PausePolicy.values)
        raise StreamStateError(f"Unknown pause policy {policy!r}: use one of {choices}.")
    stream = _refresh(stream)
    now = timezone.now()
    changes = {"status": MailStream.Status.PAUSED, "updated_at": now}
    if policy:
        changes["pause_policy"] = policy
    with transaction.atomic():
        paused = MailStream.objects.filter(pk=stream.pk, status=MailStream.Status.LIVE).update(
            **changes
        )
        if not paused:
            current = MailStream.objects.get(pk=stream.pk)
            if current.status != MailStream.Status.PAUSED:
                raise StreamStateError(
                    f"{stream} is {current.status}: only live streams can be paused."
                )
            if policy and policy != current.pause_policy:
                MailStream.objects.filter(pk=stream.pk).update(pause_policy=policy, updated_at=now)
                return PauseResult(_refresh(stream), 0, policy_changed=True)
            raise StreamStateError(f"{stream} is paused already.")
        waiting = list(
            Message.objects.filter(stream=stream, status=Message.Status.QUEUED)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        held = Message.objects.filter(pk__in=waiting, status=Message.Status.QUEUED).update(
            status=Message.Status.HELD, queued_at=None
        )
        record_steps(
            waiting, DeliveryEvent.Type.HELD, "its stream was paused before it was sent", now
        )
    return PauseResult(_refresh(stream), held)


def record_steps(
    message_ids: list[int], step: str, description: str, when: datetime | None = None
) -> None:
    """One outbox event per message: a step of its own, not something a provider reported.

    Callers run it inside the transaction that changed the messages' status.
    """
    when = when or timezone.now()
    DeliveryEvent.objects.bulk_create(
        DeliveryEvent(
            message_id=pk,
            event_type=step,
            occurred_at=when,
            received_at=when,
            description=description,
            provider="outbox",
        )
        for pk in message_ids
    )


@dataclass(frozen=True)
class HeldSummary:
    """What a pause or a resume of a stream would do, for the person about to confirm it."""

    waiting: int  # queued in the lane now: a pause holds them
    held: int
    expiring: int  # held longer than the maximum age: a resume records them as expired
    older_version: int  # held with another version than the current one
    triggered_versions: tuple[int, ...]  # version numbers the held messages were triggered with


def summarise_held(stream: MailStream) -> HeldSummary:
    messages = Message.objects.filter(stream=stream)
    held = messages.filter(status=Message.Status.HELD)
    return HeldSummary(
        waiting=messages.filter(status=Message.Status.QUEUED).count(),
        held=held.count(),
        expiring=held.filter(received_at__lt=timezone.now() - held_max_age()).count(),
        older_version=held_with_older_version(stream),
        triggered_versions=tuple(
            held.order_by("version__number").values_list("version__number", flat=True).distinct()
        ),
    )


def held_with_older_version(stream: MailStream) -> int:
    """Held messages of `stream` triggered with another version than its current one: a new
    version was published while it was paused, and resuming must choose which one they get."""
    if stream.current_version_id is None:
        return 0
    return (
        Message.objects.filter(stream=stream, status=Message.Status.HELD)
        .exclude(version_id=stream.current_version_id)
        .count()
    )


def resume_stream(
    stream: MailStream,
    max_age: timedelta | None = None,
    held_version: str = HeldVersion.TRIGGERED,
) -> ReleaseResult:
    """paused → live; release its held messages to their lanes (too old ones expire).

    `held_version` "current" sends them with the stream's current version instead of the one
    they were triggered with (a fix published during the pause reaches them too).
    """
    if held_version not in HeldVersion.values:
        choices = ", ".join(HeldVersion.values)
        raise StreamStateError(f"Unknown held version {held_version!r}: use one of {choices}.")
    stream = _refresh(stream)
    if stream.status != MailStream.Status.PAUSED:
        raise StreamStateError(f"{stream} is {stream.status}, not paused: nothing to resume.")
    problems = stream.launch_problems()
    if problems:
        raise StreamStateError(f"{stream} cannot go live again: " + " ".join(problems))
    updated = MailStream.objects.filter(pk=stream.pk, status=MailStream.Status.PAUSED).update(
        status=MailStream.Status.LIVE, updated_at=timezone.now()
    )
    if not updated:
        raise StreamStateError(f"{stream} changed meanwhile; reload and try again.")
    _refresh(stream)
    version = stream.current_version if held_version == HeldVersion.CURRENT else None
    return release_held(Message.objects.filter(stream=stream), max_age=max_age, version=version)


def held_max_age() -> timedelta:
    return timedelta(hours=settings.TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS)


def release_held(
    messages: QuerySet[Message],
    *,
    max_age: timedelta | None = None,
    expire: bool = True,
    version: StreamVersion | None = None,
) -> ReleaseResult:
    """Hand held messages among `messages` (a queryset) to their lanes, each exactly once.

    With `expire`, held messages received longer than `max_age` ago (default
    TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS) are recorded as skipped/expired instead. With a
    `version`, the released messages are sent with it instead of the one they were triggered
    with.
    """
    now = timezone.now()
    held = messages.filter(status=Message.Status.HELD)
    expired = 0
    if expire:
        age = max_age if max_age is not None else held_max_age()
        reason = f"held longer than {_hours(age)} while its stream was paused"
        with transaction.atomic():
            stale = list(
                held.filter(received_at__lt=now - age)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            expired = Message.objects.filter(pk__in=stale, status=Message.Status.HELD).update(
                status=Message.Status.SKIPPED,
                skip_reason=Message.SkipReason.EXPIRED,
                last_error=reason,
            )
            # Every state change leaves an event: the timeline shows it and the dashboard's
            # rollups recompute the hour these messages were triggered in.
            DeliveryEvent.objects.bulk_create(
                DeliveryEvent(
                    message_id=pk,
                    event_type=DeliveryEvent.Type.REJECTED,
                    occurred_at=now,
                    description=f"expired: {reason}",
                    provider="outbox",
                )
                for pk in stale
            )
    released = 0
    while True:
        with transaction.atomic():
            # Locked and skipped on PostgreSQL: a concurrent release takes other rows.
            chunk = list(
                held.select_for_update(skip_locked=True)
                .order_by("received_at", "pk")
                .values_list("pk", "lane", "version__number")[:RELEASE_CHUNK]
            )
            if not chunk:
                break
            ids = [pk for pk, _, _ in chunk]
            changes: dict[str, object] = {
                "status": Message.Status.QUEUED,
                "next_attempt_at": now,
                "queued_at": now,
            }
            if version is not None:
                changes["version"] = version
            count = Message.objects.filter(pk__in=ids, status=Message.Status.HELD).update(**changes)
            _record_releases(chunk, version, now)
            by_lane: dict[str, list[int]] = defaultdict(list)
            for pk, lane, _ in chunk:
                by_lane[lane].append(pk)
            enqueue_on_commit(by_lane)
            released += count
    return ReleaseResult(released=released, expired=expired)


def _record_releases(
    chunk: list[tuple[int, str, int]], version: StreamVersion | None, when: datetime
) -> None:
    by_description: dict[str, list[int]] = defaultdict(list)
    for pk, _, number in chunk:
        if version is None or version.number == number:
            description = f"goes out with v{number}, the version it was triggered with"
        else:
            description = f"goes out with v{version.number} (triggered with v{number})"
        by_description[description].append(pk)
    for description, ids in by_description.items():
        record_steps(ids, DeliveryEvent.Type.RELEASED, description, when)


def _hours(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:g} h"


def release_stranded_held() -> ReleaseResult:
    """Release held messages of streams that are live (run by the periodic sweep).

    A trigger that read its stream as paused a moment before a resume committed writes its
    message as held after the resume has released the others; without this it would wait for
    the next pause and resume.
    """
    return release_held(Message.objects.filter(stream__status=MailStream.Status.LIVE))


def resend_failed(messages: QuerySet[Message]) -> ResendResult:
    """Queue failed messages among `messages` (a queryset) again with a fresh set of attempts.

    Recipients suppressed meanwhile (hard bounce, complaint) are not resent, nor are test sends:
    a test may have rendered a draft, and lanes only ever render published versions.
    """
    now = timezone.now()
    candidates = list(messages.values_list("pk", "status", "recipient", "stream_id", "is_test"))
    failed = [
        (pk, email, stream_id)
        for pk, status, email, stream_id, is_test in candidates
        if status == Message.Status.FAILED and not is_test
    ]
    tests = sum(1 for *_, is_test in candidates if is_test)
    suppressed_pairs = set(
        Suppression.objects.filter(email__in={email.lower() for _, email, _ in failed})
        .filter(Q(stream__isnull=True) | Q(stream_id__in={s for _, _, s in failed}))
        .values_list("email", "stream_id")
    )

    def suppressed(email: str, stream_id: int) -> bool:
        email = email.lower()
        return (email, None) in suppressed_pairs or (email, stream_id) in suppressed_pairs

    to_resend = [pk for pk, email, stream_id in failed if not suppressed(email, stream_id)]
    by_lane: dict[str, list[int]] = defaultdict(list)
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk__in=to_resend, status=Message.Status.FAILED)
            .values_list("pk", "lane")
        )
        ids = [pk for pk, _ in rows]
        resent = Message.objects.filter(pk__in=ids, status=Message.Status.FAILED).update(
            status=Message.Status.QUEUED,
            attempts=0,
            next_attempt_at=now,
            queued_at=now,
            last_error="",
        )
        for pk, lane in rows:
            by_lane[lane].append(pk)
        enqueue_on_commit(by_lane)
    return ResendResult(
        resent=resent,
        suppressed=len(failed) - len(to_resend),
        not_failed=len(candidates) - len(failed) - tests,
        tests=tests,
    )
