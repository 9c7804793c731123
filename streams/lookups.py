"""Finding a mail stream by what an operator types: its id or its name."""

from __future__ import annotations

from streams.models import MailStream
from triggered_email.numbers import ascii_int


class StreamNotFound(LookupError):
    pass


def find_stream(id_or_name: str) -> MailStream:
    """The stream with this id, else the one with this name."""
    value = id_or_name.strip()
    stream = None
    number = ascii_int(value)
    if number is not None:
        stream = MailStream.objects.filter(pk=number).first()
    if stream is None:
        stream = MailStream.objects.filter(name=value).first()
    if stream is None:
        raise StreamNotFound(
            f"No mail stream with the id or name {id_or_name!r}. "
            "`python manage.py list_streams` lists them."
        )
    return stream
