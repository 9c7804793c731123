"""`import_mta_log FILE --format postfix` records delivered, deferred and bounced events from
the dedicated MTA's log, matched by Message-ID or return path, once however often it runs."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from delivery.models import DeliveryEvent, Message, Suppression
from delivery.mta_logs import import_postfix_log
from delivery.return_paths import return_path
from tests.bounce_fixtures import fixture_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_sent(make_stream, make_queued_messages):
    stream = make_stream()
    messages = make_queued_messages(stream, 3, label="postfix")
    Message.objects.update(status=Message.Status.SENT)
    return [Message.objects.get(pk=m.pk) for m in messages]


def log_for(messages, *, by_message_id=(True, True, True)) -> str:
    values = {}
    for number, (message, known) in enumerate(zip(messages, by_message_id, strict=True), 1):
        values[f"MESSAGE_ID_{number}"] = (
            message.message_id if known else f"<rewritten-{number}@relay.example>"
        )
        values[f"RETURN_PATH_{number}"] = return_path(message.pk, "orders@example.com")
        values[f"RECIPIENT_{number}"] = message.recipient
    return fixture_text("postfix_maillog.txt", **values)


def write_log(tmp_path, text: str):
    path = tmp_path / "mail.log"
    path.write_text(text)
    return path


def run(path) -> str:
    out = StringIO()
    call_command("import_mta_log", str(path), "--format", "postfix", stdout=out)
    return out.getvalue()


def test_delivered_bounced_and_deferred_then_delivered(three_sent, tmp_path):
    delivered, bounced, slow = three_sent

    output = run(write_log(tmp_path, log_for(three_sent)))

    assert "recorded 5 events" in output
    assert "1 lines of other mail" in output
    for message in three_sent:
        message.refresh_from_db()
    assert delivered.outcome == "delivered" and delivered.delivered_at is not None
    assert (bounced.outcome, bounced.bounce_kind) == ("bounced", "hard")
    assert Suppression.objects.get().email == bounced.recipient
    assert list(slow.events.values_list("event_type", flat=True)) == [
        "deferred",
        "deferred",
        "delivered",
    ]
    assert slow.outcome == "delivered"
    event = bounced.events.get()
    assert event.provider == "postfix"
    assert event.mta_response.startswith("5.1.1 host mx.example.org[203.0.113.25] said: 550")
    assert delivered.delivered_at.strftime("%d %H:%M:%S") == "03 10:15:03"


def test_importing_the_same_file_twice_records_nothing_twice(three_sent, tmp_path):
    path = write_log(tmp_path, log_for(three_sent))
    run(path)

    output = run(path)

    assert "recorded 0 events, 5 already recorded" in output
    assert DeliveryEvent.objects.count() == 5


def test_queue_ids_are_matched_by_return_path_when_the_message_id_is_not_ours(three_sent, tmp_path):
    run(write_log(tmp_path, log_for(three_sent, by_message_id=(False, False, False))))

    assert DeliveryEvent.objects.count() == 5
    assert Message.objects.get(pk=three_sent[1].pk).bounce_kind == "hard"


def test_forged_return_path_and_unknown_message_id_match_nothing(three_sent, tmp_path):
    text = log_for(three_sent, by_message_id=(False, False, False))
    for message in three_sent:
        text = text.replace(return_path(message.pk, "orders@example.com"), "x@example.com")

    output = run(write_log(tmp_path, text))

    assert "recorded 0 events" in output
    assert not DeliveryEvent.objects.exists()


def test_hostile_lines_are_skipped(three_sent):
    lines = [
        "",
        "\x00" * 100,
        "Dec 99 99:99:99 mx1 postfix/smtp[1]: ABCDEF1234: to=<a@b>, dsn=5.1.1, status=bounced",
        "Dec  3 10:15:02 mx1 postfix/cleanup[1]: ABCDEF1234: message-id="
        + three_sent[0].message_id,
        "Feb 30 10:15:03 mx1 postfix/smtp[1]: ABCDEF1234: to=<x@y>, dsn=5.1.1, status=bounced (x)",
        "Dec  3 10:15:03 mx1 postfix/smtp[1]: ABCDEF1234: to=<x@y>, " + "A" * 20_000,
    ]

    result = import_postfix_log(lines)

    assert result.lines == len(lines)
    assert result.recorded == 0
    assert not DeliveryEvent.objects.exists()


def test_rfc3339_timestamps_are_read(three_sent):
    message = three_sent[0]
    lines = [
        f"2026-12-03T10:15:02.123456+01:00 mx1 postfix/cleanup[1]: 4F9D21C0A5B: "
        f"message-id={message.message_id}",
        "2026-12-03T10:15:03.5+01:00 mx1 postfix/smtp[2]: 4F9D21C0A5B: to=<reader0@example.org>,"
        " relay=mx.example.org[203.0.113.25]:25, delay=1, dsn=2.0.0, status=sent (250 OK)",
    ]

    assert import_postfix_log(lines).recorded == 1

    message.refresh_from_db()
    assert message.delivered_at.isoformat().startswith("2026-12-03T09:15:03.5")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "nope.log")
