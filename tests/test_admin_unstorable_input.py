"""Input typed into admin forms that the database cannot store is a form error that says what to
change, never a 500: JSON with NaN, 1e999, U+0000, a lone surrogate or deep nesting, and text
longer than its column (PostgreSQL refuses it; SQLite would silently keep it)."""

from __future__ import annotations

import pytest
from django.test import Client

from streams.models import MailStream
from tests.test_admin_crawl import form_as_shown

pytestmark = pytest.mark.django_db

UNSTORABLE = {
    "NaN": ('{"points": NaN}', "NaN is not a number JSON can store"),
    "overflow": ('{"points": 1e999}', "too large to store"),
    "NUL": ('{"name": "a\\u0000b"}', "NUL character"),
    "surrogate": ('{"name": "\\ud800"}', "surrogate"),
    "deep": ("[" * 3000 + "]" * 3000, "nested more than 64 levels"),
}


@pytest.fixture
def client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("case", UNSTORABLE)
def test_unstorable_contact_fields_are_a_form_error(case, client, make_contact):
    contact = make_contact(fields={"city": "Berlin"})
    url = f"/admin/events/contact/{contact.pk}/change/"
    raw, message = UNSTORABLE[case]

    response = client.post(url, {**form_as_shown(client.get(url).content.decode()), "fields": raw})

    assert response.status_code == 200
    assert message in response.content.decode()
    contact.refresh_from_db()
    assert contact.fields == {"city": "Berlin"}


@pytest.mark.parametrize("case", UNSTORABLE)
def test_unstorable_test_trigger_data_is_a_form_error(case, client, make_stream):
    stream = make_stream()
    raw, message = UNSTORABLE[case]

    response = client.post(
        f"/admin/events/externalevent/{stream.event_id}/trigger-test/",
        {"email": "tester@example.org", "data": raw},
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not stream.messages.exists()


def test_storable_json_is_still_saved(client, make_contact):
    contact = make_contact()
    url = f"/admin/events/contact/{contact.pk}/change/"
    shown = form_as_shown(client.get(url).content.decode())

    response = client.post(url, {**shown, "fields": '{"points": 1.25, "tags": ["a", "b"]}'})

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.fields == {"points": 1.25, "tags": ["a", "b"]}


@pytest.mark.parametrize("case", list(UNSTORABLE))
@pytest.mark.parametrize("field", ["sample_data", "sample_contact"])
def test_unstorable_stream_sample_data_is_a_form_error(case, field, client, make_stream):
    stream = make_stream()
    url = f"/admin/streams/mailstream/{stream.pk}/change/"
    raw, _ = UNSTORABLE[case]

    response = client.post(url, {**form_as_shown(client.get(url).content.decode()), field: raw})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get(field)
    assert MailStream.objects.get(pk=stream.pk).sample_data == stream.sample_data


def test_an_over_long_integration_secret_is_a_form_error(client, make_event):
    from events.integrations.models import Integration
    from tests.hooks_support import make_integration

    integration = make_integration(
        make_event("signup"), slug="crm", secret="old-secret", recipient_path="email"
    )
    url = f"/admin/events/integration/{integration.pk}/change/"
    shown = form_as_shown(client.get(url).content.decode())

    response = client.post(url, {**shown, "new_secret": "s" * 256})

    assert response.status_code == 200
    assert "at most 255 characters" in response.content.decode()
    assert Integration.objects.get(pk=integration.pk).secret == "old-secret"
