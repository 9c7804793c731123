"""`manage.py dns_records DOMAIN` prints the records to publish in zone-file form, and the
demo's mail (what `make run` writes to var/outbox/) verifies against exactly those records."""

from __future__ import annotations

import re
import time
from io import StringIO

import dkim
import pytest
from django.core.management import CommandError, call_command

from delivery.mail_catcher import start as start_mail_catcher
from senders.models import SenderDomain
from tests.conftest import free_port
from triggered_email import demo

pytestmark = pytest.mark.django_db

ZONE_LINE = re.compile(r"(?P<name>\S+)\. IN (?P<type>TXT|MX) (?P<value>.+)")


def dns_records(*args: str) -> list[str]:
    out = StringIO()
    call_command("dns_records", *args, stdout=out)
    return out.getvalue().splitlines()


def txt_zone(lines: list[str]) -> dict[str, bytes]:
    """The TXT records of zone-file lines, as a resolver would answer them (strings joined)."""
    zone = {}
    for line in lines:
        match = ZONE_LINE.fullmatch(line)
        assert match, f"not a zone-file line: {line!r}"
        if match["type"] == "TXT":
            zone[match["name"]] = "".join(re.findall(r'"([^"]*)"', match["value"])).encode()
    return zone


def test_prints_one_zone_file_line_per_record():
    domain = SenderDomain.objects.get(name="example.com")
    [key] = domain.dkim_keys.all()

    lines = dns_records("Example.COM.")

    assert lines[0].startswith('test._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=')
    assert txt_zone(lines)["test._domainkey.example.com"] == (
        f"v=DKIM1; k=rsa; p={key.public_key}".encode()
    )
    # Every TXT string fits the 255-byte limit of one DNS string.
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', lines[0]))
    assert 'example.com. IN TXT "v=spf1 mx ~all"' in lines
    assert (
        '_dmarc.example.com. IN TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"'
        in (lines)
    )
    assert "bounces.example.com. IN MX 10 127.0.0.1." in lines
    assert len(lines) == 4


def test_spf_include_setting_is_in_the_record(settings):
    settings.TRIGGERED_EMAIL_SPF_INCLUDE = "spf.mta.example.net"

    assert 'example.com. IN TXT "v=spf1 include:spf.mta.example.net ~all"' in dns_records(
        "example.com"
    )


@pytest.mark.parametrize("junk", ["", "exa mple.com", "a@example.com", "-x-.example", "com"])
def test_junk_domain_names_are_refused_with_a_message(junk):
    with pytest.raises(CommandError, match="domain"):
        dns_records(junk)


def test_unknown_domain_says_how_to_add_it():
    with pytest.raises(CommandError, match="Admin → Sender domains"):
        dns_records("mail.example.org")


def test_demo_mail_in_the_outbox_verifies_against_the_printed_records(
    api, settings, tmp_path, make_contact
):
    # The demo creates its own domain and key, as on a fresh laptop.
    SenderDomain.objects.filter(name=demo.DEMO_DOMAIN).delete()
    settings.VAR_DIR = tmp_path
    port = free_port()
    catcher = start_mail_catcher(tmp_path / "outbox", "127.0.0.1", port)
    settings.TRIGGERED_EMAIL_BACKEND = "delivery.smtp_backend.EmailBackend"
    settings.TRIGGERED_EMAIL_SMTP = {
        "host": "127.0.0.1", "port": port, "username": "", "password": "",
        "use_tls": False, "use_ssl": False, "timeout": 5,
    }  # fmt: skip
    try:
        call_command("seed_demo", stdout=StringIO())
        domain = SenderDomain.objects.get(name=demo.DEMO_DOMAIN)
        assert domain.is_verified and domain.verification == "operator"
        response = api.post(
            f"/api/v2/event/{demo.ExternalEvent.objects.get(name=demo.DEMO_EVENT).pk}/trigger",
            {"key_id": "3", "external_id": demo.DEMO_CONTACT, "data": demo.SAMPLE_DATA},
        )
        assert response.json()["replyCode"] == 0, response.content
        deadline = time.monotonic() + 10
        while not list((tmp_path / "outbox").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        catcher.stop()

    [stored] = list((tmp_path / "outbox").glob("*.eml"))
    raw = stored.read_bytes()
    zone = txt_zone(dns_records(demo.DEMO_DOMAIN))
    [key] = domain.dkim_keys.all()
    assert key.selector != "test"  # the demo's own key, not the tests'
    assert b"s=" + key.selector.encode() in raw
    assert dkim.verify(
        raw, dnsfunc=lambda name, timeout=5: zone.get(name.decode().rstrip("."), b"")
    )
