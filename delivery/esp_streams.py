"""Which of an ESP's message streams a mail stream's messages go out on (Anymail path).

ESPs that keep transactional and broadcast mail apart send each on its own infrastructure, so
a broadcast's complaints never hurt a password reset's delivery. Postmark calls them message
streams (`MessageStream` in its send API, given through Anymail's `esp_extra`). Other ESPs
have no such thing here: the stream's setting is ignored for them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from streams.models import MailStream


def esp_message_stream(stream: MailStream) -> str:
    """The stream's own choice, else for broadcasts TRIGGERED_EMAIL_ESP_BROADCAST_STREAM; ""
    leaves it to the ESP (its default transactional stream)."""
    if stream.esp_message_stream:
        return stream.esp_message_stream
    if stream.kind == MailStream.Kind.BROADCAST:
        return settings.TRIGGERED_EMAIL_ESP_BROADCAST_STREAM
    return ""


def esp_extra_for(stream: MailStream) -> dict[str, Any]:
    """Anymail `esp_extra` for the dedicated backend, for a message of `stream`."""
    if "postmark" not in settings.TRIGGERED_EMAIL_BACKEND.lower():
        return {}
    name = esp_message_stream(stream)
    return {"MessageStream": name} if name else {}
