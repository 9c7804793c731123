"""delivery.mime builds the same bytes as the standard library, only faster."""

import copy
from email.policy import compat32

import pytest

from delivery.composing import build_email
from delivery.models import Message
from streams.rendering import RenderedEmail

pytestmark = pytest.mark.django_db


def stdlib_bytes(mime_message) -> bytes:
    """The same message (same boundaries) generated with Django's own policy."""
    plain = copy.deepcopy(mime_message)
    for part in plain.walk():
        part.policy = compat32
    return plain.as_bytes(linesep="\r\n")


@pytest.mark.parametrize(
    ("subject", "sender_name", "reply_to", "text", "html"),
    [
        ("Your order #10042 is confirmed", "Demo Shop", "", "Hi Jane", "<p>Hi Jane</p>"),
        ("Bestellung bestätigt – Grüße", "Café Müller", "service@example.com", "Grüße", ""),
        ("A subject long enough to need folding " * 4, "Shop", "", "", "<p>html only</p>"),
        (
            "  leading  and  double  spaces  ",
            "Shop, Inc.",
            "",
            "text\r\n.\r\nwith a dot",
            "<b>x</b>",
        ),
        ("Zeichen 😀 und \t Tab", "Shop", "", "x" * 1200, "<p>" + "y" * 1200 + "</p>"),
    ],
)
def test_fast_serialisation_is_byte_identical(
    make_stream, make_contact, subject, sender_name, reply_to, text, html
):
    stream = make_stream(sender_name=sender_name, reply_to=reply_to)
    contact = make_contact("jane@example.org")
    message = Message(
        pk=1,
        stream=stream,
        version=stream.current_version,
        contact=contact,
        recipient=contact.email,
        message_id="<0123456789abcdef@example.com>",
    )
    email = build_email(message, RenderedEmail(subject=subject, html=html, text=text))

    fast = email.message()
    fast_bytes = fast.as_bytes(linesep="\r\n")

    assert fast_bytes == stdlib_bytes(fast)
    assert fast.get_boundary() is None or fast.get_boundary().encode() in fast_bytes


def test_every_multipart_gets_its_own_boundary(make_stream, make_contact):
    stream = make_stream()
    contact = make_contact("jane@example.org")
    message = Message(
        pk=1,
        stream=stream,
        version=stream.current_version,
        contact=contact,
        recipient=contact.email,
        message_id="<a@example.com>",
    )
    rendered = RenderedEmail(subject="s", html="<p>h</p>", text="t")
    email = build_email(message, rendered)
    email.attach("invoice.pdf", b"%PDF-1.4", "application/pdf")

    parts = [part for part in email.message().walk() if part.is_multipart()]

    boundaries = [part.get_boundary() for part in parts]
    assert len(parts) == 2
    assert all(boundaries) and len(set(boundaries)) == 2
