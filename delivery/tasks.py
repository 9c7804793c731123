"""django-q2 tasks of the delivery lanes. Every task is idempotent: the rows decide."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, prefetch_related_objects
from django.utils import timezone

from delivery import handover
from delivery.claim_rows import CONTACT_FIELDS, MESSAGE_FIELDS, STREAM_FIELDS, claim_rows
from delivery.composing import build_email, render_message
from delivery.failures import Failure, backoff_seconds, classify
from delivery.lane_priority import CHECK_EVERY, give_way, paced
from delivery.models import DeliveryEvent, Message, MessageAttachment
from delivery.queue import enqueue, lane_broker, queue_waiting_task
from delivery.sending import SendOutcome, send_over_dedicated_path
from delivery.sent_rows import record_sent
from delivery.stream_control import release_stranded_held
from delivery.suppressions import skip_suppressed
from streams.models import StreamAttachment, StreamVersion
from streams.rendering import version_cache
from streams.template_budget import REASON as RENDER_LIMIT_REASON
from streams.template_budget import RenderLimitExceeded

logger = logging.getLogger(__name__)


def _orm_fields() -> list[str]:
    """claim_rows' columns as .only() names, for the ORM path."""
    names = [Message._meta.get_field(a).name for a in MESSAGE_FIELDS if a != "id"]
    names += [f"stream__{a}" for a in STREAM_FIELDS if a != "id"]
    return names + [f"contact__{a}" for a in CONTACT_FIELDS if a != "id"]


