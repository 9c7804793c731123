"""POST /api/v2/event/{id}/trigger: single and batch, every reply code, replays, limits."""

import base64
import json

import pytest

from delivery.models import Message, MessageAttachment
from events.models import Contact, Trigger
from streams.models import MailStream

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(make_stream):
    return make_stream()


@pytest.fixture
def jane(make_contact):
    return make_contact("jane@example.org", first_name="Jane", external_id="C-1")


def url(stream_or_event_id):
    event_id = getattr(stream_or_event_id, "event_id", stream_or_event_id)
    return f"/api/v2/event/{event_id}/trigger"


def reply(response):
    body = response.json()
    return response.status_code, body["replyCode"]


def assert_nothing_written():
    assert Trigger.objects.count() == 0
    assert Message.objects.count() == 0


def test_single_trigger_sends_to_contact(api, smtp_server, stream, jane):
    response = api.post(url(stream), {"key_id": "3", "external_id": "Jane@Example.org"})

    assert reply(response) == (200, 0)
    [entry] = response.json()["data"]["messages"]
    assert entry["status"] == "queued"
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["jane@example.org"]
    assert Message.objects.get().status == Message.Status.SENT


@pytest.mark.parametrize(
    ("key_id", "value"),
    [(3, "jane@example.org"), ("email", "jane@example.org"), ("external_id", "C-1")],
)
def test_key_fields_find_the_contact(api, smtp_server, stream, jane, key_id, value):
    response = api.post(url(stream), {"key_id": key_id, "external_id": value})

    assert reply(response) == (200, 0)
    assert Message.objects.get().contact == jane


def test_key_id_id_finds_contact_by_internal_id(api, smtp_server, stream, jane):
    response = api.post(url(stream), {"key_id": "id", "external_id": str(jane.pk)})

    assert reply(response) == (200, 0)
    assert Message.objects.get().contact == jane


def test_invalid_key_field_is_2004(api, stream, jane):
    response = api.post(url(stream), {"key_id": "99", "external_id": "jane@example.org"})

    assert reply(response) == (400, 2004)
    assert "99" in response.json()["replyText"]
    assert_nothing_written()


def test_missing_key_value_is_2005(api, stream, jane):
    response = api.post(url(stream), {"key_id": "3", "external_id": ""})

    assert reply(response) == (400, 2005)
    assert_nothing_written()


def test_unknown_contact_is_2008(api, stream, jane):
    response = api.post(url(stream), {"key_id": "3", "external_id": "nobody@example.org"})

    assert reply(response) == (400, 2008)
    assert "nobody@example.org" in response.json()["replyText"]
    assert_nothing_written()


def test_internal_id_beyond_any_row_is_2008_not_a_500(api, stream, jane):
    response = api.post(url(stream), {"key_id": "id", "external_id": "9" * 20})

    assert reply(response) == (400, 2008)
    assert_nothing_written()


def test_two_contacts_with_the_key_is_2010(api, stream, make_contact):
    make_contact("twin@example.org")
    make_contact("twin@example.org")

    response = api.post(url(stream), {"key_id": "3", "external_id": "twin@example.org"})

    assert reply(response) == (400, 2010)
    assert_nothing_written()


@pytest.mark.parametrize("event_id", ["999", "abc"])
def test_invalid_event_id_is_5001(api, stream, jane, event_id):
    response = api.post(url(event_id), {"key_id": "3", "external_id": "jane@example.org"})

    assert reply(response) == (400, 5001)


def test_event_without_live_stream_is_5005(api, make_stream, jane):
    stream = make_stream(status=MailStream.Status.DRAFT)

    response = api.post(url(stream), {"key_id": "3", "external_id": "jane@example.org"})

    assert reply(response) == (400, 5005)
    assert "launch" in response.json()["replyText"]
    assert_nothing_written()


def test_data_that_is_not_json_is_5009(api, stream, jane):
    response = api.post(
        url(stream), {"key_id": "3", "external_id": "jane@example.org", "data": "{oops"}
    )

    assert reply(response) == (400, 5009)
    assert_nothing_written()


def test_body_that_is_not_json_is_5009(api, stream):
    response = api.post(url(stream), raw=b'{"key_id": "3", ')

    assert reply(response) == (400, 5009)
    assert "not valid JSON" in response.json()["replyText"]


