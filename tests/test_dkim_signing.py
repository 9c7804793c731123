"""DKIM signatures made at the end of the SMTP lane verify, with dkimpy's own verifier, over the
bytes the MTA received; rotation goes through a pending selector; the MTA switch turns it off."""

from __future__ import annotations

import dkim
import pytest
from django.test import override_settings

from senders import dns_lookup, signing
from senders.dns_checks import check_domain
from senders.dns_records import expected_records
from senders.keys import activate_pending, add_domain, ensure_keys, start_rotation
from senders.models import DkimKey, SenderDomain

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "A-17", "items": [{"name": "Espresso beans"}]}


def published_txt(domain: SenderDomain) -> dict[str, list[str]]:
    """The TXT answers DNS gives once the records the app asks for are published."""
    return {
        record.name: [record.value] for record in expected_records(domain) if record.rdtype == "TXT"
    }


def dns_for(*domains: SenderDomain):
    answers: dict[str, list[str]] = {}
    for domain in domains:
        answers.update(published_txt(domain))

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        values = answers.get(name.decode().rstrip("."), [])
        return values[0].encode() if values else b""

    return dnsfunc


def send_one(api, stream, email="jane@example.org"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": ORDER},
    )
    assert response.json()["replyCode"] == 0, response.content


def signatures(raw: bytes) -> list[dict[bytes, bytes]]:
    parsed = dkim.DKIM(raw)
    return [
        dkim.util.parse_tag_value(value)
        for name, value in parsed.headers
        if name.lower() == b"dkim-signature"
    ]


def test_sent_mail_carries_a_signature_that_verifies(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org")
    domain = SenderDomain.objects.get(name="example.com")

    send_one(api, stream)

    [mail] = smtp_server.wait_for(1)
    [signature] = signatures(mail.raw)
    assert signature[b"a"] == b"rsa-sha256"
    assert signature[b"d"] == b"example.com"
    assert signature[b"s"] == b"test"
    assert b"from" in signature[b"h"].split(b":")
    assert dkim.verify(mail.raw, dnsfunc=dns_for(domain))


def test_signature_covers_tracked_links_and_fails_when_a_link_changes(
    api, smtp_server, make_stream, make_contact
):
    stream = make_stream(html='<p><a href="https://shop.example.com/o">Order</a></p>')
    stream.track_clicks = True
    stream.track_opens = True
    stream.save()
    make_contact("jane@example.org")
    domain = SenderDomain.objects.get(name="example.com")

    send_one(api, stream)

    [mail] = smtp_server.wait_for(1)
    assert b"/t/c/" in mail.raw  # the link was rewritten before signing
    assert dkim.verify(mail.raw, dnsfunc=dns_for(domain))
    tampered = mail.raw.replace(b"/t/c/", b"/t/x/", 1)
    assert not dkim.verify(tampered, dnsfunc=dns_for(domain))


def test_changed_header_breaks_the_signature(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org")
    domain = SenderDomain.objects.get(name="example.com")

    send_one(api, stream)

    [mail] = smtp_server.wait_for(1)
    tampered = mail.raw.replace(b"Subject: Your order #A-17", b"Subject: Your order #A-18")
    assert tampered != mail.raw
    assert not dkim.verify(tampered, dnsfunc=dns_for(domain))


def test_mta_signing_switch_sends_unsigned(api, smtp_server, make_stream, make_contact, settings):
    settings.TRIGGERED_EMAIL_DKIM_SIGNING = "mta"
    stream = make_stream()
    make_contact("jane@example.org")

    send_one(api, stream)

    [mail] = smtp_server.wait_for(1)
    assert signatures(mail.raw) == []


def test_ed25519_signs_in_addition_where_configured(
    api, smtp_server, make_stream, make_contact, settings
):
    settings.TRIGGERED_EMAIL_DKIM_ALGORITHMS = ["rsa-sha256", "ed25519-sha256"]
    domain = SenderDomain.objects.get(name="example.com")
    [ed_key] = ensure_keys(domain)
    assert ed_key.algorithm == DkimKey.Algorithm.ED25519
    stream = make_stream()
    make_contact("jane@example.org")

    send_one(api, stream)

    [mail] = smtp_server.wait_for(1)
    algorithms = sorted(signature[b"a"] for signature in signatures(mail.raw))
    assert algorithms == [b"ed25519-sha256", b"rsa-sha256"]
    dnsfunc = dns_for(domain)
    # dkimpy verifies the first signature by default; idx=1 the second.
    assert dkim.DKIM(mail.raw).verify(idx=0, dnsfunc=dnsfunc)
    assert dkim.DKIM(mail.raw).verify(idx=1, dnsfunc=dnsfunc)


def test_rotation_signs_with_the_new_selector_only_after_activation(
    api, smtp_server, make_stream, make_contact, monkeypatch
):
    domain = add_domain("mail.example.net")
    domain.vouch("records managed elsewhere")
    [old] = domain.dkim_keys.all()
    stream = make_stream(sender_email="orders@mail.example.net")
    make_contact("jane@example.org")

    pending = start_rotation(domain)
    assert pending.selector != old.selector
    send_one(api, stream)
    [first] = smtp_server.wait_for(1)
    assert [s[b"s"] for s in signatures(first.raw)] == [old.selector.encode()]

    # Refused until a check found the pending record published.
    with pytest.raises(Exception, match="was not found by the last check"):
        activate_pending(domain)
    answers = published_txt(domain)
    monkeypatch.setattr(
        dns_lookup,
        "resolver",
        lambda name, rdtype: answers.get(name, []) if rdtype == "TXT" else [],
    )
    check_domain(domain)
    activate_pending(domain)
    # Other workers pick the new key up within TRIGGERED_EMAIL_DKIM_KEY_REFRESH_SECONDS.
    signing.forget_keys()

    send_one(api, stream)
    second = smtp_server.wait_for(2)[1]
    assert [s[b"s"] for s in signatures(second.raw)] == [pending.selector.encode()]
    assert dkim.verify(second.raw, dnsfunc=dns_for(domain))
    old.refresh_from_db()
    assert old.state == DkimKey.State.RETIRED


def test_signing_is_compiled_rsa_not_dkimpy_python_rsa(monkeypatch):
    """The RSA operation must come from OpenSSL: dkimpy's pure-Python one is never called."""
    import dkim as dkim_module

    def forbidden(*args, **kwargs):
        raise AssertionError("dkimpy's pure-Python RSA was used")

    monkeypatch.setattr(dkim_module, "RSASSA_PKCS1_v1_5_sign", forbidden)
    domain = SenderDomain.objects.get(name="example.com")
    [signer] = signing.signers_for("example.com")
    message = (
        b"From: Shop <orders@example.com>\r\nTo: jane@example.org\r\nSubject: Hi\r\n"
        b"Date: Thu, 03 Dec 2026 18:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello\r\n"
    )
    signed = signer.sign(message) + message
    assert dkim.verify(signed, dnsfunc=dns_for(domain))


@override_settings(TRIGGERED_EMAIL_DKIM_SIGNING="app")
def test_sender_without_a_domain_key_is_sent_unsigned_and_logged(caplog):
    message = b"From: a@nowhere.example\r\nSubject: x\r\n\r\nbody\r\n"
    with caplog.at_level("WARNING", logger="senders.signing"):
        assert signing.sign_message(message, "a@nowhere.example") == message
    assert "No active DKIM key for 'nowhere.example'" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"Hello\r\n",
        b"Hello\r\n\r\n\r\n",
        b"Hello",
        b"Hello  \r\n\tworld \r\n\r\n",
        b"bare\nline ends\n\n",
        b"mixed\r\nand\nbare\r\n\n",
        b"lone CR at the end\r",
        b"ends in\r\n\r",
    ],
)
def test_simple_body_canonicalisation_matches_dkimpy(body):
    from dkim.canonicalization import CanonicalizationPolicy

    dkimpy = CanonicalizationPolicy.from_c_value(b"relaxed/simple").canonicalize_body(body)
    assert signing.simple_body(body) == dkimpy


