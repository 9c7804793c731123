"""Hostile input to /api/ is refused in the envelope with a reply code, never answered 500.

Each case here was a 500 (or a misread) on the code before: Unicode digits in ids, NaN/Infinity
and 1e400 in stored data, deep nesting, chunked and non-JSON bodies, long WSSE nonces, and bugs
answered with Django's HTML page.
"""

import json
import logging

import pytest

from delivery.models import Message
from events.credentials import wsse_header
from events.json_bodies import MAX_JSON_DEPTH
from events.models import Contact, Trigger
from events.reply_codes import ReplyCode
from streams.models import MailStream

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream):
    return make_stream()


@pytest.fixture
def jane(make_contact):
    return make_contact("jane@example.org", external_id="C-1")


def envelope(response) -> tuple[int, int, str]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    return response.status_code, body["replyCode"], body["replyText"]


def trigger_url(stream) -> str:
    return f"/api/v2/event/{stream.event_id}/trigger"


# --- ids: only ASCII digits, and only 64-bit ones ------------------------------------------------


def in_digits(number: int, zero: str) -> str:
    """`number` written with the ten digits that start at `zero` ("\u0660" Arabic-Indic)."""
    return str(number).translate({ord("0") + i: chr(ord(zero) + i) for i in range(10)})


@pytest.mark.parametrize("zero", ["\u0660", "\uff10", "\u0966"])
def test_an_event_id_in_other_scripts_digits_is_not_that_event(api, stream, zero):
    # "١" (Arabic-Indic one) used to resolve to event 1.
    response = api.get(f"/api/v2/event/{in_digits(stream.event_id, zero)}")

    status, code, text = envelope(response)
    assert (status, code) == (400, ReplyCode.INVALID_EVENT)
    assert "GET /api/v2/event lists the events" in text


@pytest.mark.parametrize("event_id", ["%C2%B2", "\u00b2", "\u2460"])
def test_an_event_id_in_digit_symbols_is_no_event(api, stream, event_id):
    # "²" passed isdigit() and crashed int(): a 500.
    status, code, _ = envelope(api.get(f"/api/v2/event/{event_id}"))

    assert (status, code) == (400, ReplyCode.INVALID_EVENT)


@pytest.mark.parametrize("number", [str(2**63), "9" * 30, "9" * 5000])
def test_ids_beyond_64_bits_are_not_found(api, stream, number):
    for path in (
        f"/api/v2/event/{number}",
        f"/api/v2/event/{number}/usages",
        f"/api/v2/message/{number}",
    ):
        status, code, _ = envelope(api.get(path))
        assert status in (400, 404) and code in (ReplyCode.INVALID_EVENT, ReplyCode.NOT_FOUND)
    status, code, _ = envelope(api.post(f"/api/v2/email/{number}/broadcast", {"email": "a@b.de"}))
    assert (status, code) == (404, ReplyCode.INVALID_STREAM)


@pytest.mark.parametrize("external_id", ["\u00b2"])
def test_contact_ids_in_unicode_digits_find_no_contact(api, stream, jane, external_id):
    response = api.post(trigger_url(stream), {"key_id": "id", "external_id": external_id})

    status, code, _ = envelope(response)
    assert (status, code) == (400, ReplyCode.CONTACT_NOT_FOUND)
    assert Trigger.objects.count() == 0


# --- numbers jsonb cannot store ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "path"),
    [
        ("NaN", "data.total"),
        ("Infinity", "data.total"),
        ("-Infinity", "data.total"),
        ("1e400", "data.total"),
    ],
)
def test_non_finite_numbers_in_data_are_refused_naming_the_key(api, stream, jane, literal, path):
    raw = (
        '{"key_id": "3", "external_id": "jane@example.org", "data": {"total": ' + literal + "}}"
    ).encode()

    status, code, text = envelope(api.post(trigger_url(stream), raw=raw))

    assert (status, code) == (400, ReplyCode.INVALID_DATA_JSON)
    assert path in text and "finite" in text
    assert Trigger.objects.count() == 0 and Message.objects.count() == 0


