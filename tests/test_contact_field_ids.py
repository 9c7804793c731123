"""Templates reach custom contact fields by their Emarsys id (`contact.4711`) as by name."""

import pytest

from events.models import ContactField
from streams.previewing import preview_draft


@pytest.fixture
def tier(db):
    return ContactField.objects.create(id=4711, name="loyalty_tier", label="Loyalty tier")


def test_a_custom_field_is_sent_by_its_emarsys_id_and_by_name(
    tier, api, smtp_server, make_stream, make_contact
):
    jane = make_contact("jane@example.org", fields={"loyalty_tier": "gold"})
    stream = make_stream(html="", text="{{ contact.4711 }}/{{ contact.loyalty_tier }}")

    reply = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": jane.email, "data": {"order_id": "1"}},
    )

    assert reply.json()["replyCode"] == 0
    [mail] = smtp_server.wait_for(1)
    assert mail.part("text/plain").strip() == "gold/gold"


def test_the_preview_shows_a_custom_field_by_its_id(tier):
    preview = preview_draft(
        subject="s",
        html="",
        text="{{ contact.4711|default('none') }}",
        data={},
        contact={"email": "jane@example.org", "loyalty_tier": "silver"},
        stream={"name": "x"},
    )

    assert preview.text.strip() == "silver"


def test_a_field_defined_after_a_render_is_found_by_the_next_one(db, make_contact):
    from streams.rendering import contact_context

    before = contact_context(email="a@example.org", fields={"points": 3})
    ContactField.objects.create(id=5000, name="points")
    after = contact_context(email="a@example.org", fields={"points": 3})

    assert "5000" not in before
    assert after["5000"] == 3
