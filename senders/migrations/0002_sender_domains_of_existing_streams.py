"""Installations that sent before sender domains existed keep sending, and can be resumed.

Before, the domains a stream could send from were a setting. Now a stream's sender must be on a
verified SenderDomain, checked when a stream goes live or is resumed: without this migration an
operator who pauses a live stream during an incident could not resume it. Each domain that an
existing stream sends from becomes a sender domain vouched for by the upgrade (the operator note
says so); its DNS check and DKIM key are the operator's next step (docs/deliverability.md).
"""

from django.db import migrations
from django.utils import timezone

NOTE = (
    "Created by the upgrade: streams sent from this domain before sender domains existed. "
    "Publish the DNS records shown here, check them, and add a DKIM key."
)


def vouch_for_domains_in_use(apps, schema_editor) -> None:
    from senders.domain_names import DomainNameError, normalise_domain

    MailStream = apps.get_model("streams", "MailStream")
    SenderDomain = apps.get_model("senders", "SenderDomain")
    names = set()
    for address in MailStream.objects.values_list("sender_email", flat=True).distinct():
        _, at, domain = (address or "").rpartition("@")
        if not at or not domain:
            continue
        try:
            names.add(normalise_domain(domain))
        except DomainNameError:
            continue  # never a valid sender; the stream's page says why
    known = set(SenderDomain.objects.filter(name__in=names).values_list("name", flat=True))
    now = timezone.now()
    SenderDomain.objects.bulk_create(
        SenderDomain(name=name, verification="operator", verified_at=now, operator_note=NOTE)
        for name in sorted(names - known)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("senders", "0001_sender_domains_and_dkim_keys"),
        ("streams", "0006_stream_esp_message_stream"),
    ]

    operations = [migrations.RunPython(vouch_for_domains_in_use, migrations.RunPython.noop)]
