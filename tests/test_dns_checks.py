"""Checking sender domains' DNS records (recorded answers at the resolver seam, no network):
status and reason per record, verification, the flag when DKIM disappears, junk answers."""

from __future__ import annotations

import dns.exception
import pytest
from django_q.models import Schedule

from senders.dns_checks import check_all, check_domain
from senders.keys import add_domain
from senders.models import DnsRecordCheck, SenderDomain

pytestmark = pytest.mark.django_db


def statuses(domain: SenderDomain) -> dict[str, str]:
    return {check.kind: check.status for check in domain.record_checks.all()}


def test_published_records_verify_the_domain(recorded_dns):
    domain = add_domain("mail.example.net")
    assert not domain.is_verified
    recorded_dns.publish(domain)

    check_domain(domain)

    assert domain.verification == SenderDomain.Verification.DNS
    assert domain.verified_at is not None and domain.records_ok is True
    assert statuses(domain) == {
        "dkim": "ok", "spf": "ok", "dmarc": "ok", "return_path": "ok",
    }  # fmt: skip


def test_missing_records_say_what_to_publish_and_leave_the_domain_unverified(recorded_dns):
    domain = add_domain("mail.example.net")

    check_domain(domain)

    assert not domain.is_verified and domain.records_ok is False
    checks = {check.kind: check for check in domain.record_checks.all()}
    assert checks["dkim"].status == "missing"
    assert "publish it" in checks["dkim"].reason
    assert checks["spf"].status == "missing" and "v=spf1 mx ~all" in checks["spf"].reason
    assert checks["dmarc"].required is False


def test_spf_and_dmarc_are_enough_without_the_recommended_records(recorded_dns):
    domain = add_domain("mail.example.net")
    recorded_dns.publish(domain)
    del recorded_dns.answers[("_dmarc.mail.example.net", "TXT")]
    del recorded_dns.answers[("bounces.mail.example.net", "MX")]

    check_domain(domain)

    assert domain.is_verified
    assert statuses(domain)["dmarc"] == "missing"


def test_vanished_dkim_record_flags_the_domain_on_the_dashboard(recorded_dns, admin_client):
    domain = add_domain("mail.example.net")
    recorded_dns.publish(domain)
    check_domain(domain)
    assert "sender-domain-notice" not in admin_client.get("/dashboard/").content.decode()

    [key] = domain.dkim_keys.all()
    del recorded_dns.answers[(key.record_name, "TXT")]
    assert check_all() == 2  # example.com too

    domain.refresh_from_db()
    assert domain.is_verified  # it keeps sending: stopping password resets would be worse
    assert domain.records_ok is False
    assert statuses(domain)["dkim"] == "missing"
    page = admin_client.get("/dashboard/").content.decode()
    assert 'id="sender-domain-notice"' in page
    assert "mail.example.net" in page and key.record_name in page
    assert "fails DKIM" in page


def test_a_different_or_revoked_key_is_wrong_not_ok(recorded_dns):
    domain = add_domain("mail.example.net")
    recorded_dns.publish(domain)
    [key] = domain.dkim_keys.all()
    recorded_dns.answers[(key.record_name, "TXT")] = ["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiGOTHER"]
    check_domain(domain)
    assert statuses(domain)["dkim"] == "wrong"
    assert "different key" in domain.record_checks.get(kind="dkim").reason

    recorded_dns.answers[(key.record_name, "TXT")] = ["v=DKIM1; k=rsa; p="]
    check_domain(domain)
    assert "revoked" in domain.record_checks.get(kind="dkim").reason


def test_two_spf_records_are_an_error_receivers_see(recorded_dns):
    domain = add_domain("mail.example.net")
    recorded_dns.publish(domain)
    recorded_dns.answers[("mail.example.net", "TXT")] = ["v=spf1 mx ~all", "v=spf1 -all"]

    check_domain(domain)

    check = domain.record_checks.get(kind="spf")
    assert check.status == "wrong" and "merge them" in check.reason
    assert not domain.is_verified


@pytest.mark.parametrize(
    "answer",
    [
        dns.exception.Timeout(),
        RuntimeError("resolver exploded"),
        None,  # not a list
        ["\x00\xff junk \u202e" * 500],
        [12345, b"bytes"],
        ["p=" * 1000],
    ],
)
def test_junk_answers_are_recorded_never_raised(recorded_dns, answer, admin_client):
    domain = add_domain("mail.example.net")
    recorded_dns.publish(domain)
    [key] = domain.dkim_keys.all()
    recorded_dns.answers[(key.record_name, "TXT")] = answer
    recorded_dns.answers[("mail.example.net", "TXT")] = answer

    check_domain(domain)

    assert statuses(domain)["dkim"] in {"error", "wrong", "missing"}
    assert all(len(check.reason) < 1000 for check in domain.record_checks.all())
    page = admin_client.get(f"/admin/senders/senderdomain/{domain.pk}/change/")
    assert page.status_code == 200


def test_lookup_failure_is_an_error_with_the_reason(recorded_dns):
    domain = add_domain("mail.example.net")
    recorded_dns.publish(domain)
    recorded_dns.answers[("mail.example.net", "TXT")] = dns.exception.Timeout()

    check_domain(domain)

    check = domain.record_checks.get(kind=DnsRecordCheck.Kind.SPF)
    assert check.status == "error" and "DNS lookup failed" in check.reason


def test_the_periodic_check_runs_on_the_transactional_lane(settings):
    schedule = Schedule.objects.get(name="sender-dns-checks")
    assert schedule.func == "senders.dns_checks.check_all"
    assert schedule.cluster == "transactional"
    assert schedule.minutes == settings.TRIGGERED_EMAIL_DNS_CHECK_EVERY_MINUTES
