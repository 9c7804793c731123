"""Static files attached to every message of a stream."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from streams.filenames import clean_filename, content_type_for
from streams.models import MailStream, StreamAttachment

# Mail servers commonly refuse messages over 10–25 MB, and every message carries these files.
MAX_STATIC_ATTACHMENT_BYTES = 5 * 1024 * 1024


def check_static_size(size: int) -> None:
    if size == 0:
        raise ValidationError("The file is empty.")
    if size > MAX_STATIC_ATTACHMENT_BYTES:
        raise ValidationError(
            f"The file has {size} bytes; static attachments may have at most "
            f"{MAX_STATIC_ATTACHMENT_BYTES // (1024 * 1024)} MB, because every message of the "
            "stream carries them. Link to large files instead."
        )


def describe_upload(attachment: StreamAttachment, uploaded_name: str, size: int) -> None:
    """Fill in the name, type and size mail clients will see for an uploaded file."""
    check_static_size(size)
    attachment.filename = clean_filename(uploaded_name)
    attachment.content_type = content_type_for(attachment.filename)
    attachment.size = size


def attach_file(stream: MailStream, filename: str, content: bytes) -> StreamAttachment:
    """Store `content` and attach it to every message of `stream` from now on."""
    attachment = StreamAttachment(stream=stream)
    describe_upload(attachment, filename, len(content))
    # The storage write (network I/O with S3) happens before the row's transaction.
    attachment.file.save(attachment.filename, ContentFile(content), save=False)
    with transaction.atomic():
        attachment.save()
    return attachment
