"""delivery.mime builds the same bytes as the standard library, only faster."""

import copy
from email.policy import compat32

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from delivery import mime
from delivery.composing import build_email
from delivery.models import Message
from streams.models import MailStream
from streams.rendering import RenderedEmail


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
@pytest.mark.django_db
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


@pytest.mark.django_db
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


@pytest.fixture(autouse=True)
def _bounce_domain_without_database(settings):
    # The return path's domain comes from the sender domain's row; these tests have no database.
    settings.TRIGGERED_EMAIL_BOUNCE_DOMAIN = "bounces.example.com"


# --- delivery.mime.direct_bytes: the common email written without the email package ------------

BOUNDARY = "===============0123456789012345678=="
DATE = "Fri, 27 Nov 2026 22:04:32 -0000"


def unsaved_email(subject: str, text: str, html: str, *, reply_to: str = "", name: str = "Shop"):
    """build_email's result for a stream and message that need no database."""
    stream = MailStream(name="s", sender_email="orders@example.com", sender_name=name)
    stream.reply_to = reply_to
    message = Message(
        stream=stream,
        recipient="jane@example.org",
        message_id="<0123456789abcdef@example.com>",
    )
    message.stream_has_attachments = message.has_attachments = False
    return build_email(message, RenderedEmail(subject=subject, html=html, text=text))


def standard_bytes(email) -> bytes:
    """What Django and the standard library write, with the same boundary and date."""
    mime_message = email.message()
    if mime_message.is_multipart():
        mime_message.set_boundary(BOUNDARY)
    mime_message.replace_header("Date", DATE)
    return stdlib_bytes(mime_message)


def outcome(write):
    try:
        return write()
    except Exception as exc:  # both paths must fail alike
        return type(exc)


@pytest.mark.parametrize(
    ("subject", "text", "html", "reply_to", "name"),
    [
        ("Your order #10042 is confirmed", "Hi Jane\n", "<p>Hi Jane</p>\n", "", "Demo Shop"),
        ("Bestellung bestätigt – Grüße", "Grüße\r\naus Köln", "", "service@example.com", "Café"),
        ("A subject long enough to need folding " * 4, "", "<p>html only</p>", "", "Shop"),
        ("  leading  and  double  spaces  ", "a\rb\r\n.\r\nc\n", "<b>x</b>", "", "Shop, Inc."),
        ("Zeichen 😀 und \t Tab", "x" * 998, "<p>" + "ü" * 400 + "</p>", "", "Shop"),
        ("Trennung", "eins\u2028zwei\x0bdrei\x1cvier", "<p>\u2028</p>", "Ann <a@example.org>", "S"),
        ("no trailing newline", "end", "<p>end</p>", "", "Shop"),
    ],
)
def test_direct_bytes_are_the_standard_bytes(subject, text, html, reply_to, name):
    email = unsaved_email(subject, text, html, reply_to=reply_to, name=name)

    direct = mime.direct_bytes(email, boundary=BOUNDARY, date=DATE)

    assert direct == standard_bytes(email)


@pytest.mark.parametrize(
    ("text", "html"),
    [("x" * 999, "<p>ok</p>"), ("ok", "<p>" + "ä" * 600 + "</p>"), ("", "")],
)
def test_long_lines_and_empty_bodies_take_the_standard_path(text, html):
    # Django switches to quoted-printable for lines over 998 bytes; the direct writer does not
    # imitate that, it steps aside.
    email = unsaved_email("s", text, html)

    assert mime.direct_bytes(email, boundary=BOUNDARY, date=DATE) is None
    assert mime.wire_bytes(email).startswith(b"Content-Type: ")


def test_emails_with_files_take_the_standard_path():
    email = unsaved_email("s", "t", "<p>h</p>")
    email.attach("invoice.pdf", b"%PDF-1.4", "application/pdf")

    assert mime.direct_bytes(email, boundary=BOUNDARY, date=DATE) is None
    assert b'filename="invoice.pdf"' in mime.wire_bytes(email)


def test_wire_bytes_are_fresh_per_call():
    email = unsaved_email("s", "t", "<p>h</p>")

    first, second = mime.wire_bytes(email), mime.wire_bytes(email)

    assert first != second  # a boundary of its own each time
    assert first.split(b"\r\n\r\n", 1)[1].count(b"--===============") == 3


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(max_size=150),
    text=st.text(max_size=300),
    html=st.text(max_size=300),
    name=st.text(min_size=1, max_size=40),
)
def test_direct_bytes_match_the_standard_bytes_for_any_texts(subject, text, html, name):
    email = outcome(lambda: unsaved_email(subject, text, html, name=name))
    assume(not isinstance(email, type))

    direct = outcome(lambda: mime.direct_bytes(email, boundary=BOUNDARY, date=DATE))

    if direct is not None:
        assert direct == outcome(lambda: standard_bytes(email))


PRINTABLE_ASCII = st.characters(min_codepoint=32, max_codepoint=126)


@settings(max_examples=300, deadline=None)
@given(
    # Folding happens at spaces and after ; and ,: long runs of them around the limits.
    subject=st.one_of(
        st.text(alphabet=PRINTABLE_ASCII, max_size=90),
        st.text(alphabet="a b;,", min_size=60, max_size=90),
    ),
    name=st.one_of(
        st.text(alphabet=PRINTABLE_ASCII, min_size=1, max_size=60),
        st.text(alphabet="a b;,", min_size=40, max_size=70),
    ),
    reply_name=st.text(alphabet=PRINTABLE_ASCII, max_size=40),
)
def test_short_ascii_headers_written_as_they_are_match_the_standard_bytes(
    subject, name, reply_name
):
    # The direct writer skips Django's header checks and the folding for printable ASCII values
    # that fit on one line: the lengths around the limits (69 for a Subject, 76 for Header, 78
    # for a line) and whitespace anywhere must give the standard bytes.
    reply_to = f"{reply_name} <reply@example.org>" if reply_name else ""
    email = outcome(lambda: unsaved_email(subject, "t", "<p>h</p>", reply_to=reply_to, name=name))
    assume(not isinstance(email, type))

    direct = outcome(lambda: mime.direct_bytes(email, boundary=BOUNDARY, date=DATE))

    assert direct is not None
    assert direct == outcome(lambda: standard_bytes(email))


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=1100),
            st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\u2028", "\x1c"]),
            st.sampled_from(["a", "ü", "€"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_line_lengths_and_line_ends_decide_alike(lines):
    # Lines on either side of 998 bytes, in characters of one to three bytes, with every kind
    # of line end str.splitlines() knows: the direct writer either writes the standard bytes or
    # steps aside where Django would use quoted-printable.
    text = "".join(char * length + end for length, end, char in lines)
    email = unsaved_email("s", text, "<p>h</p>")

    direct = mime.direct_bytes(email, boundary=BOUNDARY, date=DATE)

    long_line = any(len(line.encode()) > 998 for line in text.splitlines())
    assert (direct is None) == long_line
    if direct is not None:
        assert direct == standard_bytes(email)
