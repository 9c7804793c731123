"""Turning an outbox row into the email that goes over the wire."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives

from delivery import mime
from delivery.esp_streams import esp_extra_for
from delivery.models import Message
from delivery.return_paths import return_path
from delivery.sending import is_smtp_backend
from delivery.tracking_links import render_tracked
from streams.rendering import RenderedEmail, build_context, contact_context, render_version


def message_context(message: Message) -> dict[str, Any]:
    """What the template sees for this message (contact by name and by Emarsys field id)."""
    contact = message.contact
    if contact is not None:
        contact_data = contact_context(
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            external_id=contact.external_id,
            fields=contact.fields,
        )
    else:
        # Broadcast recipients are not in the contact database: only the address is known.
        contact_data = contact_context(email=message.recipient)
    return build_context(
        data=message.data,
        contact=contact_data,
        stream={"id": message.stream_id, "name": message.stream.name},
        message={"id": message.pk, "uuid": str(message.uuid), "recipient": message.recipient},
    )


def render_message(message: Message) -> RenderedEmail:
    stream = message.stream
    if stream.track_opens or stream.track_clicks:
        return render_tracked(
            message.version,
            message_context(message),
            message.pk,
            track_opens=stream.track_opens,
            track_clicks=stream.track_clicks,
        )
    return render_version(message.version, message_context(message))


@lru_cache(maxsize=64)
def _static_attachment(name: str, size: int) -> bytes:
    # Static stream attachments are read once per process, not once per message.
    with default_storage.open(name, "rb") as handle:
        return handle.read()


class OutgoingEmail(EmailMultiAlternatives):
    """Django's email, serialised by delivery.mime (same bytes, less work per message)."""

    def message(self):
        return mime.prepare(super().message())

    def wire_bytes(self) -> bytes:
        """What the SMTP backend sends after DATA (delivery.smtp_backend)."""
        return mime.wire_bytes(self)


def build_email(message: Message, rendered: RenderedEmail) -> EmailMultiAlternatives:
    stream = message.stream
    if rendered.text:
        email = OutgoingEmail(body=rendered.text)
        if rendered.html:
            email.attach_alternative(rendered.html, "text/html")
    else:
        email = OutgoingEmail(body=rendered.html)
        email.content_subtype = "html"
    email.subject = rendered.subject
    email.from_email = stream.from_address
    email.to = [message.recipient]
    if stream.reply_to:
        email.reply_to = [stream.reply_to]
    email.extra_headers["Message-ID"] = message.message_id
    if settings.TRIGGERED_EMAIL_VERP and is_smtp_backend(settings.TRIGGERED_EMAIL_BACKEND):
        # The envelope sender only (delivery.smtp_backend): the From header stays the stream's.
        email.return_path = return_path(message.pk, stream.sender_email)
    esp_extra = esp_extra_for(stream)
    if esp_extra:
        email.esp_extra = esp_extra
    # A claimed message knows whether it has files (delivery.tasks.claim); others look.
    static = stream.attachments.all() if getattr(message, "stream_has_attachments", True) else ()
    for attachment in static:
        email.attach(
            attachment.filename,
            _static_attachment(attachment.file.name, attachment.size),
            attachment.content_type,
        )
    own = message.attachments.all() if getattr(message, "has_attachments", True) else ()
    for attachment in own:
        with default_storage.open(attachment.file.name, "rb") as handle:
            email.attach(attachment.filename, handle.read(), attachment.content_type)
    # Anymail sends these to the ESP, whose webhooks hand them back: opaque ids only.
    email.metadata = {"message_id": str(message.pk), "stream_id": str(stream.pk)}
    email.tags = [f"stream-{stream.pk}"]
    # Opens and clicks are tracked by us (per stream, delivery.tracking_links), never by the ESP:
    # its rewriting would double-track links and would track the ones marked data-notrack.
    email.track_opens = False
    email.track_clicks = False
    return email
