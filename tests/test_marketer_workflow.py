"""The marketer's path through the admin: campaign → draft stream → edit with live preview →
publish → launch → a trigger's email arrives (real SMTP server)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from delivery.models import Message
from events.models import Contact
from streams.attachments import attach_file
from streams.models import EmailCampaign, MailStream, StreamVersion

pytestmark = pytest.mark.django_db

CAMPAIGN_HTML = """<!DOCTYPE html>
<html><head><style>h1 { color: #0f766e; }</style></head>
<body><h1>Welcome, {{ contact.first_name|default("friend") }}!</h1>
<p>Your voucher: {{ event.voucher }}</p></body></html>"""


@pytest.fixture
def campaign(db):
    return EmailCampaign.objects.create(
        name="Spring welcome",
        subject="Welcome to the shop",
        sender_name="Example Shop",
        sender_email="hello@example.com",
        html=CAMPAIGN_HTML,
        text="Welcome! Voucher: {{ event.voucher }}",
    )


def stream_form(stream, **changes):
    """The stream's change form as the admin would post it."""
    version = stream.versions.first()
    data = {
        "name": stream.name,
        "event": stream.event_id or "",
        "kind": stream.kind,
        "lane": stream.lane,
        "sender_name": stream.sender_name,
        "sender_email": stream.sender_email,
        "reply_to": stream.reply_to,
        "pause_policy": stream.pause_policy,
        "subject": version.subject,
        "html_source": version.html_source,
        "text": version.text,
        "sample_data": json.dumps(stream.sample_data),
        "sample_contact": json.dumps(stream.sample_contact),
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        "versions-TOTAL_FORMS": str(stream.versions.count()),
        "versions-INITIAL_FORMS": str(stream.versions.count()),
    }
    for index, pk in enumerate(stream.versions.values_list("pk", flat=True)):
        data[f"versions-{index}-id"] = str(pk)
        data[f"versions-{index}-stream"] = str(stream.pk)
    data.update(changes)
    return data


def test_campaign_copied_edited_previewed_published_and_triggered_arrives(
    admin_client, api, smtp_server, campaign, make_event, make_contact
):
    event = make_event("signup")
    make_contact("jane@example.org", first_name="Jane")
    before = EmailCampaign.objects.values().get(pk=campaign.pk)

    # Copy into a new stream, choosing the event.
    response = admin_client.post(
        f"/admin/streams/emailcampaign/{campaign.pk}/copy-to-stream/",
        {"event": event.pk, "name": "Welcome mail", "sender_email": "hello@example.com"},
    )
    stream = MailStream.objects.get(name="Welcome mail")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/streams/mailstream/{stream.pk}/change/"
    assert stream.status == MailStream.Status.DRAFT
    assert stream.source_campaign == campaign
    [draft] = stream.versions.all()
    assert (draft.subject, draft.html_source, draft.text) == (
        campaign.subject,
        campaign.html,
        campaign.text,
    )
    assert not draft.is_published
    assert EmailCampaign.objects.values().get(pk=campaign.pk) == before

    # Edit: the live preview renders the edited draft with the sample data.
    edited_subject = "Welcome, {{ contact.first_name }} — your voucher {{ event.voucher }}"
    sample = {"voucher": "SPRING-10"}
    preview = admin_client.post(
        "/admin/streams/mailstream/preview/",
        {
            "subject": edited_subject,
            "html_source": CAMPAIGN_HTML,
            "text": draft.text,
            "sample_data": json.dumps(sample),
            "sample_contact": json.dumps({"first_name": "Sam", "email": "sam@example.org"}),
        },
    ).json()
    assert preview["ok"] is True
    assert preview["subject"] == "Welcome, Sam — your voucher SPRING-10"
    assert "Welcome, Sam!" in preview["html"]
    assert 'style="color:#0f766e"' in preview["html"]  # inlined as it will be at publish
    assert preview["text"] == "Welcome! Voucher: SPRING-10"

    # Save and publish, then launch.
    response = admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/change/",
        stream_form(stream, subject=edited_subject, sample_data=json.dumps(sample), _publish="1"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    stream.refresh_from_db()
    assert stream.current_version.number == 1
    assert stream.current_version.subject == edited_subject
    page = admin_client.get(f"/admin/streams/mailstream/{stream.pk}/change/").content.decode()
    assert "Published version 1" in page
    assert 'sandbox=""' in page and "allow-scripts" not in page
    admin_client.post(f"/admin/streams/mailstream/{stream.pk}/launch/")
    stream.refresh_from_db()
    assert stream.status == MailStream.Status.LIVE

    # A client triggers the event: the email arrives.
    reply = api.post(
        f"/api/v2/event/{event.pk}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"voucher": "V-42"}},
    )
    assert reply.json()["replyCode"] == 0
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Welcome, Jane — your voucher V-42"
    assert mail.message["From"] == "Example Shop <hello@example.com>"
    assert "Welcome, Jane!" in mail.part("text/html")
    assert "Your voucher: V-42" in mail.part("text/html")
    assert Message.objects.get().version == stream.current_version


def test_preview_shows_the_line_at_fault_and_a_broken_draft_is_refused_at_save(
    admin_client, make_stream
):
    stream = make_stream(status=MailStream.Status.DRAFT)
    broken = "<p>Hi</p>\n<ul>\n{% for item in event.items %}<li>{{ item }}</li>\n</ul>"

    preview = admin_client.post(
        "/admin/streams/mailstream/preview/",
        {"subject": "s", "html_source": broken, "text": "", "sample_data": "{}"},
    ).json()
    saved = admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/change/",
        stream_form(stream, html_source=broken, _publish="1"),
        follow=True,
    )

    assert preview["ok"] is False
    assert preview["problem"]["part"] == "HTML"
    assert preview["problem"]["line"] == 3
    assert "{% for item in event.items %}" in preview["problem"]["source_line"]
    page = saved.content.decode()
    # ESL that does not parse is refused on the form, by field, in ESL's words.
    assert saved.context["adminform"].form.errors["html_source"]
    assert "{% foreach %} is still open: close it with {% endforeach %}" in page
    assert "line 3, column 1" in page
    stream.refresh_from_db()
    assert stream.current_version.number == 1
    assert not stream.versions.filter(number=2).exists()


def test_bad_sample_json_is_reported_in_the_preview(admin_client, make_stream):
    make_stream()

    preview = admin_client.post(
        "/admin/streams/mailstream/preview/",
        {"subject": "s", "html_source": "<p>x</p>", "sample_data": '{"a": '},
    ).json()

    assert preview["ok"] is False
    assert "Sample event data is not valid JSON" in preview["problem"]["message"]


def test_send_test_sends_the_draft_and_marks_it_as_a_test(admin_client, smtp_server, make_stream):
    stream = make_stream()
    MailStream.objects.filter(pk=stream.pk).update(sample_data={"order_id": "S-1"})
    admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/change/",
        stream_form(
            stream, subject="Draft subject #{{ event.order_id }}", sample_data='{"order_id": "S-1"}'
        ),
    )

    response = admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/send-test/",
        {"to": "qa@example.org", "version": "draft"},
        follow=True,
    )

    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "[TEST] Draft subject #S-1"
    assert mail.message["X-Triggered-Email-Test"] == "yes"
    message = Message.objects.get()
    assert message.is_test and message.status == Message.Status.SENT
    assert message.version.number == 2 and not message.version.is_published
    assert message.trigger.source == "test"
    assert "Test of v2 sent to qa@example.org" in response.content.decode()
    log = admin_client.get("/admin/delivery/message/").content.decode()
    assert "TEST" in log
    detail = admin_client.get(f"/admin/delivery/message/{message.pk}/change/").content.decode()
    assert "TEST SEND" in detail
    assert "Draft subject #S-1" in detail


