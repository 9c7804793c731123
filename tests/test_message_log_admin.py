"""The message log: read-only, exact searches, fixed filters, no full count, and the actions
that resend failed and release held messages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from delivery import admin_paging
from delivery.models import Message, Suppression
from delivery.sample_sends import send_test
from delivery.stream_control import pause_stream

pytestmark = pytest.mark.django_db


def trigger(api, stream, email="jane@example.org", **extra):
    return api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": email, "data": {"order_id": "L-1"}, **extra},
    )


def test_search_finds_by_recipient_trigger_id_and_message_id(
    admin_client, api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org")
    make_contact("joe@example.org")
    trigger(api, stream, "jane@example.org", trigger_id="order-77")
    trigger(api, stream, "joe@example.org")
    jane = Message.objects.get(recipient="jane@example.org")
    joe = Message.objects.get(recipient="joe@example.org")

    def found(term):
        response = admin_client.get("/admin/delivery/message/", {"q": term})
        return set(response.context["cl"].result_list.values_list("pk", flat=True))

    assert found("Jane@Example.org") == {jane.pk}
    assert found("order-77") == {jane.pk}
    assert found(joe.message_id) == {joe.pk}
    assert found(joe.message_id.strip("<>")) == {joe.pk}
    assert found("nobody@example.org") == set()


def test_list_never_counts_the_whole_table(
    admin_client, api, smtp_server, make_stream, make_contact, monkeypatch
):
    monkeypatch.setattr(admin_paging, "COUNT_CAP", 2)
    stream = make_stream()
    for index in range(4):
        make_contact(f"c{index}@example.org")
        trigger(api, stream, f"c{index}@example.org")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/delivery/message/", {"status__exact": "sent"})

    page = response.content.decode()
    assert "more than 2 messages" in page
    assert "Show counts" not in page
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


def test_filters_by_stream_status_lane_and_date_are_offered(admin_client, make_stream):
    make_stream()
    make_stream(name="Shipping notice")

    page = admin_client.get("/admin/delivery/message/").content.decode()

    for parameter in (
        "status__exact=",
        "stream__id__exact=",
        "lane=bulk",
        "received_at__gte=",
        "test=only",
    ):
        assert parameter in page


def test_log_is_read_only(admin_client, api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact()
    trigger(api, stream)
    message = Message.objects.get()

    page = admin_client.get(f"/admin/delivery/message/{message.pk}/change/").content.decode()
    post = admin_client.post(
        f"/admin/delivery/message/{message.pk}/change/", {"recipient": "x@example.org"}
    )

    assert 'name="_save"' not in page
    assert post.status_code == 403
    assert admin_client.get("/admin/delivery/message/add/").status_code == 403
    # The detail shows the rendered email and the timeline.
    assert "Your order #L-1" in page
    assert "srcdoc=" in page
    assert "— sent" in page


def test_resend_failed_sends_them_again_except_suppressed(
    admin_client, api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact("jane@example.org")
    make_contact("gone@example.org")
    # A policy block fails the message without suppressing; an unknown mailbox suppresses.
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.7.1 blocked by policy"
    smtp_server.rcpt_replies["gone@example.org"] = "550 5.1.1 mailbox unavailable"
    trigger(api, stream, "jane@example.org")
    trigger(api, stream, "gone@example.org")
    assert set(Message.objects.values_list("status", flat=True)) == {"failed"}
    assert Suppression.objects.filter(email="gone@example.org").exists()
    assert not Suppression.objects.filter(email="jane@example.org").exists()
    smtp_server.rcpt_replies.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/delivery/message/",
            {
                "action": "resend_failed_messages",
                "_selected_action": list(Message.objects.values_list("pk", flat=True)),
            },
            follow=True,
        )

    assert "1 failed messages queued again" in response.content.decode()
    assert "1 not resent: the recipient is suppressed" in response.content.decode()
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["jane@example.org"]
    assert Message.objects.get(recipient="jane@example.org").status == Message.Status.SENT
    assert Message.objects.get(recipient="gone@example.org").status == Message.Status.FAILED


def test_release_held_sends_the_selected_held_messages_once(
    admin_client, api, smtp_server, make_stream, make_contact, django_capture_on_commit_callbacks
):
    stream = make_stream()
    make_contact()
    pause_stream(stream)
    trigger(api, stream)
    held = Message.objects.get()

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                "/admin/delivery/message/",
                {"action": "release_held_messages", "_selected_action": [held.pk]},
            )

    smtp_server.wait_for(1)
    assert len(smtp_server.received) == 1
    held.refresh_from_db()
    assert held.status == Message.Status.SENT


def test_failed_test_sends_are_not_resent(admin_client, smtp_server, make_stream):
    stream = make_stream()
    smtp_server.rcpt_replies["qa@example.org"] = "550 5.1.1 no such user"
    failed = send_test(stream, "qa@example.org").message
    smtp_server.rcpt_replies.clear()

    response = admin_client.post(
        "/admin/delivery/message/",
        {"action": "resend_failed_messages", "_selected_action": [failed.pk]},
        follow=True,
    )

    assert "1 test sends skipped" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Message.Status.FAILED
    assert failed.attempts == 1
    assert smtp_server.received == []
