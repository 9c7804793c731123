"""New rows are written with written-out SQL on PostgreSQL (COPY for many, one INSERT for few):
the rows must be exactly what bulk_create would have written, and a duplicate must still surface
as IntegrityError."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from delivery import copy_insert
from delivery.models import Message
from events.models import Trigger

pytestmark = pytest.mark.django_db

ROWS = copy_insert.COPY_MIN_ROWS + 5


def unsaved_messages(stream, contact, trigger, count: int, tag: str) -> list[Message]:
    return [
        Message(
            trigger=trigger,
            stream=stream,
            version_id=stream.current_version_id,
            contact=contact if index % 2 else None,
            recipient=f"reader{index}@example.org",
            data={"order": {"id": index, "items": ["a", "ä\tb\n"]}, "note": "back\\slash"},
            lane="bulk" if index % 3 else "transactional",
            status=Message.Status.QUEUED if index % 4 else Message.Status.HELD,
            message_id=f"<{tag}{index}@example.org>",
            dedup_key=f"{tag}{index}" if index % 5 else None,
            client_trigger_id=f"order-{index}" if index % 5 else "",
        )
        for index in range(count)
    ]


def comparable(message: Message) -> dict:
    row = model_to_dict(message, exclude=["id", "message_id", "dedup_key", "uuid"])
    # Stamped per object when it was built or written; compared with the object itself below.
    row.pop("updated_at", None)
    row.pop("received_at", None)
    return row


@pytest.mark.parametrize("rows", [1, 3, ROWS])
def test_rows_written_out_read_back_like_bulk_create(make_stream, make_contact, rows):
    stream = make_stream()
    contact = make_contact("jane@example.org")
    trigger = Trigger.objects.create(event=stream.event)
    copied = unsaved_messages(stream, contact, trigger, rows, "copy")
    created = unsaved_messages(stream, contact, trigger, rows, "bulk")

    with transaction.atomic():
        copy_insert.insert(Message, copied)
    Message.objects.bulk_create(created)

    assert all(message.pk for message in copied)
    by_copy = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in copied])}
    by_bulk = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in created])}
    assert len(by_copy) == rows
    for written, reference in zip(copied, created, strict=True):
        assert comparable(by_copy[written.pk]) == comparable(by_bulk[reference.pk])
        assert by_copy[written.pk].uuid == written.uuid
        assert by_copy[written.pk].received_at == written.received_at
        assert by_copy[written.pk].updated_at is not None


def test_copy_is_used_for_large_batches_on_postgresql(make_stream, make_contact):
    stream = make_stream()
    trigger = Trigger.objects.create(event=stream.event)
    messages = unsaved_messages(stream, make_contact("jane@example.org"), trigger, ROWS, "c")

    with CaptureQueriesContext(connection) as captured:
        copy_insert.insert(Message, messages)

    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    expected = "COPY" if connection.vendor == "postgresql" else "INSERT"
    assert expected in statements
    assert Message.objects.filter(trigger=trigger).count() == ROWS


def test_few_rows_are_one_insert_returning_their_ids(make_stream, make_contact):
    stream = make_stream()
    trigger = Trigger(event=stream.event, recipient_count=2)
    messages = unsaved_messages(stream, make_contact("jane@example.org"), None, 2, "few")

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        copy_insert.insert(Trigger, [trigger])
        for message in messages:
            message.trigger = trigger
        copy_insert.insert(Message, messages)

    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2
    if connection.vendor == "postgresql":
        assert all(" RETURNING " in sql for sql in inserts)
    assert Trigger.objects.get(pk=trigger.pk).recipient_count == 2
    assert set(Message.objects.filter(trigger=trigger).values_list("pk", flat=True)) == {
        m.pk for m in messages
    }


@pytest.mark.parametrize("rows", [2, ROWS])
def test_duplicate_in_a_written_batch_is_an_integrity_error(make_stream, make_contact, rows):
    stream = make_stream()
    trigger = Trigger.objects.create(event=stream.event)
    messages = unsaved_messages(stream, make_contact("jane@example.org"), trigger, rows, "d")
    messages[-1].message_id = messages[0].message_id
    messages[-1].uuid = uuid.uuid4()

    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert.insert(Message, messages)

    assert not Message.objects.filter(trigger=trigger).exists()