def test_versions_stay_readable_with_a_diff_against_the_previous(admin_client, make_stream):
    stream = make_stream(subject="Old subject", text="line one\nline two")
    admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/change/",
        stream_form(stream, subject="New subject", text="line one\nline 2", _publish="1"),
    )
    v1, v2 = StreamVersion.objects.filter(stream=stream).order_by("number")

    page = admin_client.get(f"/admin/streams/streamversion/{v2.pk}/change/").content.decode()
    first = admin_client.get(f"/admin/streams/streamversion/{v1.pk}/change/").content.decode()

    assert v2.is_published and v1.is_published
    assert "Changes against v1" in page
    assert '<span class="removed">-Old subject</span>' in page
    assert '<span class="added">+New subject</span>' in page
    assert '<span class="removed">-line two</span>' in page
    assert "HTML — unchanged" in page
    assert "first version" in first


def test_static_attachment_uploaded_in_the_admin_goes_with_every_message(
    admin_client, api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact()
    upload = SimpleUploadedFile("../Preisliste März.pdf", b"%PDF-1.4 prices", "application/pdf")

    response = admin_client.post(
        f"/admin/streams/mailstream/{stream.pk}/change/",
        stream_form(
            stream,
            **{
                "attachments-TOTAL_FORMS": "1",
                "attachments-0-file": upload,
                "attachments-0-stream": str(stream.pk),
            },
        ),
    )
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {}},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    [attachment] = stream.attachments.all()
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "Preisliste März.pdf",
        "application/pdf",
        15,
    )
    [mail] = smtp_server.wait_for(1)
    [part] = mail.message.iter_attachments()
    assert part.get_filename() == "Preisliste März.pdf"
    assert part.get_payload(decode=True) == b"%PDF-1.4 prices"


