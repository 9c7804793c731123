"""Every SMTP message carries a signed VERP return path naming it; forgeries do not verify."""

import pytest

from delivery.models import Message
from delivery.return_paths import looks_like_return_path, return_path, verified_message_pk

pytestmark = pytest.mark.django_db


def test_return_path_names_the_message_and_verifies():
    address = return_path(4711, "orders@shop.example")

    assert address.startswith("bounces+4711-")
    assert address.endswith("@shop.example")
    assert len(address.partition("@")[0]) <= 64
    assert verified_message_pk(address) == 4711
    assert verified_message_pk(f"<{address.upper()}>") == 4711


def test_bounce_domain_setting_replaces_the_sender_domain(settings):
    settings.TRIGGERED_EMAIL_BOUNCE_DOMAIN = "bounces.shop.example"

    address = return_path(5, "orders@shop.example")

    assert address.endswith("@bounces.shop.example")
    assert verified_message_pk(address) == 5


@pytest.mark.parametrize(
    "forged",
    [
        "bounces+4712-{sig}@shop.example",  # another message's id with this signature
        "bounces+4711-00000000000000000000@shop.example",
        "bounces+4711@shop.example",
        "bounces+4711-{sig}x@shop.example",
        "orders@shop.example",
        "",
        "bounces+99999999999999999999999-{sig}@shop.example",
    ],
)
def test_forged_or_unsigned_return_paths_do_not_verify(forged):
    signature = return_path(4711, "orders@shop.example").split("-")[1].split("@")[0]

    assert verified_message_pk(forged.format(sig=signature)) is None


def test_another_secret_key_does_not_verify(settings):
    address = return_path(4711, "orders@shop.example")

    settings.SECRET_KEY = "another-installation-" + "x" * 40

    assert verified_message_pk(address) is None
    assert looks_like_return_path(address)


def test_smtp_envelope_sender_is_the_return_path_and_from_header_unchanged(
    api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org")

    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "1"}},
    )

    [mail] = smtp_server.wait_for(1)
    message = Message.objects.get()
    assert verified_message_pk(mail.mail_from) == message.pk
    # The sender domain's return-path domain, which `dns_records` gives an MX.
    assert mail.mail_from.endswith("@bounces.example.com")
    assert mail.message["From"] == "Example Shop <orders@example.com>"
    assert "bounces+" not in mail.message.as_string()


def test_verp_off_keeps_the_sender_address_as_envelope_sender(
    api, smtp_server, make_stream, make_contact, settings
):
    settings.TRIGGERED_EMAIL_VERP = False
    stream = make_stream()
    make_contact("jane@example.org")

    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "1"}},
    )

    [mail] = smtp_server.wait_for(1)
    assert mail.mail_from == "orders@example.com"


def test_a_sender_domains_own_return_path_domain_is_the_bounce_domain(make_stream):
    from senders.models import SenderDomain

    SenderDomain.objects.filter(name="example.com").update(return_path_domain="rp.example.com")

    assert return_path(7, "orders@example.com").endswith("@rp.example.com")


def test_a_sender_on_no_sender_domain_bounces_to_its_own_domain(db):
    assert return_path(7, "orders@elsewhere.example").endswith("@elsewhere.example")
