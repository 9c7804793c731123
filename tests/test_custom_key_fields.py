"""Custom contact fields by Emarsys field id, and those marked unique as key fields (issue 20)."""

import pytest

from delivery.models import Message
from events.models import Contact, ContactField

pytestmark = pytest.mark.django_db


@pytest.fixture
def loyalty(api) -> int:
    response = api.post("/api/v2/field", {"name": "Loyalty number", "id": 4711, "unique": True})
    assert response.status_code == 200, response.json()
    return response.json()["data"]["id"]


def test_a_created_field_keeps_the_id_the_client_uses(api, loyalty):
    assert loyalty == 4711
    field = ContactField.objects.get()
    assert (field.pk, field.name, field.label, field.unique) == (
        4711,
        "loyalty_number",
        "Loyalty number",
        True,
    )
    assert 4711 in [f["id"] for f in api.get("/api/v2/field").json()["data"]]


def test_a_field_without_an_id_gets_the_next_free_one_from_1000(api):
    first = api.post("/api/v2/field", {"name": "Shoe size", "application_type": "numeric"})
    second = api.post("/api/v2/field", {"name": "Favourite colour"})

    assert [first.json()["data"]["id"], second.json()["data"]["id"]] == [1000, 1001]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "First", "string_id": "first_name"},
        {"name": "Three", "id": 3},
        {"name": "Bad", "string_id": "Not A Name"},
        {"name": "Bad type", "application_type": "hologram"},
        {"name": "Huge id", "id": 2**40},
    ],
)
def test_fields_that_would_clash_or_cannot_be_stored_are_refused_with_1002(api, body):
    response = api.post("/api/v2/field", body)

    assert response.status_code == 400
    assert response.json()["replyCode"] == 1002
    assert not ContactField.objects.exists()


def test_custom_fields_are_written_by_their_id_under_their_name(api, loyalty):
    response = api.post("/api/v2/contact", {"3": "jane@example.org", "4711": 12345})

    assert response.status_code == 200, response.json()
    # A unique field's value is kept as text: 12345 and "12345" are one key value.
    assert Contact.objects.get().fields == {"loyalty_number": "12345"}


@pytest.mark.parametrize("key_id", [4711, "4711", "loyalty_number"])
def test_a_unique_custom_field_is_a_key_field(api, loyalty, make_contact, key_id):
    make_contact("jane@example.org", fields={"loyalty_number": "L-1"})

    response = api.put("/api/v2/contact", {"key_id": key_id, "4711": "L-1", "1": "Janet"})

    assert response.status_code == 200, response.json()
    contact = Contact.objects.get()
    assert (contact.first_name, contact.fields["loyalty_number"]) == ("Janet", "L-1")


def test_put_creates_by_a_custom_key_with_create_if_not_exists(api, loyalty):
    response = api.put(
        "/api/v2/contact?create_if_not_exists=1",
        {"key_id": "4711", "contacts": [{"4711": 7, "3": "seven@example.org"}]},
    )

    assert response.status_code == 200, response.json()
    assert "errors" not in response.json()["data"]
    assert Contact.objects.get(fields__loyalty_number="7").email == "seven@example.org"


def test_a_unique_value_another_contact_holds_is_refused(api, loyalty, make_contact):
    make_contact("jane@example.org", fields={"loyalty_number": "L-1"})

    response = api.post("/api/v2/contact", {"3": "john@example.org", "4711": "L-1"})

    assert response.status_code == 400
    assert response.json()["replyCode"] == 2011
    assert "unique" in response.json()["replyText"]
    assert Contact.objects.count() == 1


def test_a_field_not_marked_unique_is_no_key_field(api):
    ContactField.objects.create(id=5000, name="city")

    response = api.put("/api/v2/contact", {"key_id": 5000, "5000": "Vienna"})

    assert response.status_code == 400
    assert response.json()["replyCode"] == 2004
    assert "unique" in response.json()["replyText"]


def test_trigger_by_a_custom_key_sends_to_that_contact(
    api, smtp_server, loyalty, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org", fields={"loyalty_number": "L-1"})
    make_contact("john@example.org", fields={"loyalty_number": "L-2"})

    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger", {"key_id": 4711, "external_id": "L-2"}
    )

    assert response.status_code == 200, response.json()
    assert Message.objects.get().recipient == "john@example.org"


def test_getdata_and_checkids_by_a_custom_key(api, loyalty, make_contact):
    jane = make_contact("jane@example.org", fields={"loyalty_number": "L-1"})

    data = api.post(
        "/api/v2/contact/getdata",
        {"keyId": 4711, "keyValues": ["L-1"], "fields": [3, "4711"]},
    ).json()["data"]
    ids = api.post(
        "/api/v2/contact/checkids", {"key_id": "4711", "external_ids": ["L-1", "L-9"]}
    ).json()["data"]

    assert data["result"] == [{"id": str(jane.pk), "3": "jane@example.org", "4711": "L-1"}]
    assert ids["ids"] == {"L-1": str(jane.pk)}
    assert list(ids["errors"]["L-9"]) == ["2008"]


@pytest.mark.parametrize("key_id", [2**40, "99999999999999999999", "x" * 300, 0])
def test_key_ids_no_field_has_are_2004(api, key_id):
    response = api.put("/api/v2/contact", {"key_id": key_id, "3": "a@example.org"})

    assert response.status_code == 400
    assert response.json()["replyCode"] == 2004