def test_copy_stream_action_creates_a_draft_copy(admin_client, make_stream):
    stream = make_stream()
    attach_file(stream, "terms.pdf", b"%PDF terms")

    admin_client.post(
        "/admin/streams/mailstream/",
        {"action": "copy_streams", "_selected_action": [stream.pk]},
    )

    copy = MailStream.objects.get(name="Copy of Order confirmation")
    assert copy.status == MailStream.Status.DRAFT
    assert copy.current_version is None
    assert copy.versions.get().html_source == stream.current_version.html_source
    assert copy.event == stream.event
    [copied] = copy.attachments.all()
    assert copied.filename == "terms.pdf"
    with copied.file.open("rb") as handle:
        assert handle.read() == b"%PDF terms"


def test_stream_list_shows_status_event_lane_version_and_recent_sends(
    admin_client, api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact()
    api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {}},
    )
    smtp_server.wait_for(1)

    page = admin_client.get("/admin/streams/mailstream/").content.decode()

    assert ">live<" in page
    assert "order_confirmation" in page
    assert "transactional" in page
    assert ">v1<" in page
    assert '<td class="field-sends_24h">1</td>' in page


def test_contact_import_previews_creates_updates_and_row_errors(admin_client, make_contact):
    make_contact("jane@example.org", first_name="Jane")
    csv_text = (
        "email;first_name;last_name;opt_in;city\n"
        "JANE@example.org;Janet;;1;Berlin\n"
        "new@example.org;Nina;Neu;2;Köln\n"
        "broken-address;X;;;\n"
        "new@example.org;Dup;;;\n"
    )
    upload = SimpleUploadedFile("contacts.csv", csv_text.encode(), content_type="text/csv")
    preview = admin_client.post("/admin/events/contact/import/", {"file": upload, "key": "email"})
    page = preview.content.decode()

    assert "1 to create" in page and "1 to update" in page and "2 with errors" in page
    assert "is not a valid email address" in page
    assert "the same email as line 3" in page
    assert Contact.objects.count() == 1

    content = preview.context["form"]["content"].value()
    done = admin_client.post(
        "/admin/events/contact/import/",
        {"key": "email", "content": content, "_confirm": "1"},
        follow=True,
    )

    assert "1 created, 1 updated" in done.content.decode()
    jane = Contact.objects.get(email="jane@example.org")
    assert (jane.first_name, jane.opt_in, jane.fields) == ("Janet", True, {"city": "Berlin"})
    nina = Contact.objects.get(email="new@example.org")
    assert (nina.first_name, nina.last_name, nina.opt_in) == ("Nina", "Neu", False)


def test_event_list_shows_streams_and_trigger_test_sends_marked_as_test(
    admin_client, smtp_server, make_stream, django_capture_on_commit_callbacks
):
    stream = make_stream()

    listing = admin_client.get("/admin/events/externalevent/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/events/externalevent/{stream.event_id}/trigger-test/",
            {"email": "qa@example.org", "data": '{"order_id": "T-9"}'},
            follow=True,
        )

    assert "Order confirmation</a> (live)" in listing
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Your order #T-9"
    message = Message.objects.get()
    assert message.is_test and message.trigger.source == "test"
    assert f"message #{message.pk}" in response.content.decode()
