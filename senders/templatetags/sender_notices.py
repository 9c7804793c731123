"""The dashboard's notice about sender domains whose records went missing (one tag)."""

from django import template

from senders.dns_checks import flagged_domains
from senders.models import DnsRecordCheck

register = template.Library()


@register.inclusion_tag("senders/dashboard_notice.html")
def sender_domain_notice() -> dict:
    problems = [
        (domain, [c for c in domain.record_checks.all() if c.required and c.status != "ok"])
        for domain in flagged_domains()
    ]
    return {"problems": problems, "dkim": DnsRecordCheck.Kind.DKIM}
