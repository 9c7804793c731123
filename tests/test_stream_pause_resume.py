"""Launching, pausing (hold or discard) and resuming streams, with a real SMTP server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import Message
from delivery.stream_control import (
    StreamStateError,
    launch_stream,
    pause_stream,
    resume_stream,
)
from delivery.tasks import send_messages, sweep
from streams.models import MailStream
from streams.versions import save_draft
from tests.conftest import make_sender_domain

pytestmark = pytest.mark.django_db


def trigger(api, stream, email="jane@example.org", order_id="P-1"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": {"order_id": order_id}},
    )
    assert response.json()["replyCode"] == 0, response.content
    return response.json()["data"]


def test_paused_hold_keeps_triggers_and_resume_sends_each_exactly_once(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact("jane@example.org")
    make_contact("joe@example.org", first_name="Joe")
    pause_stream(stream, "hold")

    replies = [
        trigger(api, stream, "jane@example.org", "H-1"),
        trigger(api, stream, "joe@example.org", "H-2"),
        trigger(api, stream, "jane@example.org", "H-3"),
    ]

    assert [r["messages"][0]["status"] for r in replies] == ["held"] * 3
    assert smtp_server.received == []
    assert Message.objects.filter(status=Message.Status.HELD).count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        result = resume_stream(stream)
    # A second resume (or a sweep) must not send anything again.
    with pytest.raises(StreamStateError):
        resume_stream(stream)
    with django_capture_on_commit_callbacks(execute=True):
        sweep()

    assert (result.released, result.expired) == (3, 0)
    mails = smtp_server.wait_for(3)
    assert sorted(m.message["Subject"] for m in mails) == [
        "Your order #H-1",
        "Your order #H-2",
        "Your order #H-3",
    ]
    assert len(smtp_server.received) == 3
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE


def test_paused_discard_records_each_trigger_and_never_sends_it(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "discard")

    reply = trigger(api, stream)
    with django_capture_on_commit_callbacks(execute=True):
        result = resume_stream(stream)

    assert reply["messages"][0]["status"] == "discarded"
    assert result.released == 0
    message = Message.objects.get()
    assert message.status == Message.Status.DISCARDED
    assert smtp_server.received == []


def test_held_messages_older_than_the_maximum_age_expire_instead_of_sending(
    api, smtp_server, make_stream, make_contact, settings, django_capture_on_commit_callbacks
):
    settings.TRIGGERED_EMAIL_HELD_MAX_AGE_HOURS = 24
    stream = make_stream()
    make_contact()
    pause_stream(stream)
    trigger(api, stream, order_id="OLD")
    trigger(api, stream, order_id="NEW")
    old = Message.objects.get(data__order_id="OLD")
    Message.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=25))

    with django_capture_on_commit_callbacks(execute=True):
        result = resume_stream(stream)

    assert (result.released, result.expired) == (1, 1)
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Your order #NEW"
    old.refresh_from_db()
    assert old.status == Message.Status.SKIPPED
    assert old.skip_reason == Message.SkipReason.EXPIRED
    assert "held longer than 24 h" in old.last_error
    # The timeline says so, and the dashboard's rollups see the change through the event.
    held, event = old.events.all()
    assert held.event_type == "held"
    assert (event.event_type, event.provider) == ("rejected", "outbox")
    assert event.description.startswith("expired: held longer than 24 h")


def test_pause_holds_messages_still_waiting_in_the_lane(
    api, smtp_server, make_stream, make_contact, settings, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    # No lane running: the message waits as queued.
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    trigger(api, stream)
    message = Message.objects.get()
    assert message.status == Message.Status.QUEUED

    result = pause_stream(stream)
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = True
    assert send_messages([message.pk]) == {"claimed": 0}
    assert result.held_from_lane == 1
    message.refresh_from_db()
    assert message.status == Message.Status.HELD

    with django_capture_on_commit_callbacks(execute=True):
        resume_stream(stream)
    smtp_server.wait_for(1)


def test_sweep_releases_messages_held_for_a_stream_that_is_live_again(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream)
    trigger(api, stream)
    # A trigger that read the stream as paused just before a resume committed: its held message
    # is written after the resume released the others.
    MailStream.objects.filter(pk=stream.pk).update(status=MailStream.Status.LIVE)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = sweep()

    assert outcome["held_released"] == 1
    smtp_server.wait_for(1)
    assert Message.objects.get().status == Message.Status.SENT


def test_launch_is_refused_with_a_clear_message(make_stream, make_event):
    stream = make_stream(status=MailStream.Status.DRAFT, sender_email="news@mail.example.net")

    with pytest.raises(StreamStateError, match=r"mail\.example\.net is not a sender domain"):
        launch_stream(stream)

    unpublished = MailStream.objects.create(
        name="Unpublished", event=make_event("signup"), sender_email="hi@example.com"
    )
    save_draft(unpublished, subject="s", html_source="<p>x</p>", text="")
    with pytest.raises(StreamStateError, match="No version is published yet"):
        launch_stream(unpublished)

    # Once the domain is a verified sender domain, the same stream launches.
    make_sender_domain("mail.example.net")
    assert launch_stream(stream).status == MailStream.Status.LIVE
    with pytest.raises(StreamStateError, match="only drafts are launched"):
        launch_stream(stream)


def test_pause_and_resume_refuse_streams_in_the_wrong_state(make_stream):
    draft = make_stream(status=MailStream.Status.DRAFT)

    with pytest.raises(StreamStateError, match="only live streams can be paused"):
        pause_stream(draft)
    with pytest.raises(StreamStateError, match="not paused"):
        resume_stream(draft)
