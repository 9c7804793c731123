"""The DNS records a sender domain must (or should) publish, and their zone-file lines."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from senders.models import DkimKey, DnsRecordCheck, SenderDomain

# A TXT string holds at most 255 bytes; longer values are written as several strings.
_TXT_CHUNK = 255


@dataclass(frozen=True)
class ExpectedRecord:
    kind: str  # DnsRecordCheck.Kind
    name: str  # without the trailing dot
    rdtype: str
    value: str
    required: bool
    # The DKIM key whose public half this record carries (None for the others).
    public_key: str | None = None

    def zone_line(self) -> str:
        if self.rdtype == "TXT":
            chunks = [
                self.value[start : start + _TXT_CHUNK]
                for start in range(0, len(self.value), _TXT_CHUNK)
            ]
            value = " ".join(f'"{chunk}"' for chunk in chunks)
        else:
            value = self.value
        return f"{self.name}. IN {self.rdtype} {value}"


def spf_value() -> str:
    include = settings.TRIGGERED_EMAIL_SPF_INCLUDE
    return f"v=spf1 include:{include} ~all" if include else "v=spf1 mx ~all"


def return_path_mx() -> str:
    return settings.TRIGGERED_EMAIL_RETURN_PATH_MX or urlsplit(settings.SITE_URL).hostname or ""


def expected_records(domain: SenderDomain) -> list[ExpectedRecord]:
    records = []
    if settings.TRIGGERED_EMAIL_DKIM_SIGNING == "app":
        for key in domain.dkim_keys.exclude(state=DkimKey.State.RETIRED).order_by("created_at"):
            pending = key.state == DkimKey.State.PENDING
            records.append(
                ExpectedRecord(
                    kind=DnsRecordCheck.Kind.DKIM_PENDING if pending else DnsRecordCheck.Kind.DKIM,
                    name=key.record_name,
                    rdtype="TXT",
                    value=key.record_value,
                    required=not pending,
                    public_key=key.public_key,
                )
            )
    elif domain.mta_dkim_selector:
        records.append(
            ExpectedRecord(
                kind=DnsRecordCheck.Kind.DKIM,
                name=f"{domain.mta_dkim_selector}._domainkey.{domain.name}",
                rdtype="TXT",
                value="v=DKIM1; k=rsa; p=<the public key of your MTA's signing key>",
                required=True,
            )
        )
    records.append(
        ExpectedRecord(DnsRecordCheck.Kind.SPF, domain.name, "TXT", spf_value(), required=True)
    )
    records.append(
        ExpectedRecord(
            DnsRecordCheck.Kind.DMARC,
            f"_dmarc.{domain.name}",
            "TXT",
            f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain.name}",
            required=False,
        )
    )
    mx = return_path_mx()
    if mx:
        records.append(
            ExpectedRecord(
                DnsRecordCheck.Kind.RETURN_PATH,
                domain.bounce_domain,
                "MX",
                f"10 {mx}.",
                required=False,
            )
        )
    return records


def zone_lines(domain: SenderDomain) -> list[str]:
    return [record.zone_line() for record in expected_records(domain)]
