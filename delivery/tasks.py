"""django-q2 tasks of the delivery lanes. Every task is idempotent: the rows decide."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, prefetch_related_objects
from django.utils import timezone

from delivery import handover
from delivery.claim_rows import (
    CONTACT_FIELDS,
    MESSAGE_FIELDS,
    STREAM_FIELDS,
    claim_rows,
    lease_end,
)
from delivery.composing import build_email, render_message
from delivery.failures import Failure, backoff_seconds, classify
from delivery.lane_priority import CHECK_EVERY, give_way, note_sending, paced
from delivery.models import DeliveryEvent, Message, MessageAttachment
from delivery.queue import enqueue, lane_broker, queue_waiting_task
from delivery.sending import SendOutcome, send_over_dedicated_path
from delivery.sent_rows import record_sent
from delivery.stream_control import release_stranded_held
from delivery.suppressions import skip_suppressed
from delivery.tracking import TrackedEvent, record_event
from streams.models import StreamAttachment, StreamVersion
from streams.rendering import version_cache
from streams.template_budget import REASON as RENDER_LIMIT_REASON
from streams.template_budget import RenderLimitExceeded
from triggered_email.database_dialect import has_postgresql_statements
from triggered_email.log_format import delivery_context

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
    if has_postgresql_statements(connection):
        messages = claim_rows(message_ids, token, now, lease_end(now))
        for message in messages:
            message.claim_token = token
        _prefetch_attachments(messages)
        _attach_versions(messages)
        return messages
    claimed = Message.objects.filter(
        pk__in=message_ids, status=Message.Status.QUEUED, next_attempt_at__lte=now
    ).update(
        status=Message.Status.SENDING,
        claim_token=token,
        claimed_at=now,
        lease_until=lease_end(now),
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
    for message in messages:
        message.claim_token = token  # known: spares loading the deferred field
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


def about(message: Message) -> dict[str, Any]:
    """The ids a log line about one message carries (triggered_email.log_format)."""
    # From __dict__: a field the query did not load stays null instead of costing a query.
    fields = message.__dict__
    return {
        "message_id": message.pk,
        "trigger_id": fields.get("trigger_id"),
        "stream": fields.get("stream_id"),
    }


def _prepare(message: Message) -> Any:
    try:
        return build_email(message, render_message(message))
    except OSError as exc:  # storage unreachable: worth another try
        return classify(exc)
    except RenderLimitExceeded as exc:
        # The same template and data go over the same bound on every retry.
        logger.warning(
            "Message %s exceeded its render limit: %s", message.pk, exc.detail, extra=about(message)
        )
        return Failure(True, RENDER_LIMIT_REASON)
    except Exception as exc:  # the data cannot be rendered; it will not change on retry
        logger.warning("Message %s cannot be rendered: %s", message.pk, exc, extra=about(message))
        return Failure(True, f"could not render the message: {exc}")


def _on_bulk_lane() -> bool:
    from django_q.conf import Conf

    return Conf.CLUSTER_NAME == "bulk"


def send_messages(message_ids: list[int]) -> dict[str, int]:
    """Claim, render and send a chunk of messages over one connection; record every outcome.

    Outcomes are recorded as soon as the MTA has answered for them, a window of at most
    TRIGGERED_EMAIL_RECORD_EVERY messages or TRIGGERED_EMAIL_RECORD_WITHIN_MS at a time,
    never a whole chunk at the end: a worker that dies leaves at most one window whose fate
    is unknown. The task stops starting new sends after TRIGGERED_EMAIL_TASK_SECONDS, well
    inside django-q2's timeout, and hands what it has not started back to its lane (a slow
    MTA makes sending slow, never lossy).

    On the bulk lane each step that makes the database or the MTA work first gives way to
    time-critical mail (delivery.lane_priority), and while such mail is arriving the chunk goes
    in steps of CHECK_EVERY messages, each claimed and recorded on its own: claiming or
    recording a whole chunk is a burst of database work at normal priority that a password
    reset arriving meanwhile waits behind. With no time-critical mail about, a broadcast goes a
    whole chunk per claim (fewer statements per message).
    """
    bulk = _on_bulk_lane()
    # Every log line of this task names its lane (JSON logs, triggered_email.log_format).
    with delivery_context(lane="bulk" if bulk else "transactional"):
        return _send_chunk(message_ids, bulk)


def _send_chunk(message_ids: list[int], bulk: bool) -> dict[str, int]:
    deadline = time.monotonic() + settings.TRIGGERED_EMAIL_TASK_SECONDS
    if not bulk:
        note_sending()
        return _send_step(message_ids, bulk=False, deadline=deadline)
    totals: dict[str, int] = defaultdict(int, claimed=0)
    remaining = list(message_ids)
    while remaining:
        if time.monotonic() >= deadline:
            # Not claimed: still queued and handed over; a fresh task takes them on.
            enqueue({"bulk": remaining})
            totals["handed_back"] += len(remaining)
            break
        size = CHECK_EVERY if give_way() else len(remaining)
        step, remaining = remaining[:size], remaining[size:]
        for name, count in _send_step(step, bulk=True, deadline=deadline).items():
            totals[name] += count
    return dict(totals)


class _Lease:
    """The claim of a task's rows, renewed while the task still works on them."""

    def __init__(self, token: uuid.UUID, pks: set[int]) -> None:
        self.token = token
        self.open = pks  # claimed, outcome not recorded yet
        self.renewed = time.monotonic()

    def renew_if_due(self) -> None:
        """Push the lease on once a third of it has passed (a statement per ~10 s at most)."""
        now = time.monotonic()
        if (
            not self.open
            or now - self.renewed < settings.TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS / 3
        ):
            return
        try:
            Message.objects.filter(
                pk__in=list(self.open), claim_token=self.token, status=Message.Status.SENDING
            ).update(lease_until=lease_end(timezone.now()))
        except (OperationalError, InterfaceError) as exc:
            # The database is away: the recording retries until it is back; the lease is long
            # enough to outlast a restart.
            logger.warning("Could not renew the lease of %d messages: %s", len(self.open), exc)
            _drop_connection()
            return
        self.renewed = now