@pytest.mark.parametrize(
    "head",
    [
        b"From: Shop <orders@example.com>\r\nTo: a@example.org\r\nSubject: Hi",
        b"From:  Shop   <orders@example.com>  \r\nSubject:\tTabs\t and  spaces \t",
        b"Subject: =?utf-8?q?a_long_subject?=\r\n =?utf-8?q?folded_here?=\r\n\tand here\r\n"
        b"From: x@example.com\r\nFROM: second@example.com",
        b"Subject:no space\r\nfrom: lower@example.com\r\nTo:\r\n a@example.org",
        b"From: x@example.com\r\nX-Other: not signed\r\nSubject: ",
    ],
)
def test_relaxed_header_canonicalisation_matches_dkimpy(head):
    from dkim.canonicalization import CanonicalizationPolicy

    include = [b"from", b"subject", b"to", b"from", b"subject", b"to", b"cc"]
    headers = signing._parse_head(head)
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    dkimpy_headers, _ = dkim.rfc822_parse(head + b"\r\n\r\n")
    selected = dkim.select_headers(policy.canonicalize_headers(dkimpy_headers), include)
    expected = b"".join(name + b":" + value for name, value in selected)
    assert signing.relaxed_headers(headers, include) == expected


def test_mail_with_a_return_path_elsewhere_is_signed_for_its_from_domain(
    api, smtp_server, make_stream, make_contact, settings
):
    settings.TRIGGERED_EMAIL_BOUNCE_DOMAIN = "bounces.elsewhere.example"
    stream = make_stream()
    make_contact("jane@example.org")
    domain = SenderDomain.objects.get(name="example.com")

    send_one(api, stream)

    [mail] = smtp_server.wait_for(1)
    assert mail.mail_from.endswith("@bounces.elsewhere.example")
    [signature] = signatures(mail.raw)
    assert signature[b"d"] == b"example.com"
    assert dkim.verify(mail.raw, dnsfunc=dns_for(domain))
