"""Publishing a stream's draft from the admin and the command line."""

from __future__ import annotations

from typing import Any

from streams.models import MailStream, StreamVersion
from streams.previewing import sample_context
from streams.rendering import TemplateProblem
from streams.sanitizing import clean_template_html
from streams.template_tokens import TokenRoundTripError
from streams.versions import check_version, publish_version, save_draft


class PublishError(Exception):
    """Nothing to publish, or a draft that cannot be sent; the message says what to do."""


def draft_of(stream: MailStream) -> StreamVersion | None:
    return stream.versions.filter(published_at__isnull=True).first()


def check_draft(stream: MailStream, draft: StreamVersion) -> None:
    """Raise TemplateProblem unless the draft renders with the stream's sample data."""
    context = sample_context(
        stream.sample_data, stream.sample_contact, {"id": stream.pk, "name": stream.name}
    )
    check_version(draft, context)


def publish_draft(stream: MailStream) -> StreamVersion:
    """Make the stream's draft its current version (atomic; CSS inlined now).

    Raises PublishError when there is no draft or it does not render with the sample data.
    """
    draft = draft_of(stream)
    if draft is None:
        current = stream.current_version
        now = f" (the current version is v{current.number})" if current else ""
        raise PublishError(f"{stream} has no draft to publish{now}: edit the content first.")
    try:
        check_draft(stream, draft)
        return publish_version(draft)
    except TemplateProblem as problem:
        raise PublishError(
            f"Draft v{draft.number} does not render, so it cannot be published: {problem}"
        ) from problem
    except TokenRoundTripError as exc:
        raise PublishError(f"Draft v{draft.number} cannot be published: {exc}") from exc


def content_of(stream: MailStream) -> StreamVersion | None:
    """What the stream's editor shows: the draft, else the current version."""
    return draft_of(stream) or stream.current_version


def save_content(
    stream: MailStream, *, subject: str, html_source: str, text: str, author: Any = None
) -> StreamVersion | None:
    """Write the draft, unless nothing differs from the current version and there is no draft."""
    current = stream.current_version
    unchanged = current is not None and (subject, clean_template_html(html_source), text) == (
        current.subject,
        current.html_source,
        current.text,
    )
    if unchanged and draft_of(stream) is None:
        return None
    return save_draft(stream, subject=subject, html_source=html_source, text=text, author=author)
