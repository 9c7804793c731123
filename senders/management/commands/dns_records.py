from django.core.management.base import BaseCommand, CommandError

from senders.dns_records import zone_lines
from senders.domain_names import DomainNameError, normalise_domain
from senders.models import SenderDomain


class Command(BaseCommand):
    help = (
        "Print the DNS records a sender domain publishes (DKIM, SPF, DMARC, return path), one "
        "per line in zone-file form."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("domain", help="the sender domain, e.g. mail.example.com")

    def handle(self, *args, domain: str, **options) -> None:
        try:
            name = normalise_domain(domain)
        except DomainNameError as exc:
            raise CommandError(str(exc)) from None
        sender_domain = SenderDomain.objects.filter(name=name).first()
        if sender_domain is None:
            raise CommandError(
                f"{name} is not a sender domain: add it under Admin → Sender domains first."
            )
        for line in zone_lines(sender_domain):
            self.stdout.write(line)
