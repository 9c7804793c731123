"""The demo's sender domain: created with its DKIM key, vouched for (a laptop has no DNS)."""

from __future__ import annotations

from senders.keys import add_domain, ensure_keys
from senders.models import SenderDomain

DEMO_NOTE = (
    "Demo and benchmark domain created by seed_demo: its records are not published anywhere. "
    "`manage.py dns_records example.com` prints what a real domain would publish."
)


def ensure_demo_domain(name: str) -> SenderDomain:
    """The sender domain `name` with its keys, verified on the demo's word (created once)."""
    domain = SenderDomain.objects.filter(name=name).first()
    if domain is None:
        domain = add_domain(name)
    else:
        ensure_keys(domain)
    if not domain.is_verified:
        domain.vouch(DEMO_NOTE)
    return domain