def test_non_finite_numbers_inside_data_sent_as_a_string_are_refused(api, stream, jane):
    data = json.dumps({"items": [{"price": 1.5}, {"price": "x"}]}).replace('"x"', "NaN")
    body = {"key_id": "3", "external_id": "jane@example.org", "data": data}

    status, code, text = envelope(api.post(trigger_url(stream), body))

    assert (status, code) == (400, ReplyCode.INVALID_DATA_JSON)
    assert "data.items[1].price" in text


def test_one_nan_contact_in_a_batch_is_a_per_contact_error_and_the_rest_trigger(
    api, stream, make_contact
):
    for index in range(5):
        make_contact(f"reader{index}@example.org")
    contacts = [
        {"external_id": f"reader{index}@example.org", "data": {"n": index}} for index in range(5)
    ]
    raw = json.dumps({"key_id": "3", "contacts": contacts}).replace('"n": 2', '"n": NaN')

    response = api.post(trigger_url(stream), raw=raw.encode())

    status, code, _ = envelope(response)
    assert (status, code) == (200, ReplyCode.OK)
    data = response.json()["data"]
    assert len(data["ids"]) == 4
    [text] = data["errors"]["reader2@example.org"].values()
    assert "data.n" in text
    assert str(int(ReplyCode.INVALID_DATA_JSON)) in data["errors"]["reader2@example.org"]
    assert sorted(Message.objects.values_list("recipient", flat=True)) == [
        f"reader{index}@example.org" for index in (0, 1, 3, 4)
    ]


def test_non_finite_contact_fields_are_refused_per_contact(api):
    raw = (
        b'{"key_id": "3", "contacts": [{"3": "a@example.org", "score": Infinity},'
        b' {"3": "b@example.org", "score": 7}]}'
    )

    # POST creates (PUT would only update: issue 20).
    response = api.post("/api/v2/contact", raw=raw)

    status, code, _ = envelope(response)
    assert (status, code) == (200, ReplyCode.OK)
    errors = response.json()["data"]["errors"]
    assert "score" in errors["a@example.org"][str(int(ReplyCode.INVALID_CONTACT_DATA))]
    assert list(Contact.objects.values_list("email", flat=True)) == ["b@example.org"]


def test_non_finite_numbers_in_broadcast_data_are_refused(api, make_stream):
    stream = make_stream(kind=MailStream.Kind.BROADCAST, name="News")
    raw = b'{"recipients": ["a@example.org", {"email": "b@example.org", "data": {"x": 1e999}}]}'

    response = api.post(f"/api/v2/email/{stream.pk}/broadcast", raw=raw)

    status, code, _ = envelope(response)
    assert (status, code) == (200, ReplyCode.OK)
    assert "data.x" in response.json()["data"]["errors"]["b@example.org"]["5009"]
    assert list(Message.objects.values_list("recipient", flat=True)) == ["a@example.org"]


# --- nesting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 10_000])
def test_deep_nesting_is_refused_with_the_limit(api, stream, jane, depth):
    nested = "[" * depth + "]" * depth
    raw = f'{{"key_id": "3", "external_id": "jane@example.org", "data": {{"x": {nested}}}}}'

    status, code, text = envelope(api.post(trigger_url(stream), raw=raw.encode()))

    assert (status, code) == (400, ReplyCode.INVALID_DATA_JSON)
    assert f"more than {MAX_JSON_DEPTH} levels" in text


def test_nesting_is_accepted_up_to_the_limit_and_refused_one_level_deeper(api, stream, jane):
    def body(depth: int) -> bytes:
        nested = "[" * (depth - 2) + "]" * (depth - 2)  # the body and data are two levels
        text = f'{{"key_id": "3", "external_id": "jane@example.org", "data": {{"x": {nested}}}}}'
        return text.encode()

    assert envelope(api.post(trigger_url(stream), raw=body(MAX_JSON_DEPTH)))[:2] == (200, 0)
    assert envelope(api.post(trigger_url(stream), raw=body(MAX_JSON_DEPTH + 1)))[:2] == (
        400,
        ReplyCode.INVALID_DATA_JSON,
    )


