"""Every Anymail webhook URL (/anymail/<esp>/tracking/, inbound, Mandrill's combined one) answers
hostile requests with a 4xx and a text saying what is wrong, never a 5xx. The one 5xx left is a
database error, so the ESP delivers the event again later.

The URLs come from Anymail's own URL patterns, so an ESP added to Anymail is covered without
being listed here.
"""

from __future__ import annotations

import base64
import http.client
import io
import json

import pytest
from anymail import urls as anymail_urls
from django.core.handlers.asgi import ASGIRequest
from django.db import DataError, OperationalError
from django.test import Client
from django.urls import resolve, reverse

from delivery.models import DeliveryEvent

pytestmark = pytest.mark.django_db

SECRET = "hook-user:hook-password-123"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}
WEBHOOK_URLS = [reverse(f"anymail:{pattern.name}") for pattern in anymail_urls.urlpatterns]

# Enough for every Anymail view to be built (each ESP's signing key or API key is present).
EVERY_ESP_CONFIGURED = {
    "WEBHOOK_SECRET": SECRET,
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-signing-key",
    "MANDRILL_WEBHOOK_KEY": "mandrill-webhook-key",
    "POSTAL_WEBHOOK_KEY": base64.b64encode(b"not really a key").decode(),
    "RESEND_SIGNING_SECRET": "whsec_" + base64.b64encode(b"resend-signing-secret").decode(),
    "MAILERSEND_SIGNING_SECRET": "mailersend-signing-secret",
    "MAILTRAP_API_TOKEN": "mailtrap-token",
    "MAILTRAP_WEBHOOK_SIGNING_SECRET": "mailtrap-signing-secret",
    "UNISENDER_GO_API_KEY": "unisender-go-key",
    "BREVO_API_KEY": "brevo-key",
    "SENDINBLUE_API_KEY": "brevo-key",
}

JSON_BODIES = {
    "null": b"null",
    "empty object": b"{}",
    "empty list": b"[]",
    "overflowing number": b"-1e999",
    "string": b'"text"',
    "list of non-objects": b'[1, null, "x", [2]]',
    "list of empty objects": b"[{}, {}]",
    "object of wrong types": b'{"event": 1, "msys": [], "RecordType": {}, "event-data": "x"}',
    "NUL characters": b'{"RecordType": "Bounce\\u0000", "Email": "a\\u0000@example.org"}',
    "not JSON": b"{'RecordType': 'Delivery'",
    "empty body": b"",
    "non-UTF-8 bytes": b"\xff\xfe\x00{\x80",
}
FORM_BODIES = {
    "form with null": b"mandrill_events=null&event=1",
    "form with non-UTF-8": b"mandrill_events=%FF%FE&signature=%80",
    "form with a list of numbers": b"mandrill_events=%5B1%2C2%5D",
}


def assert_answered_with_text(response, *statuses: int) -> str:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert text.strip()
    return text


@pytest.fixture
def configured(settings):
    settings.ANYMAIL = dict(EVERY_ESP_CONFIGURED)


@pytest.mark.parametrize("url", WEBHOOK_URLS)
def test_an_esp_that_is_not_configured_answers_404_naming_the_setting(settings, url):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}

    response = Client().post(url, data=b"{}", content_type="application/json", **AUTH)

    if response.status_code == 404:
        text = assert_answered_with_text(response, 404)
        assert "not configured" in text
        # The variable to set, or the package to install (Amazon SES needs boto3).
        assert "ANYMAIL_" in text or "install" in text
    else:
        # Needs no setting of its own beyond the secret: it reads the body.
        assert response.status_code < 500, (response.status_code, response.content[:300])


def test_unconfigured_esps_are_the_ones_missing_their_keys(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}

    statuses = {
        url: Client().post(url, data=b"{}", content_type="application/json", **AUTH).status_code
        for url in ("/anymail/mailgun/tracking/", "/anymail/mandrill/tracking/")
    }

    assert statuses == {"/anymail/mailgun/tracking/": 404, "/anymail/mandrill/tracking/": 404}


@pytest.mark.parametrize("url", WEBHOOK_URLS)
def test_hostile_json_bodies_never_answer_5xx(configured, url):
    for name, body in JSON_BODIES.items():
        response = Client().post(url, data=body, content_type="application/json", **AUTH)
        if response.status_code != 200:
            assert_answered_with_text(response, 400, 404), name


@pytest.mark.parametrize("url", WEBHOOK_URLS)
def test_hostile_form_bodies_never_answer_5xx(configured, url):
    for name, body in FORM_BODIES.items():
        response = Client().post(
            url, data=body, content_type="application/x-www-form-urlencoded", **AUTH
        )
        if response.status_code != 200:
            assert_answered_with_text(response, 400, 404), name


@pytest.mark.parametrize("url", WEBHOOK_URLS)
def test_a_chunked_body_without_content_length_gets_400_saying_so(configured, url):
    response = Client().post(
        url,
        data=b'{"RecordType": "Delivery"}',
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **AUTH,
    )

    text = assert_answered_with_text(response, 400, 404)
    if response.status_code == 400:
        assert "Content-Length" in text


