"""Attachments: per trigger (API) and static (per stream) arrive as MIME parts; the stream's
require_attachment skips visibly; hostile file names, bad base64 and size limits are handled."""

import base64

import pytest

from delivery.models import Message, MessageAttachment
from streams.attachments import attach_file

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8
CSV = "Artikel;Preis\nTee;4,00 €\n".encode()


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def trigger(api, stream, **extra):
    return api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "F-1"}, **extra},
    )


def attachments_of(mail):
    return {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in mail.message.iter_attachments()
    }


def test_trigger_and_static_attachments_arrive_with_names_types_and_bytes(
    api, smtp_server, make_stream, make_contact
):
    stream = make_stream()
    make_contact()
    attach_file(stream, "AGB März 2026.pdf", PDF)

    response = trigger(
        api,
        stream,
        attachment=[
            {"filename": "Rechnung 10042.pdf", "data": b64(PDF)},
            {"filename": "positionen.csv", "data": b64(CSV)},
        ],
    )

    assert response.json()["replyCode"] == 0, response.content
    [mail] = smtp_server.wait_for(1)
    received = attachments_of(mail)
    assert received["AGB März 2026.pdf"] == ("application/pdf", PDF)
    assert received["Rechnung 10042.pdf"] == ("application/pdf", PDF)
    # Text parts travel in MIME's canonical form, with CRLF line ends.
    assert received["positionen.csv"] == ("text/csv", CSV.replace(b"\n", b"\r\n"))
    assert len(received) == 3
    # The email's own parts are still there next to the files.
    assert "Hi Jane," in mail.part("text/html")


def test_line_wrapped_base64_is_accepted(api, smtp_server, make_stream, make_contact):
    stream = make_stream()
    make_contact()
    wrapped = "\r\n".join(b64(PDF)[i : i + 76] for i in range(0, len(b64(PDF)), 76))

    response = trigger(api, stream, attachment=[{"filename": "a.pdf", "data": wrapped}])

    assert response.json()["replyCode"] == 0
    [mail] = smtp_server.wait_for(1)
    assert attachments_of(mail)["a.pdf"][1] == PDF


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\Desktop\\invoice.pdf", "invoice.pdf"),
        ("report\r\nContent-Type: text/html.pdf", "html.pdf"),
        # (U+0000 anywhere in a request is refused before this: PostgreSQL cannot store it.)
        ("bericht\x07\x1b[31m.pdf", "bericht__[31m.pdf"),
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),
        ("...", "attachment"),
        ('a"b<c>d|e?.pdf', "a_b_c_d_e_.pdf"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
    ],
)
def test_hostile_file_names_are_cleaned(
    api, smtp_server, make_stream, make_contact, given, cleaned
):
    stream = make_stream()
    make_contact()

    trigger(api, stream, attachment=[{"filename": given, "data": b64(b"data")}])

    [mail] = smtp_server.wait_for(1)
    assert attachments_of(mail) == {cleaned: (attachments_of(mail)[cleaned][0], b"data")}
    stored = MessageAttachment.objects.get()
    assert stored.filename == cleaned
    assert ".." not in stored.file.name and "\\" not in stored.file.name


@pytest.mark.parametrize(
    "attachment",
    [
        [{"filename": "a.pdf", "data": "not base64 at all!"}],
        [{"filename": "a.pdf", "data": "QUJDR"}],
        [{"filename": "a.pdf"}],
        [{"filename": 7, "data": "QUJD"}],
        {"filename": "a.pdf", "data": "QUJD"},
    ],
    ids=["garbage", "bad-padding", "no-data", "name-not-text", "not-a-list"],
)
def test_bad_attachments_are_refused_with_reply_5013(
    api, smtp_server, make_stream, make_contact, attachment
):
    stream = make_stream()
    make_contact()

    response = trigger(api, stream, attachment=attachment)

    assert response.status_code == 400
    assert response.json()["replyCode"] == 5013
    assert "attachment" in response.json()["replyText"]
    assert not Message.objects.exists()
    assert smtp_server.received == []


def test_attachment_size_counts_toward_the_event_limit(
    api, smtp_server, make_stream, make_contact, settings
):
    settings.API_MAX_EVENT_BYTES = 64 * 1024
    stream = make_stream()
    make_contact()

    response = trigger(
        api, stream, attachment=[{"filename": "big.bin", "data": b64(b"x" * 60_000)}]
    )

    assert response.status_code == 413
    assert response.json()["replyCode"] == 5012
    assert not Message.objects.exists()


def test_require_attachment_skips_a_trigger_without_one_visibly(
    api, smtp_server, make_stream, make_contact, admin_client
):
    stream = make_stream(require_attachment=True)
    make_contact()

    without = trigger(api, stream)
    with_file = trigger(api, stream, attachment=[{"filename": "ticket.pdf", "data": b64(PDF)}])

    [skipped] = without.json()["data"]["messages"]
    assert skipped["status"] == "skipped"
    assert skipped["reason"] == "missing attachment"
    assert with_file.json()["data"]["messages"][0]["status"] == "queued"
    [mail] = smtp_server.wait_for(1)
    assert "ticket.pdf" in attachments_of(mail)
    message = Message.objects.get(pk=skipped["id"])
    assert message.skip_reason == Message.SkipReason.MISSING_ATTACHMENT
    log = admin_client.get("/admin/delivery/message/?status__exact=skipped").content.decode()
    assert "skipped: missing attachment" in log
    detail = admin_client.get(f"/admin/delivery/message/{message.pk}/change/").content.decode()
    assert "not sent: missing attachment" in detail
