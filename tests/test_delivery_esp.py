"""The dedicated path through an ESP: Anymail's test backend, and Anymail's Postmark backend
talking HTTP to a local stand-in for Postmark's API (the one faked seam)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from delivery.models import DeliveryEvent, Message
from delivery.tasks import sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream, make_contact):
    make_contact("jane@example.org")
    return make_stream()


def trigger(api, stream):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "E-1"}},
    )
    assert response.json()["replyCode"] == 0
    return Message.objects.get()


def test_esp_backend_gets_metadata_and_records_its_message_id(api, stream, settings):
    settings.TRIGGERED_EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    mail.outbox = []

    message = trigger(api, stream)

    [sent] = mail.outbox
    assert sent.anymail_test_params["metadata"] == {
        "message_id": str(message.pk),
        "stream_id": str(stream.pk),
    }
    assert sent.anymail_test_params["tags"] == [f"stream-{stream.pk}"]
    assert sent.extra_headers["Message-ID"] == message.message_id
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.esp_message_id == "0"  # the test backend's id: the outbox index
    assert message.events.get().provider == "test"


def test_default_email_backend_is_never_used(api, stream, settings, smtp_server):
    # Django's EMAIL_BACKEND (locmem in tests) is for the site's own mail only.
    mail.outbox = []

    trigger(api, stream)

    assert mail.outbox == []
    assert len(smtp_server.wait_for(1)) == 1


INACTIVE_RECIPIENT = (
    422,
    {
        "ErrorCode": 406,
        "Message": "You tried to send to a recipient that has been marked as inactive.\n"
        "Found inactive addresses: jane@example.org.\n"
        "Inactive recipients are ones that have generated a hard bounce or a spam complaint.",
    },
)


class FakePostmark(BaseHTTPRequestHandler):
    """Answers POST /email like Postmark's API, with scripted replies."""

    replies: list[tuple[int, dict]] = []
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakePostmark.requests.append(body)
        status, reply = (
            FakePostmark.replies.pop(0)
            if FakePostmark.replies
            else (
                200,
                {
                    "To": body["To"],
                    "SubmittedAt": "2026-11-27T10:00:00Z",
                    "MessageID": f"pm-{len(FakePostmark.requests)}",
                    "ErrorCode": 0,
                    "Message": "OK",
                },
            )
        )
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def postmark(settings):
    yield from serve_fake_postmark(settings)


def serve_fake_postmark(settings):
    """Anymail's Postmark backend, talking to FakePostmark until the generator is closed."""
    FakePostmark.replies = []
    FakePostmark.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePostmark)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TRIGGERED_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "server-token",
        "POSTMARK_API_URL": f"http://127.0.0.1:{server.server_port}/",
    }
    yield FakePostmark
    server.shutdown()


def test_postmark_accepts_and_its_message_id_is_recorded(api, stream, postmark):
    message = trigger(api, stream)

    [request] = postmark.requests
    assert request["To"] == "jane@example.org"
    assert request["Subject"] == "Your order #E-1"
    assert request["Metadata"] == {"message_id": str(message.pk), "stream_id": str(stream.pk)}
    message.refresh_from_db()
    assert (message.status, message.esp_message_id) == (Message.Status.SENT, "pm-1")
    assert message.events.get().provider == "postmark"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_esp_overload_or_outage_is_retried(api, stream, postmark, status):
    postmark.replies.append((status, {"ErrorCode": 100, "Message": "Try later"}))

    message = trigger(api, stream)

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert str(status) in message.last_error
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    sweep()
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(postmark.requests) == 2


def test_esp_rejecting_the_recipient_fails_at_once(api, stream, postmark):
    postmark.replies.append(INACTIVE_RECIPIENT)

    message = trigger(api, stream)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "refused" in message.last_error
    # An inactive recipient is a hard bounce (tests/test_esp_message_streams.py).
    assert message.events.get().event_type == DeliveryEvent.Type.BOUNCED
    assert len(postmark.requests) == 1


def test_esp_marking_the_recipient_rejected_without_error_fails(api, stream, postmark, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_RECIPIENT_STATUS": True}
    postmark.replies.append(INACTIVE_RECIPIENT)

    message = trigger(api, stream)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "rejected" in message.last_error