def claim(message_ids: list[int]) -> list[Message]:
    """Atomically take the due, queued ones among `message_ids` for this worker.

    A conditional UPDATE: of two workers handed the same ids, each row goes to exactly one.
    On PostgreSQL it also returns the rows a send reads (delivery.claim_rows).
    """
    token = uuid.uuid4()
    now = timezone.now()
    if connection.vendor == "postgresql":
        messages = claim_rows(message_ids, token, now)
        _prefetch_attachments(messages)
        _attach_versions(messages)
        return messages
    claimed = Message.objects.filter(
        pk__in=message_ids, status=Message.Status.QUEUED, next_attempt_at__lte=now
    ).update(
        status=Message.Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return []
    messages = list(
        Message.objects.filter(pk__in=message_ids, claim_token=token)
        .select_related("stream", "contact")
        .only(*_orm_fields())
        # Most messages have no files: asking in the same query spares the two lookups.
        .annotate(
            has_attachments=Exists(MessageAttachment.objects.filter(message=OuterRef("pk"))),
            stream_has_attachments=Exists(
                StreamAttachment.objects.filter(stream=OuterRef("stream_id"))
            ),
        )
    )
    _prefetch_attachments(messages)
    _attach_versions(messages)
    return messages


def _prefetch_attachments(messages: list[Message]) -> None:
    prefetch_related_objects([m for m in messages if m.has_attachments], "attachments")
    streams = {id(m.stream): m.stream for m in messages if m.stream_has_attachments}
    prefetch_related_objects(list(streams.values()), "attachments")


def _attach_versions(messages: list[Message]) -> None:
    """Give each message its version, reading each published version once per process.

    Joining the version to every message instead carried its HTML and text (kilobytes) once
    per row of the claim query.
    """
    known = {pk: version_cache.published(pk) for pk in {m.version_id for m in messages}}
    wanted = [pk for pk, version in known.items() if version is None]
    if wanted:
        for version in StreamVersion.objects.filter(pk__in=wanted):
            known[version.pk] = version
            if version.published_at is not None:
                version_cache.remember_published(version)
    for message in messages:
        message.version = known[message.version_id]


def _prepare(message: Message) -> Any:
    try:
        return build_email(message, render_message(message))
    except OSError as exc:  # storage unreachable: worth another try
        return classify(exc)
    except RenderLimitExceeded as exc:
        # The same template and data go over the same bound on every retry.
        logger.warning("Message %s exceeded its render limit: %s", message.pk, exc.detail)
        return Failure(True, RENDER_LIMIT_REASON)
    except Exception as exc:  # the data cannot be rendered; it will not change on retry
        logger.warning("Message %s cannot be rendered: %s", message.pk, exc)
        return Failure(True, f"could not render the message: {exc}")


def _on_bulk_lane() -> bool:
    from django_q.conf import Conf

    return Conf.CLUSTER_NAME == "bulk"


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Claim, render and send a chunk of messages over one connection; record every outcome.

    On the bulk lane each step that makes the database or the MTA work first gives way to
    time-critical mail (delivery.lane_priority), and while such mail is arriving the chunk goes
    in steps of CHECK_EVERY messages, each claimed and recorded on its own: claiming or
    recording a whole chunk is a burst of database work at normal priority that a password
    reset arriving meanwhile waits behind. With no time-critical mail about, a broadcast goes a
    whole chunk per claim (fewer statements per message).
    """
    if not _on_bulk_lane():
        return _send_step(message_ids, bulk=False)
    totals: dict[str, int] = defaultdict(int, claimed=0)
    remaining = list(message_ids)
    while remaining:
        size = CHECK_EVERY if give_way() else len(remaining)
        step, remaining = remaining[:size], remaining[size:]
        for name, count in _send_step(step, bulk=True).items():
            totals[name] += count
    return dict(totals)


def _send_step(message_ids: list[int], *, bulk: bool) -> dict[str, int]:
    messages = claim(message_ids)
    if not messages:
        return {"claimed": 0}
    outcomes: list[SendOutcome] = []
    ready = []
    # Held or retried messages waited: a bounce or complaint may have suppressed them meanwhile.
    for message in skip_suppressed(messages):
        prepared = _prepare(message)
        if isinstance(prepared, Failure):
            outcomes.append(SendOutcome(message.pk, failure=prepared))
        else:
            ready.append((message.pk, prepared))
    provider = "smtp"
    if ready:
        provider, sent = send_over_dedicated_path(ready, pace=paced if bulk else None)
        outcomes.extend(sent)
    if bulk:
        give_way()
    return record_outcomes(messages, outcomes, provider)


def send_waiting(lane: str) -> dict[str, int]:
    """Send the lane's waiting messages (delivery.handover), a chunk at most.

    If more wait, another task is queued first so an idle worker shares them.
    """
    broker = lane_broker(lane)
    ids, left = handover.take(broker, settings.TRIGGERED_EMAIL_CHUNK_SIZE)
    if left:
        try:
            queue_waiting_task(lane)
        except Exception:  # the ones taken are sent anyway; the sweep hands over the rest
            logger.exception("Could not queue a task for %d waiting messages", left)
    if not ids:
        return {"claimed": 0}
    return send_messages(ids)


def record_outcomes(
    messages: list[Message], outcomes: list[SendOutcome], provider: str
) -> dict[str, int]:
    """Write what happened to each claimed message, in bulk and in one transaction."""
    now = timezone.now()
    by_pk = {message.pk: message for message in messages}
    sent, failed, retried = [], [], []
    events = []
    for outcome in outcomes:
        message = by_pk[outcome.key]
        message.claim_token = None
        if outcome.sent:
            message.status = Message.Status.SENT
            message.sent_at = now
            message.esp_message_id = outcome.esp_message_id
            message.last_error = ""
            sent.append(message)
            continue
        failure = outcome.failure
        gave_up = (
            not failure.permanent and message.attempts >= settings.TRIGGERED_EMAIL_MAX_ATTEMPTS
        )
        if failure.permanent or gave_up:
            message.status = Message.Status.FAILED
            message.last_error = (
                f"gave up after {message.attempts} attempts: {failure.describe()}"
                if gave_up
                else failure.describe()
            )
            failed.append(message)
            event_type = DeliveryEvent.Type.FAILED
        else:
            delay = backoff_seconds(
                message.attempts,
                settings.TRIGGERED_EMAIL_RETRY_BASE_SECONDS,
                settings.TRIGGERED_EMAIL_RETRY_MAX_SECONDS,
            )
            message.status = Message.Status.QUEUED
            message.next_attempt_at = now + timedelta(seconds=delay)
            # Not with the broker any more: the sweep hands it over when the retry is due.
            message.queued_at = None
            message.last_error = f"attempt {message.attempts}: {failure.describe()}"
            retried.append(message)
            event_type = DeliveryEvent.Type.DEFERRED
        events.append(
            DeliveryEvent(
                message=message,
                event_type=event_type,
                occurred_at=now,
                description=message.last_error,
                mta_response=failure.mta_response,
                provider=provider,
            )
        )

    if (
        sent
        and not events
        and connection.vendor == "postgresql"
        and not any(m.esp_message_id for m in sent)
    ):
        # Nearly every task: all sent over SMTP. One statement records it.
        record_sent([m.pk for m in sent], now, provider)
    else:
        _record_mixed(sent, failed, retried, events, now, provider)
    if failed or retried:
        logger.info(
            "Sent %d, failed %d, will retry %d messages", len(sent), len(failed), len(retried)
        )
    return {
        "claimed": len(messages),
        "sent": len(sent),
        "failed": len(failed),
        "retried": len(retried),
    }


def _record_mixed(sent, failed, retried, events, now, provider) -> None:
    """Failures, retries or ESP message ids to store: the rows differ, so bulk_update."""
    with transaction.atomic():
        if sent:
            if any(m.esp_message_id for m in sent):
                Message.objects.bulk_update(
                    sent, ["status", "sent_at", "esp_message_id", "last_error", "claim_token"]
                )
            else:
                Message.objects.filter(pk__in=[m.pk for m in sent]).update(
                    status=Message.Status.SENT, sent_at=now, last_error="", claim_token=None
                )
        if failed:
            Message.objects.bulk_update(failed, ["status", "last_error", "claim_token"])
        if retried:
            Message.objects.bulk_update(
                retried,
                ["status", "next_attempt_at", "queued_at", "last_error", "claim_token"],
            )
        DeliveryEvent.objects.bulk_create(
            [
                *(
                    DeliveryEvent(
                        message=message,
                        event_type=DeliveryEvent.Type.SENT,
                        occurred_at=now,
                        provider=provider,
                    )
                    for message in sent
                ),
                *events,
            ]
        )


def sweep() -> dict[str, int]:
    """Periodic: recover messages of dead workers and hand due or lost messages to the broker."""
    now = timezone.now()
    dead_before = now - timedelta(seconds=settings.TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS)
    stale = Message.objects.filter(status=Message.Status.SENDING, claimed_at__lt=dead_before)
    with transaction.atomic():
        reason = "the worker sending it stopped, and no attempts are left"
        exhausted = list(
            stale.filter(attempts__gte=settings.TRIGGERED_EMAIL_MAX_ATTEMPTS).values_list(
                "pk", flat=True
            )
        )
        gave_up = Message.objects.filter(pk__in=exhausted, status=Message.Status.SENDING).update(
            status=Message.Status.FAILED, claim_token=None, last_error=reason
        )
        # Recorded like every other failure: the timeline and the dashboard's refresh see it.
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(message_id=pk, event_type=DeliveryEvent.Type.FAILED, description=reason)
            for pk in exhausted
        )
        revived = stale.update(
            status=Message.Status.QUEUED,
            claim_token=None,
            next_attempt_at=now,
            queued_at=None,
            last_error="the worker sending it stopped; queued again",
        )

    handed_over_before = now - timedelta(seconds=settings.TRIGGERED_EMAIL_REQUEUE_AFTER_SECONDS)
    due = list(
        Message.objects.filter(status=Message.Status.QUEUED, next_attempt_at__lte=now)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=handed_over_before))
        .order_by("next_attempt_at")
        .values_list("pk", "lane")[:10_000]
    )
    by_lane: dict[str, list[int]] = defaultdict(list)
    for pk, lane in due:
        by_lane[lane].append(pk)
    if due:
        Message.objects.filter(pk__in=[pk for pk, _ in due]).update(queued_at=now)
        enqueue(by_lane)
    stranded = release_stranded_held()
    if gave_up or revived or due or stranded.released or stranded.expired:
        logger.info(
            "Sweep: %d revived from dead workers, %d failed, %d handed to the lanes, "
            "%d held messages of live streams released (%d expired)",
            revived,
            gave_up,
            len(due),
            stranded.released,
            stranded.expired,
        )
    return {
        "revived": revived,
        "gave_up": gave_up,
        "requeued": len(due),
        "held_released": stranded.released,
    }
