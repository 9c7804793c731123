"""New mail streams from an email campaign or from another stream.

A copy is a draft: its content is the first draft version, and nothing is sent until someone
publishes and launches it. The source is left untouched.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from streams.attachments import attach_file
from streams.models import EmailCampaign, MailStream
from streams.publishing import content_of
from streams.versions import save_draft


def unique_stream_name(base: str) -> str:
    """`base`, or `base (2)`, `base (3)` … whichever no stream has yet."""
    base = base.strip()[:190] or "Mail stream"
    name, number = base, 1
    while MailStream.objects.filter(name=name).exists():
        number += 1
        name = f"{base} ({number})"
    return name


def copy_campaign(
    campaign: EmailCampaign,
    *,
    event: Any,
    name: str = "",
    sender_email: str = "",
    author: Any = None,
) -> MailStream:
    """A draft stream for `event` whose first version is the campaign's content."""
    with transaction.atomic():
        stream = MailStream.objects.create(
            name=unique_stream_name(name or campaign.name),
            event=event,
            sender_name=campaign.sender_name,
            sender_email=sender_email or campaign.sender_email,
            source_campaign=campaign,
        )
        save_draft(
            stream,
            subject=campaign.subject,
            html_source=campaign.html,
            text=campaign.text,
            author=author,
        )
    return stream


COPIED_FIELDS = (
    "event",
    "kind",
    "pause_policy",
    "lane",
    "sender_name",
    "sender_email",
    "reply_to",
    "require_attachment",
    "track_opens",
    "track_clicks",
    "esp_message_stream",
    "source_campaign",
    "sample_data",
    "sample_contact",
)


def copy_stream(stream: MailStream, *, name: str = "", author: Any = None) -> MailStream:
    """A draft copy of `stream`: its settings, its draft (else current) content, its files."""
    files = []
    for attachment in stream.attachments.all():
        with attachment.file.open("rb") as handle:
            files.append((attachment.filename, handle.read()))
    content = content_of(stream)
    with transaction.atomic():
        copy = MailStream.objects.create(
            name=unique_stream_name(name or f"Copy of {stream.name}"),
            **{field: getattr(stream, field) for field in COPIED_FIELDS},
        )
        if content is not None:
            save_draft(
                copy,
                subject=content.subject,
                html_source=content.html_source,
                text=content.text,
                author=author,
            )
    for filename, data in files:
        attach_file(copy, filename, data)
    return copy
