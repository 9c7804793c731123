"""The benchmark's own rows: an event and stream per lane (the demo order confirmation),
contacts, an API credential. All named after the run, and removed afterwards unless kept."""

from __future__ import annotations

import copy
import re
import secrets
from dataclasses import dataclass, field

from django.db import connection, transaction

from delivery.models import DeliveryEvent, Message, MessageAttachment
from events.credentials import issue_credential
from events.models import ApiCredential, Contact, ExternalEvent, Trigger, WsseNonce
from streams.models import MailStream, StreamVersion
from triggered_email import demo
from triggered_email.database_dialect import has_postgresql_statements

# .invalid never resolves: nothing the benchmark writes can reach a real mailbox.
RECIPIENT_DOMAIN = "benchmark.invalid"


@dataclass
class Dataset:
    run: str
    username: str = ""
    secret: str = ""
    token: str = ""
    events: dict[str, ExternalEvent] = field(default_factory=dict)
    streams: dict[str, MailStream] = field(default_factory=dict)
    contact_ids: list[int] = field(default_factory=list)

    def email(self, group: str, index: int) -> str:
        return f"{self.run}-{group}-{index}@{RECIPIENT_DOMAIN}"


# What create() names a run: removing a kept run by name must never match anything else.
_RUN_NAME = re.compile(r"bench[0-9a-f]{6}")


def create() -> Dataset:
    dataset = Dataset(f"bench{secrets.token_hex(3)}")
    issued = issue_credential(f"{dataset.run}-client", name="benchmark")
    dataset.username, dataset.secret, dataset.token = issued.username, issued.secret, issued.token
    return dataset


def add_stream(dataset: Dataset, lane: str) -> MailStream:
    """A live stream on `lane` with the demo template, linked to an event of its own."""
    with transaction.atomic():
        event = ExternalEvent.objects.create(name=f"{dataset.run}-{lane}")
        stream = demo.ensure_stream(event, f"{dataset.run} {lane}", lane=lane)
    # Read back whole: publishing set the current version on another instance.
    stream = (
        MailStream.objects.select_related("current_version")
        .prefetch_related("attachments")
        .get(pk=stream.pk)
    )
    dataset.events[lane], dataset.streams[lane] = event, stream
    return stream


def add_broadcast_stream(dataset: Dataset) -> MailStream:
    """A live broadcast stream (bulk lane, addresses given in the call) with the demo template."""
    with transaction.atomic():
        event = ExternalEvent.objects.create(name=f"{dataset.run}-broadcast")
        stream = demo.ensure_stream(
            event, f"{dataset.run} broadcast", kind=MailStream.Kind.BROADCAST, lane="bulk"
        )
    dataset.events["broadcast"] = event
    dataset.streams["broadcast"] = MailStream.objects.get(pk=stream.pk)
    return dataset.streams["broadcast"]


def add_contacts(dataset: Dataset, group: str, count: int) -> list[str]:
    """`count` new contacts, then fresh statistics for the contact table.

    A run's contacts are a large import into a table the last run's clean-up left empty. Its
    statistics would still say empty until autovacuum came round, and PostgreSQL would plan the
    API's lookups by address, and the checks of each message's contact, as scans of the whole
    table (pg_stat_statements: 173 µs per lookup instead of ~15). A contact table in use has its
    statistics, and after a large import an operator analyses it (docs/performance.md, *What
    limits each figure now*), so the benchmark does too.
    """
    emails = [dataset.email(group, index) for index in range(count)]
    for start in range(0, count, 5000):
        created = Contact.objects.bulk_create(
            Contact(email=email, first_name=f"Reader {start + offset}", last_name="Benchmark")
            for offset, email in enumerate(emails[start : start + 5000])
        )
        dataset.contact_ids.extend(contact.pk for contact in created)
    if has_postgresql_statements(connection):
        # Unlike VACUUM (vacuum() below), ANALYZE may run inside a transaction.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + connection.ops.quote_name(Contact._meta.db_table))
    return emails


def order_data(index: int) -> dict:
    """The demo's order data, a different order number per recipient."""
    data = copy.deepcopy(demo.SAMPLE_DATA)
    data["order_id"] = str(100000 + index)
    data["order_url"] = f"https://shop.example.com/orders/{100000 + index}"
    return data


def kept(run: str) -> Dataset:
    """The rows of a run kept with --keep, found by the names the run gave them.

    Raises ValueError for a name the benchmark does not give, and for a run with no rows left.
    """
    if not _RUN_NAME.fullmatch(run):
        raise ValueError(
            f"{run!r} is not a benchmark run: a run is named bench and six hex digits, as "
            'printed under "kept" by --keep'
        )
    dataset = Dataset(run, username=f"{run}-client")
    for event in ExternalEvent.objects.filter(name__startswith=f"{run}-"):
        dataset.events[event.name.removeprefix(f"{run}-")] = event
    for stream in MailStream.objects.filter(name__startswith=f"{run} "):
        dataset.streams[stream.name.removeprefix(f"{run} ")] = stream
    dataset.contact_ids = list(
        Contact.objects.filter(
            email__startswith=f"{run}-", email__endswith=f"@{RECIPIENT_DOMAIN}"
        ).values_list("pk", flat=True)
    )
    has_credential = ApiCredential.objects.filter(username=dataset.username).exists()
    if not (dataset.events or dataset.streams or dataset.contact_ids or has_credential):
        raise ValueError(f"Nothing of benchmark run {run} is left to remove.")
    return dataset


def remove(dataset: Dataset) -> None:
    """Delete everything the run wrote, children first (messages protect streams and versions)."""
    streams = list(dataset.streams.values())
    messages = Message.objects.filter(stream__in=streams)
    DeliveryEvent.objects.filter(message__in=messages).delete()
    MessageAttachment.objects.filter(message__in=messages).delete()
    ids = list(messages.values_list("pk", flat=True))
    for start in range(0, len(ids), 5000):
        Message.objects.filter(pk__in=ids[start : start + 5000]).delete()
    Trigger.objects.filter(event__in=dataset.events.values()).delete()
    for stream in streams:
        MailStream.objects.filter(pk=stream.pk).update(current_version=None)
        StreamVersion.objects.filter(stream=stream).delete()
        stream.delete()
    for event in dataset.events.values():
        event.delete()
    for start in range(0, len(dataset.contact_ids), 5000):
        Contact.objects.filter(pk__in=dataset.contact_ids[start : start + 5000]).delete()
    credential = ApiCredential.objects.filter(username=dataset.username).first()
    if credential is not None:
        WsseNonce.objects.filter(nonce__startswith=f"{credential.pk}:").delete()
        credential.delete()


def vacuum() -> None:
    """VACUUM ANALYZE the tables a run filled and emptied (PostgreSQL, outside transactions).

    Left to autovacuum, the dead rows of one run were cleaned up during the next run's
    measurement: on two cores that showed up as 250-450 ms stalls in its idle reference.
    """
    if not has_postgresql_statements(connection) or connection.in_atomic_block:
        return
    tables = [Message, DeliveryEvent, MessageAttachment, Trigger, Contact]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE " + ", ".join(qn(m._meta.db_table) for m in tables))