@pytest.mark.parametrize("data", [[1, 2], 42, '"a string"'])
def test_data_that_is_not_an_object_is_5011(api, stream, jane, data):
    response = api.post(
        url(stream), {"key_id": "3", "external_id": "jane@example.org", "data": data}
    )

    assert reply(response) == (400, 5011)
    assert_nothing_written()


def test_data_given_as_json_string_is_accepted(api, smtp_server, stream, jane):
    response = api.post(
        url(stream),
        {"key_id": "3", "external_id": "jane@example.org", "data": '{"order_id": "S-9"}'},
    )

    assert reply(response) == (200, 0)
    assert smtp_server.wait_for(1)[0].message["Subject"] == "Your order #S-9"


@pytest.mark.parametrize(
    "event_time", ["2026-11-27 10:00:00", "2026-11-27T10:00:00+01:00", "yesterday", 17]
)
def test_invalid_event_time_is_5010(api, stream, jane, event_time):
    response = api.post(
        url(stream),
        {"key_id": "3", "external_id": "jane@example.org", "event_time": event_time},
    )

    assert reply(response) == (400, 5010)
    assert_nothing_written()


@pytest.mark.parametrize("event_time", ["2026-11-27T10:00:00Z", "2026-11-27T10:00:00.123Z"])
def test_valid_event_time_is_stored(api, smtp_server, stream, jane, event_time):
    response = api.post(
        url(stream),
        {"key_id": "3", "external_id": "jane@example.org", "event_time": event_time},
    )

    assert reply(response) == (200, 0)
    assert Message.objects.get().event_time.isoformat() == "2026-11-27T10:00:00+00:00"


def test_wrong_field_type_is_a_clear_4xx(api, stream, jane):
    response = api.post(
        url(stream), {"key_id": "3", "external_id": "jane@example.org", "trigger_id": [1]}
    )

    assert reply(response) == (400, 1002)
    assert "trigger_id" in response.json()["replyText"]


def test_body_that_is_not_an_object_is_refused(api, stream):
    response = api.post(url(stream), ["key_id", "3"])

    assert reply(response) == (400, 5011)


def test_rate_limit_is_7003(api, stream, jane, settings):
    settings.API_RATE_LIMIT = "2/min"
    body = {"key_id": "3", "external_id": "jane@example.org"}
    from django.core.cache import cache

    cache.clear()
    statuses = [api.post(url(stream), body).status_code for _ in range(3)]

    assert statuses[:2] == [200, 200]
    response = api.post(url(stream), body)
    assert reply(response) == (429, 7003)
    assert int(response["Retry-After"]) > 0
    cache.clear()


# --- batch --------------------------------------------------------------------------------------


def test_batch_with_good_and_bad_contacts(api, smtp_server, stream, jane, make_contact):
    bob = make_contact("bob@example.org", first_name="Bob")
    response = api.post(
        url(stream),
        {
            "key_id": "3",
            "contacts": [
                {"external_id": "jane@example.org", "data": {"order_id": "J"}},
                {"external_id": "ghost@example.org"},
                {"external_id": "bob@example.org", "data": {"order_id": "B"}},
                {"external_id": "bad-data@example.org", "data": "not json"},
                {"external_id": ""},
            ],
        },
    )

    assert reply(response) == (200, 0)
    data = response.json()["data"]
    assert data["ids"] == [str(jane.pk), str(bob.pk)]
    assert set(data["errors"]) == {"ghost@example.org", "bad-data@example.org", "#4"}
    assert "2008" in data["errors"]["ghost@example.org"]
    assert "5009" in data["errors"]["bad-data@example.org"]
    assert "2005" in data["errors"]["#4"]
    mails = smtp_server.wait_for(2)
    assert sorted(m.message["Subject"] for m in mails) == ["Your order #B", "Your order #J"]
    trigger = Trigger.objects.get()
    assert (trigger.message_count, trigger.error_count) == (2, 3)


def test_batch_over_1000_is_1000(api, stream):
    contacts = [{"external_id": f"c{i}@example.org"} for i in range(1001)]

    response = api.post(url(stream), {"key_id": "3", "contacts": contacts})

    assert reply(response) == (400, 1000)
    assert_nothing_written()


