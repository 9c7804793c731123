"""Test sends, the admin's "Send a test" of a mail stream (and `manage.py send_test`): the
stream's draft (or a published version), rendered with sample data and sent at once to one
address over the dedicated path, recorded as a test message. Product code, not a test module.

A test is sent in the request, not through a lane: the marketer waits for the answer, and a
draft is rendered fresh (never through the per-version cache, which is for published versions
only). The message is recorded before the send, so even a crash mid-send leaves a trace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from delivery.composing import build_email
from delivery.models import DeliveryEvent, Message
from delivery.sending import dedicated_connection, send_batch
from streams.inlining import inline_css
from streams.models import MailStream, StreamVersion
from streams.previewing import sample_context
from streams.rendering import RenderedEmail, check_template

TEST_SUBJECT_PREFIX = "[TEST] "


class TestSendError(Exception):
    """The test could not be sent; the message says why and what to do."""


@dataclass(frozen=True)
class TestSendResult:
    message: Message
    sent: bool
    reason: str = ""


def version_to_test(stream: MailStream) -> StreamVersion:
    """The draft if there is one, else the current version."""
    draft = stream.versions.filter(published_at__isnull=True).first()
    version = draft or stream.current_version
    if version is None:
        raise TestSendError(f"{stream} has no content yet: write a draft first.")
    return version


def render_test(
    version: StreamVersion, data: dict[str, Any], contact: dict[str, Any]
) -> RenderedEmail:
    """Render `version` as it would be sent: CSS inlined (as at publish), then personalised."""
    html = version.html_inlined or inline_css(version.html_source)
    return check_template(version.subject, html, version.text, sample_context(data, contact))


def send_test(
    stream: MailStream,
    to: str,
    *,
    data: dict[str, Any] | None = None,
    contact: dict[str, Any] | None = None,
    version: StreamVersion | None = None,
) -> TestSendResult:
    """Send `version` (default: the draft, else the current one) of `stream` to `to` now.

    Raises TestSendError for a bad address and TemplateProblem for a draft that does not render.
    The outcome of the send itself (sent, or refused and why) is in the result and the log.
    """
    to = to.strip()
    try:
        validate_email(to)
    except ValidationError as exc:
        raise TestSendError(f"{to!r} is not a valid email address.") from exc
    if not stream.sender_email:
        raise TestSendError(f"{stream} has no sender address yet: set one first.")
    version = version or version_to_test(stream)
    data = stream.sample_data if data is None else data
    contact = stream.sample_contact if contact is None else contact
    rendered = render_test(version, data, contact)
    rendered = RenderedEmail(
        subject=TEST_SUBJECT_PREFIX + rendered.subject, html=rendered.html, text=rendered.text
    )
    message = _record(stream, version, to, data)
    email = build_email(message, rendered)
    email.extra_headers["X-Triggered-Email-Test"] = "yes"
    connection = dedicated_connection()
    provider = getattr(connection, "esp_name", "smtp").lower()
    [outcome] = send_batch([(message.pk, email)], connection)
    return _record_outcome(message, outcome.failure, outcome.esp_message_id, provider)


def _record(stream: MailStream, version: StreamVersion, to: str, data: dict) -> Message:
    # Trigger lives in events, above delivery: reached through the relation, never imported.
    trigger_model = Message._meta.get_field("trigger").related_model
    now = timezone.now()
    message_uuid = uuid.uuid4()
    domain = stream.sender_email.rpartition("@")[2].lower() or "localhost"
    with transaction.atomic():
        trigger = trigger_model.objects.create(
            event_id=stream.event_id,
            source="test",
            recipient_count=1,
            message_count=1,
        )
        return Message.objects.create(
            trigger=trigger,
            stream=stream,
            version=version,
            recipient=to,
            data=data,
            lane=stream.lane,
            status=Message.Status.SENDING,
            is_test=True,
            # No attempts left: if this process dies mid-send, the sweep records the message as
            # failed instead of handing a draft to a lane.
            attempts=settings.TRIGGERED_EMAIL_MAX_ATTEMPTS,
            claimed_at=now,
            uuid=message_uuid,
            message_id=f"<{message_uuid.hex}@{domain}>",
            received_at=now,
            queued_at=now,
        )


def _record_outcome(
    message: Message, failure: Any, esp_message_id: str, provider: str
) -> TestSendResult:
    now = timezone.now()
    with transaction.atomic():
        if failure is None:
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.SENT, sent_at=now, esp_message_id=esp_message_id, attempts=1
            )
            DeliveryEvent.objects.create(
                message=message,
                event_type=DeliveryEvent.Type.SENT,
                occurred_at=now,
                provider=provider,
            )
        else:
            # A test is not retried: the marketer sees the reason and tries again.
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.FAILED, last_error=failure.reason, attempts=1
            )
            DeliveryEvent.objects.create(
                message=message,
                event_type=DeliveryEvent.Type.FAILED,
                occurred_at=now,
                description=failure.reason,
                mta_response=failure.mta_response,
                provider=provider,
            )
    message.refresh_from_db()
    if failure is None:
        return TestSendResult(message, True)
    detail = f" ({failure.mta_response})" if failure.mta_response else ""
    return TestSendResult(message, False, failure.reason + detail)
