"""Checking that a sender domain's records are published, on demand and on a schedule."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from senders.dns_lookup import LookupFailed, lookup
from senders.dns_records import ExpectedRecord, expected_records, spf_value
from senders.models import DnsRecordCheck, SenderDomain

logger = logging.getLogger(__name__)

Status = DnsRecordCheck.Status
_SHOWN = 120  # characters of a found value quoted in a reason


@dataclass(frozen=True)
class Finding:
    status: str
    reason: str


def _quoted(values: list[str]) -> str:
    return ", ".join(
        repr(value[:_SHOWN] + ("…" if len(value) > _SHOWN else "")) for value in values
    )


def _tags(value: str) -> dict[str, str]:
    """DKIM tag=value pairs; junk parts are skipped (a record is judged by its p= tag)."""
    tags = {}
    for part in value.split(";"):
        name, sep, tag_value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = "".join(tag_value.split())
    return tags


def judge_dkim(record: ExpectedRecord, answers: list[str]) -> Finding:
    keys = [tags for tags in map(_tags, answers) if "p" in tags]
    if not keys:
        if answers:
            return Finding(
                Status.WRONG, f"TXT found but no DKIM key (p=) in it: {_quoted(answers)}"
            )
        return Finding(Status.MISSING, f"no TXT record at {record.name}: publish it")
    if record.public_key is None:  # the MTA signs: any published key will do
        if any(tags["p"] for tags in keys):
            return Finding(Status.OK, "a DKIM key is published")
        return Finding(Status.WRONG, "the published DKIM key is empty (revoked)")
    if any(tags["p"] == record.public_key for tags in keys):
        return Finding(Status.OK, "the key matches")
    if all(not tags["p"] for tags in keys):
        return Finding(Status.WRONG, "the published key is empty (revoked): publish the record")
    return Finding(
        Status.WRONG, "a different key is published: replace it with the record shown here"
    )


def judge_spf(record: ExpectedRecord, answers: list[str]) -> Finding:
    spf = [value for value in answers if value.strip().lower().startswith("v=spf1")]
    if not spf:
        return Finding(Status.MISSING, f"no SPF record at {record.name}: publish {spf_value()!r}")
    if len(spf) > 1:
        return Finding(
            Status.WRONG,
            f"{len(spf)} SPF records (receivers treat that as an error): merge them into one",
        )
    wanted = spf_value().split()[1]  # include:… or mx
    if wanted.lower() not in spf[0].lower().split():
        return Finding(Status.WRONG, f"the SPF record {_quoted(spf)} lacks {wanted}: add it")
    return Finding(Status.OK, "SPF authorises the sending path")


def judge_dmarc(record: ExpectedRecord, answers: list[str]) -> Finding:
    dmarc = [value for value in answers if value.strip().upper().startswith("V=DMARC1")]
    if not dmarc:
        return Finding(Status.MISSING, f"no DMARC record at {record.name}: publish one")
    if len(dmarc) > 1:
        return Finding(Status.WRONG, f"{len(dmarc)} DMARC records: receivers ignore them all")
    return Finding(Status.OK, f"DMARC published: {_quoted(dmarc)}")


def judge_mx(record: ExpectedRecord, answers: list[str]) -> Finding:
    wanted = record.value.split()[-1].rstrip(".").lower()
    hosts = [answer.split()[-1].rstrip(".").lower() for answer in answers if answer.split()]
    if not hosts:
        return Finding(Status.MISSING, f"no MX record at {record.name}: bounces cannot come back")
    if wanted not in hosts:
        return Finding(Status.WRONG, f"the MX points to {_quoted(hosts)}, not {wanted}")
    return Finding(Status.OK, "bounces reach this installation")


_JUDGES = {
    DnsRecordCheck.Kind.DKIM: judge_dkim,
    DnsRecordCheck.Kind.DKIM_PENDING: judge_dkim,
    DnsRecordCheck.Kind.SPF: judge_spf,
    DnsRecordCheck.Kind.DMARC: judge_dmarc,
    DnsRecordCheck.Kind.RETURN_PATH: judge_mx,
}


def find(record: ExpectedRecord) -> Finding:
    try:
        answers = lookup(record.name, record.rdtype)
    except LookupFailed as exc:
        return Finding(Status.ERROR, f"DNS lookup failed: {str(exc)[:300]}")
    return _JUDGES[record.kind](record, answers)


def check_domain(domain: SenderDomain) -> list[DnsRecordCheck]:
    """Look every record up (outside any transaction), then record what was found.

    A domain whose required records are all found becomes verified (by DNS); a verified domain
    whose required records went missing stays usable but is flagged (records_ok False).
    """
    records = expected_records(domain)
    now = timezone.now()
    checks = [
        DnsRecordCheck(
            domain=domain,
            kind=record.kind,
            name=record.name,
            required=record.required,
            status=(finding := find(record)).status,
            reason=finding.reason,
            checked_at=now,
        )
        for record in records
    ]
    all_ok = all(check.status == Status.OK for check in checks if check.required)
    with transaction.atomic():
        DnsRecordCheck.objects.filter(domain=domain).delete()
        DnsRecordCheck.objects.bulk_create(checks)
        fields = {"checked_at": now, "records_ok": all_ok}
        if all_ok:
            # Only an unverified domain changes how it is verified; an operator's word stays.
            SenderDomain.objects.filter(pk=domain.pk, verification="unverified").update(
                verification=SenderDomain.Verification.DNS, verified_at=now
            )
        SenderDomain.objects.filter(pk=domain.pk).update(**fields)
    domain.refresh_from_db()
    return checks


def check_all() -> int:
    """The periodic check of every domain (schedule `sender-dns-checks`); returns how many."""
    checked = 0
    for domain in SenderDomain.objects.all():
        try:
            check_domain(domain)
            checked += 1
        except Exception:  # one domain's trouble must not keep the others unchecked
            logger.exception("Checking the DNS records of %s failed", domain.name)
    return checked


def flagged_domains() -> list[SenderDomain]:
    """Verified domains whose last check missed a required record (DKIM first of all)."""
    return list(
        SenderDomain.objects.exclude(verification=SenderDomain.Verification.UNVERIFIED)
        .filter(Q(records_ok=False))
        .prefetch_related("record_checks")
    )
