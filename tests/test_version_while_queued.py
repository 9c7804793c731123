"""Publishing a new version while messages wait in the lane: each is sent as it recorded."""

import pytest

from delivery.models import Message
from delivery.tasks import send_messages
from streams.versions import publish_version, save_draft

pytestmark = pytest.mark.django_db


def test_each_queued_message_is_sent_with_the_version_it_recorded(
    api, smtp_server, make_stream, make_contact, settings
):
    stream = make_stream(
        subject="v1: order #{{ event.order_id }}", text="first {{ event.order_id }}", html=""
    )
    make_contact()
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False  # no lane runs: messages wait, queued

    def trigger(order_id):
        api.post(
            f"/api/v2/event/{stream.event_id}/trigger",
            {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": order_id}},
        )
        return Message.objects.get(data__order_id=order_id)

    before = trigger("A")
    publish_version(
        save_draft(
            stream,
            subject="v2: order #{{ event.order_id }}",
            html_source="",
            text="second {{ event.order_id }}",
        )
    )
    after = trigger("B")

    # The lane now works through both, in one chunk.
    assert send_messages([before.pk, after.pk])["sent"] == 2

    mails = {m.message["Subject"]: m for m in smtp_server.wait_for(2)}
    assert set(mails) == {"v1: order #A", "v2: order #B"}
    assert mails["v1: order #A"].part("text/plain").strip() == "first A"
    assert mails["v2: order #B"].part("text/plain").strip() == "second B"
    before.refresh_from_db()
    after.refresh_from_db()
    assert before.version.number == 1
    assert after.version.number == 2
    assert before.status == after.status == Message.Status.SENT
