"""POST/PUT /api/v2/contact: create or update contacts by Emarsys field id or by name.

POST creates and PUT updates, as in Emarsys (issue 20): tests that created contacts with PUT now
create them with POST, or with PUT and create_if_not_exists=1.
"""

import pytest

from events.models import Contact

pytestmark = pytest.mark.django_db


def test_create_contact_by_field_ids(api):
    response = api.post(
        "/api/v2/contact",
        {
            "key_id": "3",
            "contacts": [
                {"1": "Jane", "2": "Doe", "3": "Jane@Example.org", "31": 1, "loyalty_tier": "gold"}
            ],
        },
    )

    assert response.status_code == 200
    contact = Contact.objects.get()
    assert response.json()["data"]["ids"] == [str(contact.pk)]
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Jane",
        "Doe",
        "jane@example.org",
    )
    assert contact.opt_in is True
    assert contact.fields == {"loyalty_tier": "gold"}


def test_update_contact_by_names_keeps_other_fields(api, make_contact):
    contact = make_contact("jane@example.org", first_name="Jane", fields={"a": 1})

    api.put(
        "/api/v2/contact",
        {"key_id": "email", "email": "jane@example.org", "last_name": "Smith", "b": 2},
    )

    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Jane", "Smith")
    assert contact.fields == {"a": 1, "b": 2}
    assert Contact.objects.count() == 1


def test_upsert_by_external_id(api):
    api.put(
        "/api/v2/contact?create_if_not_exists=1",
        {"key_id": "external_id", "contacts": [{"external_id": "C-9", "3": "c9@example.org"}]},
    )
    api.put(
        "/api/v2/contact",
        {"key_id": "external_id", "contacts": [{"external_id": "C-9", "1": "Nine"}]},
    )

    contact = Contact.objects.get()
    assert (contact.external_id, contact.email, contact.first_name) == (
        "C-9",
        "c9@example.org",
        "Nine",
    )


def test_batch_reports_errors_per_contact(api):
    response = api.post(
        "/api/v2/contact",
        {
            "key_id": "3",
            "contacts": [
                {"3": "ok@example.org"},
                {"3": "not-an-address"},
                {"1": "No key"},
            ],
        },
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data["ids"]) == 1
    assert "2011" in data["errors"]["not-an-address"]
    assert "2005" in data["errors"]["#2"]
    assert list(Contact.objects.values_list("email", flat=True)) == ["ok@example.org"]


def test_single_invalid_contact_is_a_4xx(api):
    response = api.post("/api/v2/contact", {"key_id": "3", "3": "nope"})

    assert response.status_code == 400
    assert response.json()["replyCode"] == 2011
    assert "valid email" in response.json()["replyText"]


def test_new_contact_needs_an_email(api):
    response = api.post("/api/v2/contact", {"key_id": "external_id", "external_id": "X-1"})

    assert response.status_code == 400
    assert "email" in response.json()["replyText"]
    assert not Contact.objects.exists()