def test_batch_contacts_must_be_a_list(api, stream):
    response = api.post(url(stream), {"key_id": "3", "contacts": "jane@example.org"})

    assert reply(response) == (400, 1002)


def test_batch_sends_each_contact_once_per_stream(
    api, smtp_server, make_stream, make_event, make_contact
):
    event = make_event()
    make_stream(event, name="First")
    make_stream(event, name="Second", subject="Second #{{ event.order_id }}")
    make_contact("a@example.org")
    make_contact("b@example.org")

    response = api.post(
        url(event.pk),
        {
            "key_id": "3",
            "contacts": [{"external_id": "a@example.org"}, {"external_id": "b@example.org"}],
        },
    )

    assert reply(response) == (200, 0)
    assert len(smtp_server.wait_for(4)) == 4
    assert Message.objects.filter(status=Message.Status.SENT).count() == 4


# --- replays --------------------------------------------------------------------------------------


def test_repeated_trigger_id_is_accepted_but_not_sent_again(api, smtp_server, stream, jane):
    body = {"key_id": "3", "external_id": "jane@example.org", "trigger_id": "order-17"}

    first = api.post(url(stream), body)
    second = api.post(url(stream), body)

    assert reply(first) == (200, 0)
    assert reply(second) == (200, 0)
    assert second.json()["data"]["messages"][0]["status"] == "duplicate"
    assert second.json()["data"]["messages"][0]["id"] == first.json()["data"]["messages"][0]["id"]
    smtp_server.wait_for(1)
    assert Message.objects.count() == 1
    assert len(smtp_server.received) == 1


def test_same_trigger_id_for_another_contact_is_sent(api, smtp_server, stream, jane, make_contact):
    make_contact("bob@example.org")
    api.post(url(stream), {"key_id": "3", "external_id": "jane@example.org", "trigger_id": "x"})
    api.post(url(stream), {"key_id": "3", "external_id": "bob@example.org", "trigger_id": "x"})

    assert len(smtp_server.wait_for(2)) == 2


def test_repeated_trigger_id_inside_one_batch_is_sent_once(api, smtp_server, stream, jane):
    entry = {"external_id": "jane@example.org", "trigger_id": "t-1"}

    response = api.post(url(stream), {"key_id": "3", "contacts": [entry, entry]})

    statuses = [m["status"] for m in response.json()["data"]["messages"]]
    assert statuses == ["queued", "duplicate"]
    assert Message.objects.count() == 1


def test_idempotency_key_replays_the_first_response(api, smtp_server, stream, jane):
    body = {"key_id": "3", "external_id": "jane@example.org"}

    first = api.post(url(stream), body, HTTP_IDEMPOTENCY_KEY="req-1")
    retry = api.post(url(stream), body, HTTP_IDEMPOTENCY_KEY="req-1")

    assert retry.status_code == first.status_code == 200
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    smtp_server.wait_for(1)
    assert Message.objects.count() == 1
    assert Trigger.objects.count() == 1


def test_idempotency_key_reused_for_another_request_is_refused(api, smtp_server, stream, jane):
    api.post(
        url(stream),
        {"key_id": "3", "external_id": "jane@example.org"},
        HTTP_IDEMPOTENCY_KEY="req-2",
    )

    response = api.post(
        url(stream),
        {"key_id": "3", "external_id": "jane@example.org", "data": {"other": 1}},
        HTTP_IDEMPOTENCY_KEY="req-2",
    )

    assert reply(response) == (422, 1005)
    assert Message.objects.count() == 1


def test_failed_request_with_idempotency_key_can_be_retried(api, smtp_server, stream, jane):
    body = {"key_id": "3", "external_id": "later@example.org"}
    assert reply(api.post(url(stream), body, HTTP_IDEMPOTENCY_KEY="req-3")) == (400, 2008)
    Contact.objects.create(email="later@example.org")

    response = api.post(url(stream), body, HTTP_IDEMPOTENCY_KEY="req-3")

    assert reply(response) == (200, 0)
    assert Message.objects.count() == 1


