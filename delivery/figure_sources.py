"""Where a stream's delivered and bounced figures come from, in a sentence for its page.

On the ESP path the ESP's webhooks report them; on the SMTP path the MTA's refusals at send
time, the delivery status notifications that come back to the VERP return path and the MTA's
imported log do. Opens and clicks are ours wherever the stream tracks them.
"""

from __future__ import annotations

from django.conf import settings

from delivery.sending import is_smtp_backend
from streams.models import MailStream


def figure_sources(stream: MailStream) -> str:
    """One or two sentences saying where this stream's figures come from."""
    if is_smtp_backend(settings.TRIGGERED_EMAIL_BACKEND):
        parts = ["refusals by the MTA when a message is sent"]
        if settings.TRIGGERED_EMAIL_VERP:
            parts.append("bounce reports (DSNs) to each message's return path")
        parts.append("the MTA's log where it is imported")
        delivered = (
            "Delivered, deferred and bounced figures come from "
            + ", ".join(parts[:-1])
            + f" and {parts[-1]}."
        )
    else:
        backend = settings.TRIGGERED_EMAIL_BACKEND.rsplit(".", 2)
        esp = backend[-2] if len(backend) >= 2 else settings.TRIGGERED_EMAIL_BACKEND
        delivered = (
            "Delivered, bounced and complained figures come from the ESP's "
            f"({esp}) tracking webhooks."
        )
    tracked = [
        name for name, on in (("opens", stream.track_opens), ("clicks", stream.track_clicks)) if on
    ]
    if tracked:
        return f"{delivered} {' and '.join(tracked).capitalize()} are counted by our own tracking."
    return f"{delivered} This stream does not track opens or clicks."