@pytest.mark.parametrize("url", WEBHOOK_URLS)
def test_a_12_mb_body_gets_413(configured, url):
    body = b'{"pad": "' + b"x" * (12 * 1024 * 1024) + b'"}'

    response = Client().post(url, data=body, content_type="application/json", **AUTH)

    text = assert_answered_with_text(response, 413)
    assert "MB" in text


def test_a_body_without_content_length_that_turns_out_too_large_gets_413(configured, settings):
    # On ASGI a chunked body has no Content-Length and is read in full: Django refuses it when
    # it is read, and that must answer 413 too.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/anymail/postmark/tracking/",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", AUTH["HTTP_AUTHORIZATION"].encode()),
        ],
    }
    request = ASGIRequest(scope, io.BytesIO(b'{"pad": "' + b"x" * 4096 + b'"}'))
    match = resolve(request.path)

    response = match.func(request, *match.args, **match.kwargs)

    assert_answered_with_text(response, 413)


def test_wrong_basic_auth_gets_400_before_anything_else(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}

    for url in WEBHOOK_URLS:
        response = Client().post(
            url,
            data=b"{}",
            content_type="application/json",
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"a:wrong").decode(),
        )
        assert_answered_with_text(response, 400)


def test_a_real_event_still_gets_200_and_is_stored(configured):
    payload = {"RecordType": "Delivery", "MessageID": "abc", "Recipient": "a@example.org"}

    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        **AUTH,
    )

    assert response.status_code == 200
    assert DeliveryEvent.objects.get().event_type == "delivered"


def test_a_database_error_is_the_one_5xx(configured, monkeypatch):
    from delivery import webhooks

    def database_down(*args, **kwargs):
        raise OperationalError("the database is gone")

    monkeypatch.setattr(webhooks, "record_event", database_down)
    client = Client(raise_request_exception=False)

    response = client.post(
        "/anymail/postmark/tracking/",
        data=json.dumps({"RecordType": "Delivery", "MessageID": "abc"}),
        content_type="application/json",
        **AUTH,
    )

    assert response.status_code == 500


@pytest.mark.parametrize(
    "payload",
    [
        {"RecordType": "Bounce\u0000", "Email": "a\u0000@example.org", "Details": "x\u0000y"},
        {"RecordType": "Delivery", "MessageID": "m\u0000", "Recipient": "a@example.org"},
        {"RecordType": "SomethingNew", "Score": float("-inf")},
    ],
    ids=["NUL in the type", "NUL in the message id", "infinite number"],
)
def test_values_the_database_refuses_are_stored_as_an_event_not_refused(configured, payload):
    # NUL characters and infinities are valid JSON input (\u0000, -1e999) but PostgreSQL
    # refuses them in text and jsonb columns; they are replaced, and the event is kept.
    body = json.dumps(payload).replace("-Infinity", "-1e999")

    response = Client().post(
        "/anymail/postmark/tracking/", data=body, content_type="application/json", **AUTH
    )

    assert response.status_code == 200, response.content
    event = DeliveryEvent.objects.get()
    assert "\u0000" not in json.dumps(event.raw) and "\u0000" not in event.description


@pytest.mark.parametrize("our_id", ["99999999999999999999999", "\u00b2", "\u0661\u0662"])
def test_a_message_id_in_metadata_that_is_no_row_id_is_stored_unlinked(configured, our_id):
    payload = {
        "RecordType": "Delivery",
        "MessageID": "unknown-to-us",
        "Recipient": "a@example.org",
        "Metadata": {"message_id": our_id},
    }

    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        **AUTH,
    )

    assert response.status_code == 200, response.content
    assert DeliveryEvent.objects.get().message is None


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_a_real_socket_gets_400_saying_so(live_server, settings):
    # Through a real WSGI server, as an ESP sends it: Transfer-Encoding chunked, no length.
    settings.ANYMAIL = dict(EVERY_ESP_CONFIGURED)
    host, port = live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    # The chunks are encoded here and go out with the headers in one write: the server answers
    # 400 from the headers alone and closes, which broke the pipe under a client that was still
    # writing chunk by chunk.
    chunks = [b'{"RecordType": ', b'"Delivery"}']
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    connection.request(
        "POST",
        "/anymail/postmark/tracking/",
        body=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": AUTH["HTTP_AUTHORIZATION"],
            "Transfer-Encoding": "chunked",
        },
    )
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()

    assert response.status == 400
    assert "Content-Length" in text
    assert not DeliveryEvent.objects.exists()


def test_values_the_database_still_refuses_get_400_not_a_retry(configured, monkeypatch):
    # A DataError comes from the payload: the same payload would fail on every retry.
    from delivery import webhooks

    def value_out_of_range(*args, **kwargs):
        raise DataError("value out of range")

    monkeypatch.setattr(webhooks, "record_event", value_out_of_range)

    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps({"RecordType": "Delivery", "MessageID": "abc"}),
        content_type="application/json",
        **AUTH,
    )

    text = assert_answered_with_text(response, 400)
    assert "cannot be stored" in text