def _send_step(message_ids: list[int], *, bulk: bool, deadline: float) -> dict[str, int]:
    messages = claim(message_ids)
    if not messages:
        return {"claimed": 0}
    by_pk = {message.pk: message for message in messages}
    lease = _Lease(messages[0].claim_token, set(by_pk))
    totals: dict[str, int] = defaultdict(int, claimed=len(messages), sent=0, failed=0, retried=0)
    early: list[SendOutcome] = []
    ready = []
    # Held or retried messages waited: a bounce or complaint may have suppressed them meanwhile.
    kept = skip_suppressed(messages)
    lease.open.intersection_update(m.pk for m in kept)
    for message in kept:
        prepared = _prepare(message)
        if isinstance(prepared, Failure):
            early.append(SendOutcome(message.pk, failure=prepared))
        else:
            ready.append((message.pk, prepared))

    def record(provider: str, outcomes: list[SendOutcome]) -> None:
        batch = [*early, *outcomes]
        early.clear()
        counts = record_until_it_lands([by_pk[o.key] for o in batch], batch, provider)
        for name in ("sent", "failed", "retried"):
            totals[name] += counts[name]
        lease.open.difference_update(o.key for o in batch)
        if bulk:
            give_way()

    def go_on() -> bool:
        if time.monotonic() >= deadline:
            return False
        lease.renew_if_due()
        return True

    provider = "smtp"
    if ready:
        provider, _ = send_over_dedicated_path(
            ready,
            pace=paced if bulk else None,
            window=settings.TRIGGERED_EMAIL_RECORD_EVERY,
            on_outcomes=record,
            go_on=go_on,
        )
    if early:
        record(provider, [])
    if lease.open:
        totals["handed_back"] += hand_back(sorted(lease.open), lease.token, bulk=bulk)
    return dict(totals)


def hand_back(pks: list[int], token: uuid.UUID, *, bulk: bool) -> int:
    """Give claimed messages this task did not start back to their lane, unattempted.

    The task's time is up (TRIGGERED_EMAIL_TASK_SECONDS): a fresh task sends them, so a task
    never runs into django-q2's timeout, which would kill it with outcomes unrecorded.
    """
    now = timezone.now()
    returned = Message.objects.filter(
        pk__in=pks, claim_token=token, status=Message.Status.SENDING
    ).update(
        status=Message.Status.QUEUED,
        claim_token=None,
        lease_until=None,
        attempts=F("attempts") - 1,
        next_attempt_at=now,
        queued_at=now,
    )
    logger.info("Time is up for this task: %d messages handed back to their lane", returned)
    enqueue({"bulk" if bulk else "transactional": pks})
    return returned


def _drop_connection() -> None:
    """After the database went away: the next statement opens a new connection."""
    if connection.in_atomic_block:
        return  # a transaction cannot be carried over to a new connection: the caller's decides
    try:
        connection.close()
    except Exception:  # closing a dead connection can fail as well
        logger.debug("Closing the database connection failed", exc_info=True)


def record_until_it_lands(
    messages: list[Message], outcomes: list[SendOutcome], provider: str
) -> dict[str, int]:
    """record_outcomes, tried again until the database takes it.

    The MTA has answered for these messages: giving up here would leave them `sending`, and
    the sweep would send them again once their lease ran out. The lease outlasts a database
    restart, so the outcomes land first.
    """
    pause = 0.1
    while True:
        try:
            return record_outcomes(messages, outcomes, provider)
        except (OperationalError, InterfaceError) as exc:
            logger.warning(
                "Recording the outcomes of %d messages failed (%s); trying again in %.1f s",
                len(outcomes),
                exc,
                pause,
            )
            _drop_connection()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


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
    bounces: list[tuple[Message, TrackedEvent]] = []
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
            # One line per message that will never be sent: an operator looks each one up.
            logger.warning(
                "Message %s failed: %s", message.pk, message.last_error, extra=about(message)
            )
            if failure.permanent and failure.bounce_kind:
                # The MTA (or ESP) refused the recipient: a bounce, recorded and acted on
                # (suppression) exactly as one reported later by a DSN or a webhook.
                bounces.append((message, _refusal_event(failure, now, provider)))
                continue
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
        and not (failed or retried)
        and has_postgresql_statements(connection)
        and not any(m.esp_message_id for m in sent)
    ):
        # Nearly every task: all sent over SMTP. One statement records it.
        record_sent([m.pk for m in sent], now, provider)
    else:
        with transaction.atomic():
            _record_mixed(sent, failed, retried, events, now, provider)
            for message, event in bounces:
                record_event(message, event)
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


