"""delivery.smtp_backend's envelope_address and envelope_path give what Django's
sanitize_address and smtplib's quoteaddr give, faster for plain addresses."""

import smtplib

import pytest
from django.core.mail.message import sanitize_address
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.smtp_backend import _PLAIN_ADDRESS, envelope_address, envelope_path


def outcome(address, sanitize):
    try:
        return sanitize(address, "utf-8")
    except Exception as exc:  # both must refuse alike
        return type(exc)


@pytest.mark.parametrize(
    "address",
    [
        "jane@example.org",
        "Jane.Doe+orders@Example.ORG",
        "o'brien!#$%&*/=?^_`{|}~-@sub-1.example.co.uk",
        "Demo Shop <orders@example.com>",
        "Café Müller <service@example.com>",
        "müller@example.com",
        "jane@bücher.example",
        '"quoted local"@example.com',
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@example.com.",
        "a@" + "x" * 63 + ".example",
        "a@" + "x" * 64 + ".example",
        "a@-example.com",
        "a@",
        "@example.com",
        "not an address",
        "a@b@c",
        "jane@example.org\nBcc: x@example.org",
        ("Jane", "jane@example.org"),
    ],
)
def test_envelope_address_is_sanitize_address(address):
    assert outcome(address, envelope_address) == outcome(address, sanitize_address)


@pytest.mark.parametrize(
    "address",
    [
        "jane@example.org",
        "Demo Shop <orders@example.com>",
        "=?utf-8?q?Caf=C3=A9?= <service@example.com>",
        "müller@example.com",
        '"quoted local"@example.com',
        "<already@bracketed.example>",
        "",
        "not an address",
    ],
)
def test_envelope_path_is_quoteaddr(address):
    assert envelope_path(address) == smtplib.quoteaddr(address)


@settings(max_examples=500, deadline=None)
@given(st.from_regex(_PLAIN_ADDRESS, fullmatch=True))
def test_every_address_taken_without_parsing_is_returned_unchanged_by_django(address):
    assert sanitize_address(address, "utf-8") == address
    assert envelope_address(address, "utf-8") == address
    assert smtplib.quoteaddr(address) == envelope_path(address) == f"<{address}>"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_treated_as_django_treats_it(address):
    assert outcome(address, envelope_address) == outcome(address, sanitize_address)
