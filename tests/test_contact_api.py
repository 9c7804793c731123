"""Emarsys's v2 contact calls with their reply codes (issue 20).

POST /contact creates (2009 for an existing contact), PUT /contact updates (2008 for an unknown
one unless create_if_not_exists=1), getdata, checkids, delete, the field list, settings, and
key_id defaulting to 3. Batches answer HTTP 200 with per-contact errors keyed by the key value,
as the trigger batch does.
"""

import pytest

from delivery.models import Message
from events.models import Contact, ContactField

pytestmark = pytest.mark.django_db


def reply(response) -> tuple[int, int]:
    return response.status_code, response.json()["replyCode"]


# --- create and update ------------------------------------------------------------------------


def test_post_creates_a_contact_and_refuses_an_existing_one_with_2009(api, make_contact):
    make_contact("jane@example.org", first_name="Jane")

    response = api.post("/api/v2/contact", {"key_id": "3", "3": "jane@example.org", "1": "J"})

    assert reply(response) == (400, 2009)
    assert Contact.objects.get().first_name == "Jane"


def test_post_batch_reports_2009_per_existing_contact_and_creates_the_others(api, make_contact):
    make_contact("jane@example.org")

    response = api.post(
        "/api/v2/contact",
        {"key_id": "3", "contacts": [{"3": "jane@example.org"}, {"3": "john@example.org"}]},
    )

    assert reply(response) == (200, 0)
    data = response.json()["data"]
    assert list(data["errors"]) == ["jane@example.org"]
    assert list(data["errors"]["jane@example.org"]) == ["2009"]
    john = Contact.objects.get(email="john@example.org")
    assert data["ids"] == [str(john.pk)]


def test_put_refuses_an_unknown_contact_with_2008(api):
    response = api.put("/api/v2/contact", {"key_id": "3", "3": "nobody@example.org", "1": "N"})

    assert reply(response) == (400, 2008)
    assert not Contact.objects.exists()


def test_put_batch_reports_2008_per_unknown_contact_and_updates_the_others(api, make_contact):
    jane = make_contact("jane@example.org", first_name="Jane")

    response = api.put(
        "/api/v2/contact",
        {
            "key_id": "3",
            "contacts": [{"3": "jane@example.org", "1": "Janet"}, {"3": "nobody@example.org"}],
        },
    )

    assert reply(response) == (200, 0)
    data = response.json()["data"]
    assert data["ids"] == [str(jane.pk)]
    assert list(data["errors"]["nobody@example.org"]) == ["2008"]
    jane.refresh_from_db()
    assert jane.first_name == "Janet"
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "flag"),
    [
        ("/api/v2/contact?create_if_not_exists=1", {}),
        ("/api/v2/contact", {"create_if_not_exists": 1}),
        ("/api/v2/contact", {"create_if_not_exists": "1"}),
    ],
)
def test_put_with_create_if_not_exists_creates(api, url, flag):
    response = api.put(url, {"key_id": "3", "3": "new@example.org", "1": "New", **flag})

    assert reply(response) == (200, 0)
    contact = Contact.objects.get()
    assert (contact.email, contact.first_name) == ("new@example.org", "New")
    assert "create_if_not_exists" not in contact.fields


def test_key_id_defaults_to_the_email_field(api, make_contact):
    make_contact("jane@example.org", first_name="Jane")

    response = api.put("/api/v2/contact", {"3": "jane@example.org", "2": "Doe"})

    assert reply(response) == (200, 0)
    assert Contact.objects.get().last_name == "Doe"


def test_a_batch_of_one_answers_like_any_batch(api, make_contact):
    make_contact("jane@example.org")

    response = api.post("/api/v2/contact", {"contacts": [{"3": "jane@example.org"}]})

    assert reply(response) == (200, 0)
    assert "2009" in response.json()["data"]["errors"]["jane@example.org"]


def test_batches_over_1000_contacts_are_refused_with_1000(api):
    contacts = [{"3": f"c{n}@example.org"} for n in range(1001)]

    for method in ("post", "put"):
        response = api.call(method, "/api/v2/contact", {"contacts": contacts})
        assert reply(response) == (400, 1000)
    response = api.post("/api/v2/contact/delete", {"contacts": contacts})
    assert reply(response) == (400, 1000)
    response = api.post("/api/v2/contact/checkids", {"external_ids": ["a@example.org"] * 1001})
    assert reply(response) == (400, 1000)
    response = api.post("/api/v2/contact/getdata", {"keyValues": ["a@example.org"] * 1001})
    assert reply(response) == (400, 1000)
    assert not Contact.objects.exists()


def test_several_contacts_with_the_key_value_are_2010(api, make_contact):
    make_contact("twin@example.org")
    make_contact("twin@example.org")

    response = api.put("/api/v2/contact", {"3": "twin@example.org", "1": "T"})

    assert reply(response) == (400, 2010)


