"""Values that become email headers cannot hold line breaks: they are refused when saved (form,
model, copies, the edit command), and a message that cannot be built anyway (a value stored
before, an invalid address) fails permanently at once with its reason, never retried."""

import pytest
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError
from django.core.management import CommandError, call_command

from delivery.failures import classify
from delivery.models import Message
from streams.admin_forms import EmailCampaignForm
from streams.copying import copy_campaign, copy_stream
from streams.models import EmailCampaign, MailStream, StreamVersion, sender_domain_allowed

pytestmark = pytest.mark.django_db

INJECTED = "Example Shop\r\nBcc: everyone@evil.example"


@pytest.mark.parametrize("field", ["sender_name", "sender_email", "reply_to"])
def test_stream_refuses_a_line_break_in_a_header_field_when_saved(make_event, field):
    values = {"sender_name": "Shop", "sender_email": "orders@example.com", "reply_to": ""}
    values[field] = "orders@example.com\nBcc: everyone@evil.example"
    stream = MailStream(name="Orders", event=make_event(), **values)

    with pytest.raises(ValidationError) as cleaned:
        stream.full_clean()
    with pytest.raises(ValidationError) as saved:
        stream.save()

    assert "must be on one line" in " ".join(cleaned.value.message_dict[field])
    assert field in saved.value.message_dict
    assert not MailStream.objects.exists()


def test_version_refuses_a_line_break_in_the_subject(make_stream):
    stream = make_stream()

    with pytest.raises(ValidationError, match="subject must be on one line"):
        StreamVersion.objects.create(stream=stream, number=9, subject="Hi\r\nBcc: x@evil.example")


def test_campaign_form_shows_the_line_break_by_the_field():
    form = EmailCampaignForm(
        data={
            "name": "Order mail",
            "subject": "Thanks",
            "sender_name": INJECTED,
            "sender_email": "orders@example.com",
            "html": "<p>Hi</p>",
            "text": "",
        }
    )

    assert not form.is_valid()
    assert "must be on one line" in form.errors["sender_name"][0]


def test_stream_editor_refuses_a_sender_name_with_a_line_break(admin_client, make_stream):
    stream = make_stream()
    page = admin_client.get(f"/admin/streams/mailstream/{stream.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    data.update(
        {
            "sender_name": INJECTED,
            "attachments-TOTAL_FORMS": "0",
            "attachments-INITIAL_FORMS": "0",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        }
    )

    response = admin_client.post(f"/admin/streams/mailstream/{stream.pk}/change/", data)

    assert response.status_code == 200
    assert "must be on one line" in str(response.context["adminform"].form.errors["sender_name"])
    stream.refresh_from_db()
    assert stream.sender_name == "Example Shop"


def test_a_campaign_stored_with_a_line_break_is_not_copied_into_a_stream(admin_client, make_event):
    event = make_event()
    campaign = EmailCampaign.objects.create(
        name="Order mail", subject="Thanks", sender_email="orders@example.com", html="<p>Hi</p>"
    )
    EmailCampaign.objects.filter(pk=campaign.pk).update(sender_name=INJECTED)
    campaign.refresh_from_db()

    with pytest.raises(ValidationError):
        copy_campaign(campaign, event=event, name="Copy")
    response = admin_client.post(
        f"/admin/streams/emailcampaign/{campaign.pk}/copy-to-stream/",
        {"event": event.pk, "name": "Copy", "sender_email": "orders@example.com", "_copy": "1"},
    )

    assert response.status_code == 200
    assert "must be on one line" in response.content.decode()
    assert not MailStream.objects.exists()


def test_a_stream_stored_with_a_line_break_is_not_copied(admin_client, make_stream):
    stream = make_stream()
    MailStream.objects.filter(pk=stream.pk).update(sender_name=INJECTED)
    stream.refresh_from_db()

    with pytest.raises(ValidationError):
        copy_stream(stream)
    response = admin_client.post(
        "/admin/streams/mailstream/",
        {"action": "copy_streams", "_selected_action": [stream.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "was not copied" in response.content.decode()
    assert MailStream.objects.count() == 1


def test_a_sender_address_hiding_headers_before_an_allowed_domain_is_not_allowed(make_stream):
    sneaky = "x@example.com\r\nBcc: everyone@evil.example\r\nme@example.com"
    stream = make_stream()

    assert sender_domain_allowed("me@example.com")
    assert not sender_domain_allowed(sneaky)
    with pytest.raises(CommandError):
        call_command("edit_stream", str(stream.pk), "--sender", sneaky)
    stream.refresh_from_db()
    assert stream.sender_email == "orders@example.com"


def test_the_edit_command_refuses_a_subject_with_a_line_break(make_stream):
    stream = make_stream()

    with pytest.raises(CommandError, match="subject must be on one line"):
        call_command("edit_stream", str(stream.pk), "--subject", "Hi\nBcc: x@evil.example")

    assert stream.versions.count() == 1


def test_building_errors_are_permanent_failures_with_their_reason():
    header = classify(BadHeaderError("Header values can't contain newlines"))
    address = classify(ValueError('Invalid address "a@b@c"'))

    assert header.permanent and "cannot be built" in header.reason
    assert "newlines" in header.reason
    assert address.permanent and "Invalid address" in address.reason


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("sender_name", INJECTED, "newline"),
        ("reply_to", "orders@example.com\nBcc: everyone@evil.example", "newline"),
        ("sender_email", "a@b@c", "Invalid address"),
    ],
)
def test_a_message_that_cannot_be_built_fails_at_once_and_is_not_retried(
    api, smtp_server, make_stream, make_contact, field, value, reason
):
    stream = make_stream()
    # Stored before line breaks were refused (or by a path that skips the model).
    MailStream.objects.filter(pk=stream.pk).update(**{field: value})
    make_contact("jane@example.org")

    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "7"}},
    )

    assert response.json()["replyCode"] == 0
    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert "cannot be built" in message.last_error
    assert reason in message.last_error
    assert smtp_server.received == []
