"""Instances built without Model.__init__ (triggered_email.row_instances) are the ones the ORM
builds: the same values, the same deferred fields, the same state; and where something listens
to the init signals, Model.__init__ runs after all."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_init
from django.utils import timezone

from delivery.outbox import new_message, new_uuids
from events.models import Contact
from triggered_email.row_lookup import first_where, rows_where_in

pytestmark = pytest.mark.django_db


def test_read_instance_matches_the_orms(make_contact):
    make_contact("jane@example.org", first_name="Jane", fields={"city": "Köln", "tier": 2})

    (read,) = rows_where_in(Contact, "email", ["jane@example.org"], only=("email", "fields"))
    orm = Contact.objects.only("email", "fields").get(email="jane@example.org")

    assert read.get_deferred_fields() == orm.get_deferred_fields()
    assert (read.pk, read.email, read.fields) == (orm.pk, orm.email, {"city": "Köln", "tier": 2})
    assert (read._state.adding, read._state.db) == (False, "default")
    # A field left out loads when read, as after .only().
    assert read.first_name == "Jane"


def test_whole_row_reads_like_the_orm_on_every_database(make_contact):
    # SQLite returns datetimes as text: the backend's converters must run as well.
    make_contact("jane@example.org", fields={"city": "Köln"}, opt_in=True)

    read = first_where(Contact, email="jane@example.org")
    orm = Contact.objects.get(email="jane@example.org")

    assert {f.attname: getattr(read, f.attname) for f in Contact._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in Contact._meta.concrete_fields
    }
    assert timezone.is_aware(read.created_at)
    assert read.get_deferred_fields() == set()


def test_new_message_is_unsaved_with_its_related_objects_at_hand(
    make_stream, make_contact, django_assert_num_queries
):
    stream, contact = make_stream(), make_contact()
    (message_uuid,) = new_uuids(1)

    message = new_message(
        trigger=None,
        stream=stream,
        version_id=stream.current_version_id,
        contact=contact,
        recipient=contact.email,
        data={"order_id": "7"},
        uuid=message_uuid,
        message_id="<m@example.com>",
        received_at=timezone.now(),
    )

    assert message._state.adding and message.pk is None
    assert (message.stream_id, message.contact_id, message.status) == (
        stream.pk,
        contact.pk,
        "queued",
    )
    with django_assert_num_queries(0):
        assert message.stream is stream and message.contact is contact
    message.save()
    assert Contact.objects.get(messages=message) == contact


def test_init_receivers_still_see_every_instance(make_contact):
    make_contact("jane@example.org")
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Contact)
    try:
        (read,) = rows_where_in(Contact, "email", ["jane@example.org"], only=("email",))
    finally:
        post_init.disconnect(receiver, sender=Contact)

    assert seen == [read]
    assert read.get_deferred_fields() == Contact.objects.only("email").get().get_deferred_fields()


def test_new_uuids_are_distinct_version_4_uuids():
    uuids = new_uuids(1000)

    assert len(set(uuids)) == 1000
    assert {u.version for u in uuids} == {4}
    assert {u.variant for u in uuids} == {"specified in RFC 4122"}