# --- getdata, checkids, delete ----------------------------------------------------------------


def test_getdata_answers_the_requested_fields_and_errors_as_emarsys_does(api, make_contact):
    jane = make_contact("jane@example.org", first_name="Jane", last_name="Doe", opt_in=True)

    response = api.post(
        "/api/v2/contact/getdata",
        {
            "keyId": "3",
            "keyValues": ["Jane@Example.org", "nobody@example.org"],
            "fields": ["1", 2, 3, "31"],
        },
    )

    assert reply(response) == (200, 0)
    data = response.json()["data"]
    assert data["result"] == [
        {"id": str(jane.pk), "1": "Jane", "2": "Doe", "3": "jane@example.org", "31": "1"}
    ]
    assert data["errors"] == [
        {
            "key": "nobody@example.org",
            "errorCode": 2008,
            "errorMsg": "No contact found with the external id: email - nobody@example.org",
        }
    ]


def test_getdata_of_the_id_field_is_the_contact_id(api, make_contact):
    jane = make_contact("jane@example.org", fields={"id": "not this"})

    response = api.post(
        "/api/v2/contact/getdata", {"keyValues": ["jane@example.org"], "fields": ["id"]}
    )

    assert response.json()["data"]["result"] == [{"id": str(jane.pk)}]


def test_getdata_with_nothing_found_answers_result_false(api):
    response = api.post("/api/v2/contact/getdata", {"keyValues": ["x@example.org"]})

    assert reply(response) == (200, 0)
    assert response.json()["data"]["result"] is False
    assert response.json()["data"]["errors"][0]["errorCode"] == 2008


def test_checkids_maps_key_values_to_contact_ids(api, make_contact):
    jane = make_contact("jane@example.org")
    make_contact("twin@example.org")
    make_contact("twin@example.org")

    response = api.post(
        "/api/v2/contact/checkids",
        {"key_id": 3, "external_ids": ["jane@example.org", "twin@example.org", "no@example.org"]},
    )

    assert reply(response) == (200, 0)
    data = response.json()["data"]
    assert data["ids"] == {"jane@example.org": str(jane.pk)}
    assert list(data["errors"]["twin@example.org"]) == ["2010"]
    assert list(data["errors"]["no@example.org"]) == ["2008"]

    multiple = api.post(
        "/api/v2/contact/checkids",
        {"external_ids": ["twin@example.org"], "get_multiple_ids": 1},
    )
    assert len(multiple.json()["data"]["ids"]["twin@example.org"]) == 2


def test_delete_removes_the_contact_and_keeps_its_messages(
    api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    jane = make_contact("jane@example.org")
    api.post(f"/api/v2/event/{stream.event_id}/trigger", {"external_id": "jane@example.org"})

    response = api.post("/api/v2/contact/delete", {"key_id": "3", "3": "jane@example.org"})

    assert reply(response) == (200, 0)
    assert response.json()["data"] == {"deleted_contacts": 1}
    assert not Contact.objects.filter(pk=jane.pk).exists()
    assert Message.objects.get().contact is None


def test_delete_of_an_unknown_contact_is_2008_and_per_contact_in_a_batch(api, make_contact):
    make_contact("jane@example.org")

    single = api.post("/api/v2/contact/delete", {"3": "nobody@example.org"})
    batch = api.post(
        "/api/v2/contact/delete",
        {"contacts": [{"3": "jane@example.org"}, {"3": "nobody@example.org"}, {"1": "x"}]},
    )

    assert reply(single) == (400, 2008)
    assert reply(batch) == (200, 0)
    data = batch.json()["data"]
    assert data["deleted_contacts"] == 1
    assert list(data["errors"]["nobody@example.org"]) == ["2008"]
    assert list(data["errors"]["#2"]) == ["2005"]
    assert not Contact.objects.exists()


# --- fields and settings ----------------------------------------------------------------------


def test_field_list_has_the_standard_and_custom_fields_by_emarsys_id(api):
    ContactField.objects.create(id=4711, name="loyalty_no", label="Loyalty number", unique=True)

    response = api.get("/api/v2/field")

    assert reply(response) == (200, 0)
    fields = {f["id"]: f for f in response.json()["data"]}
    assert fields[1]["string_id"] == "first_name"
    assert fields[3]["string_id"] == "email"
    assert fields[4711] == {
        "id": 4711,
        "name": "Loyalty number",
        "application_type": "shorttext",
        "string_id": "loyalty_no",
        "unique": True,
    }


def test_settings_describe_the_account(api, make_contact):
    make_contact()

    response = api.get("/api/v2/settings")

    assert reply(response) == (200, 0)
    data = response.json()["data"]
    assert data["total_contacts"] == 1
    assert data["timezone"] == "UTC"
    assert data["environment"] == "testserver"
