"""delivery.smtp_backend.envelope_address gives what Django's sanitize_address gives."""

import pytest
from django.core.mail.message import sanitize_address
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.smtp_backend import _PLAIN_ADDRESS, envelope_address


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


@settings(max_examples=500, deadline=None)
@given(st.from_regex(_PLAIN_ADDRESS, fullmatch=True))
def test_every_address_taken_without_parsing_is_returned_unchanged_by_django(address):
    assert sanitize_address(address, "utf-8") == address
    assert envelope_address(address, "utf-8") == address


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_treated_as_django_treats_it(address):
    assert outcome(address, envelope_address) == outcome(address, sanitize_address)
