"""On PostgreSQL a task claims its messages and reads what it sends in one statement
(delivery.claim_rows): the rows must be what the ORM would read, and only due, queued messages
may be taken, each by one claim."""

import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from delivery import claim_rows
from delivery.claim_rows import CONTACT_FIELDS, MESSAGE_FIELDS, STREAM_FIELDS
from delivery.models import Message, MessageAttachment

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="one data-modifying statement: PostgreSQL"
    ),
]


def queued(stream, recipient, contact=None, **fields) -> Message:
    now = timezone.now()
    values = {
        "stream": stream,
        "version_id": stream.current_version_id,
        "contact": contact,
        "recipient": recipient,
        "data": {"order_id": recipient, "items": [{"name": 'ä\n"x"'}]},
        "message_id": f"<{uuid.uuid4().hex}@example.com>",
        "status": Message.Status.QUEUED,
        "next_attempt_at": now,
        "queued_at": now,
    }
    return Message.objects.create(**{**values, **fields})


def read(instance, attnames) -> dict:
    return {name: getattr(instance, name) for name in attnames}


def test_claimed_rows_are_what_the_orm_reads(make_stream, make_contact):
    stream = make_stream(reply_to="help@example.com", track_clicks=True)
    jane = make_contact("jane@example.org", last_name="Doe", fields={"tier": "gold"})
    with_contact = queued(stream, jane.email, jane)
    without = queued(stream, "guest@example.org")
    MessageAttachment.objects.create(
        message=without,
        file=ContentFile(b"%PDF", name="a.pdf"),
        filename="a.pdf",
        content_type="application/pdf",
        size=4,
    )

    claimed = claim_rows.claim_rows([with_contact.pk, without.pk], uuid.uuid4(), timezone.now())

    assert [m.pk for m in claimed] == [with_contact.pk, without.pk]
    for message in claimed:
        stored = Message.objects.select_related("stream", "contact").get(pk=message.pk)
        assert read(message, MESSAGE_FIELDS) == read(stored, MESSAGE_FIELDS)
        assert read(message.stream, STREAM_FIELDS) == read(stored.stream, STREAM_FIELDS)
        if stored.contact is None:
            assert message.contact is None
        else:
            assert read(message.contact, CONTACT_FIELDS) == read(stored.contact, CONTACT_FIELDS)
        assert stored.status == Message.Status.SENDING and stored.attempts == 1
    assert claimed[0].stream is claimed[1].stream  # one instance per stream and chunk
    assert [m.has_attachments for m in claimed] == [False, True]
    assert [m.stream_has_attachments for m in claimed] == [False, False]


def test_only_due_queued_messages_are_claimed_and_only_once(make_stream):
    stream = make_stream()
    due = queued(stream, "due@example.org")
    later = queued(
        stream, "later@example.org", next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    held = queued(stream, "held@example.org", status=Message.Status.HELD, next_attempt_at=None)
    ids = [due.pk, later.pk, held.pk]

    first = claim_rows.claim_rows(ids, uuid.uuid4(), timezone.now())
    second = claim_rows.claim_rows(ids, uuid.uuid4(), timezone.now())

    assert [m.pk for m in first] == [due.pk]
    assert second == []
    statuses = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {
        due.pk: Message.Status.SENDING,
        later.pk: Message.Status.QUEUED,
        held.pk: Message.Status.HELD,
    }


def test_a_field_a_send_does_not_read_is_loaded_when_asked(make_stream):
    stream = make_stream()
    message = queued(stream, "jane@example.org", client_trigger_id="order-7")

    (claimed,) = claim_rows.claim_rows([message.pk], uuid.uuid4(), timezone.now())

    assert "client_trigger_id" in claimed.get_deferred_fields()
    assert claimed.client_trigger_id == "order-7"


def test_claim_finds_its_messages_by_primary_key_whatever_the_statistics(
    make_stream, make_queued_messages
):
    # Statistics taken while nothing was queued, then a backlog (a broadcast): PostgreSQL chose
    # the partial index of due queued messages and scanned the whole backlog for every claim.
    stream = make_stream()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")
    now = timezone.now()
    make_queued_messages(stream, 3000, label="backlog")
    one = Message.objects.order_by("pk").values_list("pk", flat=True)[1500]

    # The statement for one message and the one for a chunk.
    for match, ids in [("= %s", one), ("= ANY(%s)", [one])]:
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (COSTS OFF) " + claim_rows._statement(match).sql,
                ["sending", uuid.uuid4(), now, now, ids, "queued", now],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())

        assert f"Index Scan using {Message._meta.db_table}_pkey" in plan, plan
        assert "message_queued_due_idx" not in plan, plan