# --- how the body is sent ------------------------------------------------------------------------


def test_a_chunked_body_without_content_length_gets_411(api, stream, jane):
    body = json.dumps({"key_id": "3", "external_id": "jane@example.org"}).encode()
    response = api.client.generic(
        "POST",
        trigger_url(stream),
        body,
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    status, code, text = envelope(response)
    assert (status, code) == (411, ReplyCode.LENGTH_REQUIRED)
    assert "Content-Length" in text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_a_body_not_sent_as_json_gets_1007_and_415(api, stream, jane, content_type):
    body = json.dumps({"key_id": "3", "external_id": "jane@example.org"})

    response = api.client.generic("POST", trigger_url(stream), body, content_type=content_type)

    status, code, text = envelope(response)
    assert (status, code) == (415, ReplyCode.UNSUPPORTED_MEDIA_TYPE)
    assert "Content-Type: application/json" in text
    assert Trigger.objects.count() == 0


def test_json_content_types_with_parameters_are_accepted_and_others_refused(api, stream, jane):
    body = json.dumps({"key_id": "3", "external_id": "jane@example.org"})

    def send(content_type: str):
        return api.client.generic("POST", trigger_url(stream), body, content_type=content_type)

    assert envelope(send("application/json; charset=utf-8"))[:2] == (200, ReplyCode.OK)
    assert envelope(send("text/plain; charset=utf-8"))[:2] == (
        415,
        ReplyCode.UNSUPPORTED_MEDIA_TYPE,
    )


# --- authentication ------------------------------------------------------------------------------


def test_a_wsse_nonce_longer_than_the_stored_column_is_refused_not_truncated(
    client, credential, stream
):
    nonce = "n" * 300
    header = wsse_header(credential.username, credential.secret, nonce=nonce)

    response = client.get("/api/v2/event", HTTP_X_WSSE=header)

    status, code, text = envelope(response)
    assert (status, code) == (401, ReplyCode.UNAUTHORIZED)
    assert "Nonce is 300 characters long" in text


# --- answers that never reached a view, and bugs -------------------------------------------------


def test_options_answers_in_the_envelope(api):
    # DRF's default answered OPTIONS with its own description of the view, not an envelope.
    response = api.client.options("/api/v2/event")

    status, code, _ = envelope(response)
    assert (status, code) == (200, ReplyCode.OK)
    assert response.json()["data"]["methods"] == ["GET", "POST", "HEAD", "OPTIONS"]
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_an_unexpected_error_is_an_enveloped_500_logged_with_nothing_written(
    api, stream, jane, monkeypatch, caplog
):
    def crash(result):
        raise RuntimeError("a bug after the trigger was written")

    # After trigger_event wrote the Trigger and its Message rows, shaping the answer fails.
    monkeypatch.setattr("events.api.views.message_summary", crash)
    api.client.raise_request_exception = False

    with caplog.at_level(logging.ERROR, logger="events.api.envelope"):
        response = api.post(trigger_url(stream), {"key_id": "3", "external_id": "jane@example.org"})

    status, code, text = envelope(response)
    assert (status, code) == (500, ReplyCode.INTERNAL_ERROR)
    assert "Internal error" in text
    [record] = [r for r in caplog.records if r.name == "events.api.envelope"]
    assert record.exc_info and "a bug after the trigger was written" in str(record.exc_info[1])
    assert Trigger.objects.count() == 0 and Message.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/%0D%0A/2", "/api/x%0A", "/hooks/x%0A/"])
def test_a_line_break_in_an_unknown_path_is_answered_in_json(client, path):
    # The catch-all routes matched "." up to the first line break, so Django's HTML 404 answered.
    response = client.post(path, b"{}", content_type="application/json")

    assert response.status_code in (401, 404)  # /api/ asks for credentials before "not found"
    assert response["Content-Type"].startswith("application/json")