def _refusal_event(failure: Failure, now: datetime, provider: str) -> TrackedEvent:
    return TrackedEvent(
        event_type=DeliveryEvent.Type.BOUNCED,
        occurred_at=now,
        provider=provider,
        bounce_kind=failure.bounce_kind,
        description=f"refused at send: {failure.describe()}"[:10_000],
        mta_response=failure.mta_response[:10_000],
    )


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


UNKNOWN_OUTCOME = (
    "the worker sending it stopped before it recorded the MTA's answer: it may have been "
    "sent; queued again with the same Message-ID"
)


def _due_for_hand_over(now) -> list[tuple[int, str]]:
    """Queued messages due and not with the broker: retries whose time came, hand-overs that
    failed, and tasks the broker lost (Redis restarted).

    A task lost on the transactional lane is noticed after
    TRIGGERED_EMAIL_TRANSACTIONAL_REQUEUE_AFTER_SECONDS unless the lane's queue still holds
    tasks (a backlog, not a loss); everywhere after TRIGGERED_EMAIL_REQUEUE_AFTER_SECONDS.
    """
    handed_over_before = now - timedelta(seconds=settings.TRIGGERED_EMAIL_REQUEUE_AFTER_SECONDS)
    lost = Q(queued_at__lt=handed_over_before)
    broker_started = _broker_started_at(now)
    if broker_started is not None:
        # Handed to a Redis that has restarted since: its tasks are gone, on every lane.
        lost |= Q(queued_at__lt=broker_started)
    if _lane_queue_empty("transactional"):
        quick = now - timedelta(
            seconds=settings.TRIGGERED_EMAIL_TRANSACTIONAL_REQUEUE_AFTER_SECONDS
        )
        lost |= Q(lane="transactional", queued_at__lt=quick)
    return list(
        Message.objects.filter(status=Message.Status.QUEUED, next_attempt_at__lte=now)
        .filter(Q(queued_at__isnull=True) | lost)
        .order_by("next_attempt_at")
        .values_list("pk", "lane")[:10_000]
    )


def _broker_started_at(now):
    """When the Redis broker last started (None: the ORM broker, or Redis unreachable)."""
    broker = lane_broker("transactional")
    if not handover.supported(broker):
        return None
    try:
        uptime = broker.connection.info("server")["uptime_in_seconds"]
    except Exception:  # unreachable: nothing can be handed over now anyway
        return None
    # A second of slack: INFO's uptime is whole seconds.
    return now - timedelta(seconds=int(uptime) + 1)


def _lane_queue_empty(lane: str) -> bool:
    """No task waits in the lane's queue (unknown: False)."""
    try:
        return lane_broker(lane).queue_size() == 0
    except Exception:  # the broker is away: the messages wait for the long re-hand-over
        logger.warning("Could not read the %s lane's queue size", lane, exc_info=True)
        return False


def sweep() -> dict[str, int]:
    """Recover messages of dead workers and hand due or lost messages to the broker.

    Runs every few seconds in each transactional lane (delivery.pacemaker) and, as a fallback,
    from django-q2's once-a-minute schedule. Safe to run concurrently: every change is a
    conditional UPDATE, and a message handed over twice is still claimed once.
    """
    now = timezone.now()
    # Rows claimed before leases existed carry none: their claim time decides.
    dead_before = now - timedelta(seconds=settings.TRIGGERED_EMAIL_SENDING_TIMEOUT_SECONDS)
    stale = Message.objects.filter(status=Message.Status.SENDING).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, claimed_at__lt=dead_before)
    )
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
        revived_pks = list(stale.values_list("pk", "attempts"))
        revived = Message.objects.filter(
            pk__in=[pk for pk, _ in revived_pks], status=Message.Status.SENDING
        ).update(
            status=Message.Status.QUEUED,
            claim_token=None,
            lease_until=None,
            next_attempt_at=now,
            queued_at=None,
            last_error=UNKNOWN_OUTCOME,
        )
        # Whether the MTA took it is unknown: the timeline says so, with the attempt.
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(
                message_id=pk,
                event_type=DeliveryEvent.Type.UNKNOWN,
                occurred_at=now,
                description=f"attempt {attempts}: {UNKNOWN_OUTCOME}",
                provider="outbox",
            )
            for pk, attempts in revived_pks
        )

    due = _due_for_hand_over(now)
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
