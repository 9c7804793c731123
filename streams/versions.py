"""Writing drafts and publishing versions of a mail stream."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from streams.inlining import inline_css
from streams.models import MailStream, StreamVersion
from streams.rendering import (
    RenderedEmail,
    TemplateProblem,
    build_context,
    check_template,
    syntax_problems,
)

# The StreamVersion field each part of syntax_problems() belongs to.
_FIELDS = {"subject": "subject", "html": "html_source", "text": "text"}


def check_syntax(subject: str, html_source: str, text: str) -> None:
    """Raise ValidationError (by field) for content that is not ESL or uses legacy placeholders.

    Every way to write a draft (admin, edit_stream, copies) goes through save_draft, which calls
    this: content that cannot parse is never stored.
    """
    problems = syntax_problems(subject, html_source, text)
    if problems:
        raise ValidationError({_FIELDS[part]: str(problem) for part, problem in problems.items()})


def save_draft(
    stream: MailStream,
    *,
    subject: str,
    html_source: str,
    text: str,
    author: Any = None,
) -> StreamVersion:
    """Write the stream's draft version (the one unpublished version), creating it if needed.

    Raises ValidationError when the content is not ESL (check_syntax)."""
    check_syntax(subject, html_source, text)
    with transaction.atomic():
        MailStream.objects.select_for_update().filter(pk=stream.pk).first()
        draft = stream.versions.filter(published_at__isnull=True).first()
        if draft is None:
            latest = stream.versions.aggregate(latest=Max("number"))["latest"] or 0
            draft = StreamVersion(stream=stream, number=latest + 1)
        draft.subject = subject
        draft.html_source = html_source
        draft.text = text
        draft.author = author
        draft.save()
    return draft


def check_version(version: StreamVersion, context: dict[str, Any] | None = None) -> RenderedEmail:
    """Render `version` with sample data; raise TemplateProblem if it cannot be sent."""
    if not version.subject.strip():
        raise TemplateProblem("subject", "the subject is empty")
    if not version.html_source.strip() and not version.text.strip():
        raise TemplateProblem("content", "the version has neither HTML nor text")
    return check_template(
        version.subject,
        version.html_source,
        version.text,
        context if context is not None else build_context(data={}, contact={}),
    )


def publish_version(version: StreamVersion) -> StreamVersion:
    """Make `version` the stream's current version, atomically.

    CSS is inlined here, once, outside the transaction. Messages already triggered keep the
    version they recorded; new triggers use this one from the moment the transaction commits.
    """
    if version.is_published:
        raise ValidationError(f"Version {version.number} of {version.stream} is already published.")
    check_version(version)
    inlined = inline_css(version.html_source)
    now = timezone.now()
    with transaction.atomic():
        stream = MailStream.objects.select_for_update().get(pk=version.stream_id)
        updated = StreamVersion.objects.filter(pk=version.pk, published_at__isnull=True).update(
            html_inlined=inlined, published_at=now
        )
        if not updated:
            raise ValidationError(
                f"Version {version.number} of {stream} was published or removed meanwhile."
            )
        stream.current_version_id = version.pk
        stream.save(update_fields=["current_version", "updated_at"])
    version.refresh_from_db()
    return version