# --- attachments and limits ----------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_attachment_is_stored_and_sent(api, smtp_server, stream, jane):
    response = api.post(
        url(stream),
        {
            "key_id": "3",
            "external_id": "jane@example.org",
            "attachment": [{"filename": "../../etc/invoice 17.pdf", "data": b64(b"%PDF-1.4 x")}],
        },
    )

    assert reply(response) == (200, 0)
    stored = MessageAttachment.objects.get()
    assert stored.filename == "invoice 17.pdf"
    assert stored.content_type == "application/pdf"
    [mail] = smtp_server.wait_for(1)
    [part] = [p for p in mail.message.walk() if p.get_filename()]
    assert part.get_filename() == "invoice 17.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_payload(decode=True) == b"%PDF-1.4 x"


def test_bad_base64_attachment_is_5013(api, stream, jane):
    response = api.post(
        url(stream),
        {
            "key_id": "3",
            "external_id": "jane@example.org",
            "attachment": [{"filename": "a.pdf", "data": "***not base64***"}],
        },
    )

    assert reply(response) == (400, 5013)
    assert "a.pdf" in response.json()["replyText"]
    assert_nothing_written()
    assert MessageAttachment.objects.count() == 0


def test_event_over_1_mb_is_5012(api, stream, jane):
    big = b64(b"x" * (1024 * 1024))

    response = api.post(
        url(stream),
        {
            "key_id": "3",
            "external_id": "jane@example.org",
            "attachment": [{"filename": "big.bin", "data": big}],
        },
    )

    assert reply(response) == (413, 5012)
    assert "limit" in response.json()["replyText"]
    assert_nothing_written()


def test_event_over_1_mb_in_a_batch_is_a_per_contact_error(
    api, smtp_server, stream, jane, make_contact
):
    make_contact("bob@example.org")
    big = b64(b"x" * (1024 * 1024))

    response = api.post(
        url(stream),
        {
            "key_id": "3",
            "contacts": [
                {
                    "external_id": "jane@example.org",
                    "attachment": [{"filename": "big.bin", "data": big}],
                },
                {"external_id": "bob@example.org"},
            ],
        },
    )

    assert reply(response) == (200, 0)
    assert "5012" in response.json()["data"]["errors"]["jane@example.org"]
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["bob@example.org"]]


def test_request_over_10_mb_is_refused_before_reading(api, stream, settings):
    body = json.dumps({"key_id": "3", "contacts": [], "pad": "x" * (10 * 1024 * 1024)})

    response = api.post(url(stream), raw=body.encode())

    assert reply(response) == (413, 1001)
    assert "limit" in response.json()["replyText"]


def test_trigger_for_paused_stream_is_held(api, smtp_server, make_stream, jane):
    stream = make_stream(status=MailStream.Status.PAUSED)

    response = api.post(url(stream), {"key_id": "3", "external_id": "jane@example.org"})

    assert reply(response) == (200, 0)
    assert response.json()["data"]["messages"][0]["status"] == "held"
    assert Message.objects.get().status == Message.Status.HELD
    assert smtp_server.received == []


def test_nul_character_in_data_is_refused_not_a_500(api, stream, jane):
    # PostgreSQL stores U+0000 neither in text nor in jsonb.
    response = api.post(
        url(stream), {"key_id": "3", "external_id": "jane@example.org", "data": {"x": "a\x00b"}}
    )

    assert reply(response) == (400, 1002)
    assert "NUL" in response.json()["replyText"]
    assert_nothing_written()


def test_unpaired_surrogate_in_a_batch_is_refused_not_a_500(api, stream, jane):
    # "\ud800" without its low half is valid JSON but no character: PostgreSQL refuses it.
    contacts = [{"external_id": "jane@example.org", "data": {"name": f"x{i}"}} for i in range(25)]
    contacts[7]["data"]["name"] = "broken \ud800 half"

    response = api.post(url(stream), {"key_id": "3", "contacts": contacts})

    assert reply(response) == (400, 1002)
    assert "surrogate" in response.json()["replyText"]
    assert_nothing_written()


def test_surrogate_pair_is_one_character_and_accepted(api, smtp_server, stream, jane):
    response = api.call(
        "post",
        url(stream),
        raw=b'{"key_id": "3", "external_id": "jane@example.org", "data": {"x": "\\ud83d\\ude00"}}',
    )

    assert reply(response) == (200, 0)
    assert Message.objects.get().data == {"x": "\U0001f600"}
