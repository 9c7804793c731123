"""Whether a stream may send from an address: only from a verified sender domain."""

from __future__ import annotations

from senders.domain_names import address_domain
from senders.models import SenderDomain


def sender_domain_problem(address: str) -> str | None:
    """What stops `address` from being a stream's sender, said so the reader knows what to do;
    None when it is on a verified sender domain."""
    domain = address_domain(address)
    if not domain:
        return f"{address or '(none)'} has no domain that mail can be sent from."
    sender_domain = SenderDomain.objects.filter(name=domain).first()
    if sender_domain is None:
        return (
            f"{domain} is not a sender domain: an operator adds it under Admin → Sender domains, "
            "publishes the DNS records shown there and checks them; then use an address on it."
        )
    if not sender_domain.is_verified:
        return (
            f"The sender domain {domain} is not verified yet: publish the DNS records shown "
            f"under Admin → Sender domains → {domain} and run “Check DNS records now”."
        )
    return None


def verified_domain_names() -> list[str]:
    return list(
        SenderDomain.objects.exclude(verification=SenderDomain.Verification.UNVERIFIED)
        .order_by("name")
        .values_list("name", flat=True)
    )
