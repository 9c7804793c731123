"""The outbox builds its Message objects positionally (delivery.outbox.new_message): each must be
exactly what Message(**values) builds, related objects included."""

import uuid

import pytest
from django.utils import timezone

from delivery.models import Message
from delivery.outbox import new_message
from events.models import Trigger

pytestmark = pytest.mark.django_db


def field_values(message: Message) -> dict:
    return {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields}


def test_new_message_equals_the_keyword_built_message(make_stream, make_contact):
    stream = make_stream()
    contact = make_contact("jane@example.org")
    trigger = Trigger.objects.create(event=stream.event)
    values = {
        "trigger": trigger,
        "stream": stream,
        "version_id": stream.current_version_id,
        "contact": contact,
        "recipient": contact.email,
        "data": {"order_id": "1"},
        "lane": "bulk",
        "status": Message.Status.HELD,
        "is_test": True,
        "uuid": uuid.uuid4(),
        "message_id": "<a@example.org>",
        "dedup_key": "k",
        "client_trigger_id": "order-1",
        "received_at": timezone.now(),
    }

    built = new_message(**dict(values))
    expected = Message(**values)

    assert field_values(built) == field_values(expected)
    assert built.stream is stream and built.contact is contact and built.trigger is trigger
    assert built._state.adding


def test_new_message_without_a_contact_or_trigger(make_stream):
    stream = make_stream()
    values = {
        "trigger": None,
        "stream": stream,
        "version_id": stream.current_version_id,
        "contact": None,
        "recipient": "someone@example.org",
        "data": {},
        "uuid": uuid.uuid4(),
        "message_id": "<b@example.org>",
        "received_at": timezone.now(),
    }

    built = new_message(**dict(values))

    assert field_values(built) == field_values(Message(**values))
    assert built.contact is None and built.trigger is None


def test_new_message_needs_the_values_whose_defaults_are_generated(make_stream):
    stream = make_stream()

    with pytest.raises(TypeError, match="data, received_at, uuid"):
        new_message(stream=stream, version_id=stream.current_version_id, recipient="a@b.org")
