"""Managing external events over the API: list, create, get, rename, delete, usages."""

import pytest

from events.models import ExternalEvent

pytestmark = pytest.mark.django_db


def data(response):
    assert response.json()["replyCode"] == 0, response.json()
    return response.json()["data"]


def test_create_and_list_events(api):
    created = data(api.post("/api/v2/event", {"name": "password_reset"}))

    assert created["name"] == "password_reset"
    assert data(api.get("/api/v2/event")) == [{"id": created["id"], "name": "password_reset"}]


def test_create_event_with_taken_name_is_refused(api, make_event):
    make_event("password_reset")

    response = api.post("/api/v2/event", {"name": "password_reset"})

    assert response.status_code == 400
    assert response.json()["replyCode"] == 5002


def test_create_event_without_name_is_refused(api):
    response = api.post("/api/v2/event", {"title": "x"})

    assert response.status_code == 400
    assert response.json()["replyCode"] == 1002
    assert "name" in response.json()["replyText"]


def test_get_and_rename_event(api, make_event):
    event = make_event("old_name")

    assert data(api.get(f"/api/v2/event/{event.pk}")) == {"id": event.pk, "name": "old_name"}
    renamed = data(api.post(f"/api/v2/event/{event.pk}", {"name": "new_name"}))

    assert renamed == {"id": event.pk, "name": "new_name"}
    event.refresh_from_db()
    assert event.name == "new_name"


def test_unknown_event_is_5001(api):
    response = api.get("/api/v2/event/4242")

    assert response.status_code == 400
    assert response.json()["replyCode"] == 5001


def test_delete_unused_event(api, make_event):
    event = make_event()

    assert data(api.post(f"/api/v2/event/{event.pk}/delete")) == {"id": event.pk}
    assert not ExternalEvent.objects.exists()


def test_delete_event_used_by_a_stream_is_refused(api, make_stream):
    stream = make_stream()

    response = api.post(f"/api/v2/event/{stream.event_id}/delete")

    assert response.status_code == 400
    assert response.json()["replyCode"] == 5006
    assert stream.name in response.json()["replyText"]
    assert ExternalEvent.objects.filter(pk=stream.event_id).exists()


def test_usages_list_linked_streams(api, make_stream):
    stream = make_stream()

    usages = data(api.get(f"/api/v2/event/{stream.event_id}/usages"))

    assert usages["streams"] == [
        {"id": stream.pk, "name": stream.name, "status": "live", "kind": "contact"}
    ]


def test_unknown_api_url_is_a_json_404(api):
    response = api.get("/api/v2/nothing-here")

    assert response.status_code == 404
    assert response.json()["replyCode"] == 1003


def test_wrong_method_is_a_json_405(api, make_event):
    response = api.client.delete(f"/api/v2/event/{make_event().pk}")

    assert response.status_code == 405
    assert response.json()["replyCode"] == 1004
