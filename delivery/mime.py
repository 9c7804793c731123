"""The bytes of an outgoing email, built faster than the standard library builds them by
default, and byte for byte the same (tests/test_mime_wire.py compares them).

Profiling the lanes showed two avoidable costs in `email.generator` per message: every header,
however short, goes through `email.header.Header` to be folded, and every multipart boundary is
checked against the message with a freshly compiled regular expression (a pattern that never
repeats, so `re`'s cache never helps). Short printable ASCII headers need no folding, and a
boundary with 64 random bits needs no search: we set it before the generator would.
"""

from __future__ import annotations

import random
import re
import sys
from email.message import Message as MimeMessage
from email.policy import Compat32
from email.utils import formatdate
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, forbid_multi_line_headers

_random = random.SystemRandom()


class _ShortHeadersAsIs(Compat32):
    """compat32 (Django's policy), except that a header that fits on one line is written as it
    is, which is what compat32's folding produces for such a header anyway."""

    def _fold(self, name: str, value, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and self.max_line_length
            and len(name) + 2 + len(value) <= self.max_line_length
            and value.isascii()
            and value.isprintable()
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


POLICY = _ShortHeadersAsIs()


def _boundary() -> str:
    # The standard library's format ('=' * 15 + 19 digits + '=='), from a system random source.
    return "=" * 15 + f"{_random.randrange(sys.maxsize):019d}" + "=="


def prepare(message: MimeMessage) -> MimeMessage:
    """Give `message` the fast policy and boundaries of its own; returns it."""
    for part in message.walk():
        part.policy = POLICY
        if part.is_multipart() and not part.get_boundary():
            part.set_boundary(_boundary())
    return message


# --- writing the common email directly ---------------------------------------------------------
#
# Nearly every email a lane sends is one text part, one HTML part, or both as
# multipart/alternative, UTF-8, no files. For those, building the email.message objects and
# walking them with the generator cost more than rendering the template (measured in 20939a9);
# `wire_bytes` writes the same bytes straight away, using the same functions for every header
# value (Django's header checks, compat32's folding). Anything else goes the standard way.

_CRLF_POLICY = POLICY.clone(linesep="\r\n")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # email.generator's NLCRE
_PLACEHOLDER_BOUNDARY = _boundary()


def _header(name: str, value: str) -> bytes:
    if (
        isinstance(value, str)
        and len(name) + 2 + len(value) <= _CRLF_POLICY.max_line_length
        and value.isascii()
        and value.isprintable()
    ):
        # Django's header checks return such a value unchanged (a Subject goes through
        # email.header.Header, which leaves a printable ASCII line of up to 76 characters as it
        # is) and compat32 writes it on one line. Header alone was a third of this module's time.
        return f"{name}: {value}\r\n".encode()
    name, value = forbid_multi_line_headers(name, value, "utf-8")
    return _CRLF_POLICY.fold_binary(name, value)


def _has_long_line(content: str, encoded: bytes) -> bool:
    """Django's test for quoted-printable: a line (str.splitlines) over 998 bytes."""
    if len(encoded) <= RFC5322_EMAIL_LINE_LENGTH_LIMIT:
        return False
    # splitlines() breaks at \n and at more, so none of its lines is longer than the longest
    # stretch between two \n: where no such stretch is too long, no line is (bytes.split is C).
    if max(map(len, encoded.split(b"\n"))) <= RFC5322_EMAIL_LINE_LENGTH_LIMIT:
        return False
    return any(
        len(line.encode(errors="surrogateescape")) > RFC5322_EMAIL_LINE_LENGTH_LIMIT
        for line in content.splitlines()
    )


def _crlf(content: str) -> str:
    """Every line end as CRLF, as the generator writes them (its NLCRE)."""
    if "\r" not in content:
        return content.replace("\n", "\r\n")
    return _NEWLINE.sub("\r\n", content)


def _text_part(content: str, subtype: str) -> tuple[bytes, bytes] | None:
    """One SafeMIMEText part (headers and body) as the generator writes it; None where Django
    would choose quoted-printable (a line over 998 bytes)."""
    if not isinstance(content, str) or not content:
        return None
    encoded = content.encode("utf-8")
    if _has_long_line(content, encoded):
        return None
    transfer_encoding = "7bit" if encoded.isascii() else "8bit"
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"MIME-Version: 1.0\r\nContent-Transfer-Encoding: {transfer_encoding}\r\n"
    ).encode()
    return head, _crlf(content).encode("utf-8")


@lru_cache(maxsize=1)
def _folded_alternative_type() -> bytes:
    # Every boundary has the same length and characters that folding treats alike, so the
    # folded header is the same with the boundary swapped in.
    return _CRLF_POLICY.fold_binary(
        "Content-Type", f'multipart/alternative; boundary="{_PLACEHOLDER_BOUNDARY}"'
    )


def direct_bytes(email: EmailMultiAlternatives, *, boundary: str, date: str) -> bytes | None:
    """The wire bytes of `email` if it is of the common kind, else None."""
    if (
        email.attachments
        or email.cc
        or set(email.extra_headers) != {"Message-ID"}
        or (email.encoding or settings.DEFAULT_CHARSET) != "utf-8"
    ):
        return None
    alternatives = getattr(email, "alternatives", [])
    if alternatives and getattr(email, "alternative_subtype", "") != "alternative":
        return None
    if not alternatives:
        parts = [(email.body, email.content_subtype)]
    elif len(alternatives) == 1 and alternatives[0].mimetype == "text/html" and email.body:
        parts = [(email.body, email.content_subtype), (alternatives[0].content, "html")]
    else:
        return None
    try:
        written = [_text_part(content, subtype) for content, subtype in parts]
    except UnicodeEncodeError:  # lone surrogates: let the standard path raise its error
        return None
    if None in written:
        return None

    headers = []
    if len(written) == 1:
        ((part_head, body),) = written
        headers.append(part_head)
    else:
        headers.append(
            _folded_alternative_type().replace(_PLACEHOLDER_BOUNDARY.encode(), boundary.encode())
        )
        headers.append(b"MIME-Version: 1.0\r\n")
        separator = f"\r\n--{boundary}\r\n".encode()
        body = (
            f"--{boundary}\r\n".encode()
            + separator.join(head + b"\r\n" + text for head, text in written)
            + f"\r\n--{boundary}--\r\n".encode()
        )
    headers.append(_header("Subject", email.subject))
    headers.append(_header("From", email.from_email))
    if email.to:
        headers.append(_header("To", ", ".join(str(v) for v in email.to)))
    if email.reply_to:
        headers.append(_header("Reply-To", ", ".join(str(v) for v in email.reply_to)))
    headers.append(_header("Date", date))
    headers.append(_header("Message-ID", email.extra_headers["Message-ID"]))
    return b"".join(headers) + b"\r\n" + body


def wire_bytes(email: EmailMultiAlternatives) -> bytes:
    """What goes after DATA: the same bytes as `email.message().as_bytes(linesep="\\r\\n")`."""
    direct = direct_bytes(
        email, boundary=_boundary(), date=formatdate(localtime=settings.EMAIL_USE_LOCALTIME)
    )
    if direct is not None:
        return direct
    return email.message().as_bytes(linesep="\r\n")
