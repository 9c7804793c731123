"""Pause, resume and what each held message went out with: the timeline's held, released and
discarded steps and the choice of version on resume (service, command, API), with real SMTP."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery.models import DeliveryEvent, Message
from delivery.stream_control import (
    HeldVersion,
    StreamStateError,
    held_with_older_version,
    pause_stream,
    resume_stream,
)
from streams.versions import publish_version, save_draft

pytestmark = pytest.mark.django_db


def trigger(api, stream, order_id="P-1"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": order_id}},
    )
    assert response.json()["replyCode"] == 0, response.content
    return Message.objects.get(pk=response.json()["data"]["messages"][0]["id"])


def publish_fix(stream, subject="Fixed: order #{{ event.order_id }}"):
    version = publish_version(
        save_draft(stream, subject=subject, html_source="<p>fixed</p>", text="fixed")
    )
    stream.refresh_from_db()
    return version


def steps(message):
    return [(e.event_type, e.provider) for e in message.events.order_by("occurred_at", "id")]


def test_held_trigger_records_held_then_released_steps(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "hold")
    message = trigger(api, stream)

    assert steps(message) == [("held", "outbox")]
    with django_capture_on_commit_callbacks(execute=True):
        resume_stream(stream)
    smtp_server.wait_for(1)

    kinds = [kind for kind, _ in steps(message)]
    assert kinds[:2] == ["held", "released"]
    assert "sent" in kinds
    released = message.events.get(event_type=DeliveryEvent.Type.RELEASED)
    assert "v1, the version it was triggered with" in released.description


def test_discarded_trigger_records_discarded_step(api, make_stream, make_contact):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "discard")

    message = trigger(api, stream)

    assert message.status == Message.Status.DISCARDED
    assert steps(message) == [("discarded", "outbox")]


def test_pause_holds_queued_messages_with_a_held_step(make_stream, make_queued_messages):
    stream = make_stream()
    waiting = make_queued_messages(stream, 3)

    result = pause_stream(stream, "hold")

    assert result.held_from_lane == 3
    for message in waiting:
        message.refresh_from_db()
        assert message.status == Message.Status.HELD
        assert steps(message) == [("held", "outbox")]


def test_resume_keeps_the_triggered_version_by_default(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "hold")
    message = trigger(api, stream, "K-1")
    publish_fix(stream)

    assert held_with_older_version(stream) == 1
    with django_capture_on_commit_callbacks(execute=True):
        resume_stream(stream)

    mail = smtp_server.wait_for(1)[0]
    assert mail.message["Subject"] == "Your order #K-1"
    message.refresh_from_db()
    assert message.version.number == 1


def test_resume_with_current_version_sends_the_version_published_while_paused(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "hold")
    message = trigger(api, stream, "C-9")
    fix = publish_fix(stream)

    with django_capture_on_commit_callbacks(execute=True):
        result = resume_stream(stream, held_version=HeldVersion.CURRENT)

    assert result.released == 1
    mail = smtp_server.wait_for(1)[0]
    assert mail.message["Subject"] == "Fixed: order #C-9"
    message.refresh_from_db()
    assert message.version_id == fix.pk
    released = message.events.get(event_type=DeliveryEvent.Type.RELEASED)
    assert released.description == "goes out with v2 (triggered with v1)"


def test_resume_refuses_an_unknown_held_version(make_stream):
    stream = make_stream()
    pause_stream(stream, "hold")

    with pytest.raises(StreamStateError, match="Unknown held version"):
        resume_stream(stream, held_version="newest")
    stream.refresh_from_db()
    assert stream.status == "paused"


def test_message_api_shows_held_and_released_steps_with_times(
    api, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "hold")
    message = trigger(api, stream)
    with django_capture_on_commit_callbacks(execute=False):
        resume_stream(stream)

    body = api.get(f"/api/v2/message/{message.pk}").json()

    events = body["data"]["events"]
    assert [e["type"] for e in events] == ["held", "released"]
    assert all(e["occurred_at"].endswith("Z") for e in events)
    assert events[0]["occurred_at"] <= events[1]["occurred_at"]


def test_resume_command_asks_which_version_when_one_was_published_while_paused(
    api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream, "hold")
    message = trigger(api, stream, "M-1")
    publish_fix(stream)

    with pytest.raises(CommandError, match="--held-version"):
        call_command("resume_stream", str(stream.pk), stdout=StringIO())
    stream.refresh_from_db()
    assert stream.status == "paused"

    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "resume_stream", str(stream.pk), "--held-version", "current", stdout=StringIO()
        )

    assert smtp_server.wait_for(1)[0].message["Subject"] == "Fixed: order #M-1"
    message.refresh_from_db()
    assert message.version.number == 2
