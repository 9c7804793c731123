"""GET /api/v2/message/{id}: status, stream, version, timestamps and the event timeline."""

import pytest

from delivery.models import Message
from delivery.tracking import TrackedEvent, record_event
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def test_message_status_shows_timeline(api: Api, smtp_server, make_stream, make_contact):
    from datetime import timedelta

    stream = make_stream()
    make_contact("jane@example.org")
    triggered = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "7"}},
    ).json()
    message = Message.objects.get(pk=triggered["data"]["messages"][0]["id"])
    record_event(
        message,
        TrackedEvent(
            event_type="opened",
            occurred_at=message.sent_at + timedelta(minutes=5),
            provider="tracking",
            user_agent="Mail/1.0",
        ),
    )

    response = api.get(f"/api/v2/message/{message.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["replyCode"] == 0
    data = body["data"]
    assert data["id"] == message.pk
    assert data["status"] == "sent"
    assert data["outcome"] == "opened"
    assert data["stream"] == {"id": stream.pk, "name": stream.name}
    assert data["version"] == {"id": stream.current_version_id, "number": 1}
    assert data["message_id"] == message.message_id
    assert data["timestamps"]["sent_at"].endswith("Z")
    assert data["timestamps"]["opened_at"] is not None
    assert [e["type"] for e in data["events"]] == ["sent", "opened"]
    assert data["events"][1]["user_agent"] == "Mail/1.0"


def test_unknown_message_is_a_404_in_the_envelope(api: Api, db):
    response = api.get("/api/v2/message/999999")
    word = api.get("/api/v2/message/abc")

    assert response.status_code == word.status_code == 404
    assert response.json()["replyCode"] == 1003
    assert "No message 999999" in response.json()["replyText"]


def test_message_status_needs_authentication(anonymous_api: Api, db):
    response = anonymous_api.get("/api/v2/message/1")

    assert response.status_code == 401
    assert response.json()["replyCode"] == 1
