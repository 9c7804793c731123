"""Sender domains in the admin: names normalised or refused, the records to publish shown, the
private key never; a stream's sender must be on a verified domain."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from senders.domain_names import DomainNameError, normalise_domain
from senders.keys import add_domain, start_rotation
from senders.models import DkimKey, SenderDomain
from streams.marketers import MARKETERS_GROUP
from streams.models import MailStream

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/senders/senderdomain/add/"


@pytest.fixture
def marketer_client(client):
    user = User.objects.create_user("mia", "mia@example.com", "pw-for-tests-only", is_staff=True)
    user.groups.add(Group.objects.get(name=MARKETERS_GROUP))
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Mail.Example.COM. ", "mail.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    ],
)
def test_domain_names_are_normalised(raw, stored):
    assert normalise_domain(raw) == stored


@pytest.mark.parametrize(
    "junk",
    ["", " ", "exa mple.com", "orders@example.com", "https://example.com/", "-bad-.example",
     "localhost", "a..example", "x" * 64 + ".example", "\u202eexample.com", "ex\x00ample.com"],
)  # fmt: skip
def test_junk_domain_names_are_refused_with_a_message(junk):
    with pytest.raises(DomainNameError) as refused:
        normalise_domain(junk)
    assert str(refused.value)


def test_admin_adds_a_domain_normalised_with_an_rsa_key_and_shows_its_records(admin_client):
    response = admin_client.post(ADD_URL, {"name": "  Mail.Example.NET. "}, follow=True)

    assert response.status_code == 200
    domain = SenderDomain.objects.get(name="mail.example.net")
    [key] = domain.dkim_keys.all()
    assert key.algorithm == DkimKey.Algorithm.RSA and key.state == DkimKey.State.ACTIVE
    assert not domain.is_verified
    page = admin_client.get(f"/admin/senders/senderdomain/{domain.pk}/change/").content.decode()
    assert f"{key.selector}._domainkey.mail.example.net. IN TXT" in page
    assert key.public_key[:200] in page
    assert "v=spf1 mx ~all" in page and "_dmarc.mail.example.net" in page
    # The private key appears nowhere: not as PEM, not sealed.
    assert "PRIVATE KEY" not in page
    assert key.sealed_private_key[:40] not in page


@pytest.mark.parametrize("junk", ["exa mple.com", "orders@example.com", "bad_label.example"])
def test_admin_refuses_junk_names_with_a_message(admin_client, junk):
    response = admin_client.post(ADD_URL, {"name": junk})

    assert response.status_code == 200
    assert "errornote" in response.content.decode() or "errorlist" in response.content.decode()
    assert not SenderDomain.objects.exclude(name="example.com").exists()


def test_admin_refuses_a_second_domain_of_the_same_name_in_another_spelling(admin_client):
    response = admin_client.post(ADD_URL, {"name": "EXAMPLE.com."})

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert SenderDomain.objects.count() == 1


def test_vouching_needs_a_note_and_keeps_it(admin_client):
    domain = add_domain("mail.example.net")
    url = f"/admin/senders/senderdomain/{domain.pk}/change/"

    refused = admin_client.post(url, {"vouch": "on", "operator_note": ""})
    assert "Say why this domain may send" in refused.content.decode()
    domain.refresh_from_db()
    assert not domain.is_verified

    admin_client.post(url, {"vouch": "on", "operator_note": "records managed in our DNS team"})
    domain.refresh_from_db()
    assert domain.verification == SenderDomain.Verification.OPERATOR
    assert domain.operator_note == "records managed in our DNS team"


def test_check_rotate_and_activate_actions(admin_client, recorded_dns):
    domain = add_domain("mail.example.net")
    changelist = "/admin/senders/senderdomain/"

    def act(action):
        return admin_client.post(
            changelist, {"action": action, "_selected_action": [domain.pk]}, follow=True
        ).content.decode()

    assert "not found by the last check" not in act("rotate_keys")
    pending = domain.dkim_keys.get(state=DkimKey.State.PENDING)
    assert "was not found by the last check" in act("activate_keys")
    recorded_dns.publish(domain)
    assert "every required record is published" in act("check_records")
    assert f"{pending.selector} signs from now on" in act("activate_keys")
    assert domain.dkim_keys.get(state=DkimKey.State.ACTIVE) == pending


def test_marketer_sees_domains_but_cannot_change_them(marketer_client):
    domain = SenderDomain.objects.get(name="example.com")
    start_rotation(domain)

    assert marketer_client.get("/admin/senders/senderdomain/").status_code == 200
    page = marketer_client.get(f"/admin/senders/senderdomain/{domain.pk}/change/")
    assert page.status_code == 200
    assert "PRIVATE KEY" not in page.content.decode()
    assert marketer_client.get(ADD_URL).status_code == 403
    response = marketer_client.post(
        "/admin/senders/senderdomain/",
        {"action": "check_records", "_selected_action": [domain.pk]},
    )
    assert response.status_code in (200, 302, 403)
    assert not domain.record_checks.exists()


def test_junk_ids_in_sender_domain_urls_are_404(admin_client):
    for url in ("/admin/senders/senderdomain/999999/change/", "/admin/senders/senderdomain/x/"):
        assert admin_client.get(url).status_code in (302, 404)


def test_stream_sender_must_be_on_a_verified_domain(make_stream):
    add_domain("mail.example.net")
    stream = make_stream()

    stream.sender_email = "orders@mail.example.net"
    with pytest.raises(ValidationError) as unverified:
        stream.clean()
    assert "not verified yet" in str(unverified.value)
    assert "Check DNS records now" in str(unverified.value)

    stream.sender_email = "orders@elsewhere.example"
    with pytest.raises(ValidationError, match="not a sender domain"):
        stream.clean()

    stream.sender_email = "orders@EXAMPLE.com"
    stream.clean()


def test_edit_stream_and_launch_refuse_an_unverified_sender_with_what_to_do(make_stream):
    add_domain("mail.example.net")
    stream = make_stream()

    with pytest.raises(CommandError, match="not verified yet"):
        call_command("edit_stream", str(stream.pk), "--sender", "orders@mail.example.net")
    assert "not verified yet" in " ".join(
        MailStream(name="x", sender_email="orders@mail.example.net").launch_problems()
    )
