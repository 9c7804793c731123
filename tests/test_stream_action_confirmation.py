"""Pause and resume in the admin ask first: nothing changes until the confirming POST, the page
says what the policy will do, and a resume after a new version needs the person's choice."""

import pytest

from delivery.models import Message
from delivery.stream_control import pause_stream
from streams.models import MailStream
from streams.versions import publish_version, save_draft

pytestmark = pytest.mark.django_db


def url(stream, action):
    return f"/admin/streams/mailstream/{stream.pk}/{action}/"


def test_pause_without_confirmation_only_asks(admin_client, make_stream):
    stream = make_stream()

    page = admin_client.post(url(stream, "pause"), {"policy": "discard"})

    assert page.status_code == 200
    assert "never sent, not even after you resume" in page.content.decode()
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE


def test_confirmed_pause_applies_the_chosen_policy(admin_client, make_stream):
    stream = make_stream()

    admin_client.post(url(stream, "pause"), {"policy": "discard", "_confirm": "Pause now"})

    stream.refresh_from_db()
    assert (stream.status, stream.pause_policy) == ("paused", "discard")


def test_hostile_policy_falls_back_to_the_streams_own(admin_client, make_stream):
    stream = make_stream()

    response = admin_client.post(url(stream, "pause"), {"policy": "<b>x</b>", "_confirm": "1"})

    assert response.status_code == 302
    stream.refresh_from_db()
    assert (stream.status, stream.pause_policy) == ("paused", "hold")


def test_resume_needs_a_version_choice_after_a_new_version(admin_client, make_stream):
    stream = make_stream()
    pause_stream(stream, "hold")
    Message.objects.create(
        stream=stream,
        version=stream.current_version,
        recipient="jane@example.org",
        message_id="<held-1@example.com>",
        status=Message.Status.HELD,
    )
    publish_version(save_draft(stream, subject="v2", html_source="<p>2</p>", text=""))

    asked = admin_client.post(url(stream, "resume"), {"_confirm": "Resume now"})
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.PAUSED
    assert "Choose which version the held messages go out with" in asked.content.decode()

    admin_client.post(url(stream, "resume"), {"_confirm": "1", "held_version": "triggered"})
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE
    assert Message.objects.get().version.number == 1


def test_resume_without_a_new_version_needs_no_choice(admin_client, make_stream):
    stream = make_stream()
    pause_stream(stream, "hold")

    admin_client.post(url(stream, "resume"), {"_confirm": "Resume now"})

    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_junk_ids_on_the_confirmation_pages_answer_404(admin_client, action):
    assert admin_client.get(f"/admin/streams/mailstream/junk/{action}/").status_code == 404
    assert admin_client.post(f"/admin/streams/mailstream/9999/{action}/").status_code == 404
