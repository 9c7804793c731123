"""Management commands: create_api_user, seed_demo, mail_catcher."""

import json
import smtplib
from email.message import EmailMessage
from email.policy import SMTP
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from delivery.mail_catcher import start as start_mail_catcher
from events.credentials import check_token, wsse_header
from events.models import ApiCredential, Contact, ExternalEvent
from streams.models import MailStream
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_user_prints_one_json_line_that_authenticates(anonymous_api):
    output = run("create_api_user", "shop")

    [line] = output.strip().splitlines()
    issued = json.loads(line)
    assert set(issued) == {"username", "secret", "token"}
    assert issued["username"] == "shop"
    assert check_token(issued["token"]).username == "shop"
    response = anonymous_api.client.get(
        "/api/v2/event", HTTP_X_WSSE=wsse_header("shop", issued["secret"])
    )
    assert response.status_code == 200
    # Only a hash of the token is stored.
    assert ApiCredential.objects.get().token_hash != issued["token"]


def test_create_api_user_refuses_an_existing_name():
    run("create_api_user", "shop")

    with pytest.raises(CommandError, match="exists already"):
        run("create_api_user", "shop")


def test_seed_demo_is_idempotent_and_prints_what_a_client_needs(anonymous_api, settings, tmp_path):
    settings.VAR_DIR = tmp_path

    first = json.loads(run("seed_demo"))
    second = json.loads(run("seed_demo"))

    assert first == second
    assert {"event_id", "stream_id", "contact_email", "username", "secret", "token"} <= set(first)
    assert ExternalEvent.objects.count() == MailStream.objects.count() == 2  # orders, resets
    assert Contact.objects.count() == ApiCredential.objects.count() == 1
    stream = MailStream.objects.get(pk=first["stream_id"])
    assert stream.status == MailStream.Status.LIVE
    assert stream.event_id == first["event_id"]
    assert "{% foreach item in event.items %}" in stream.current_version.html_source
    assert check_token(second["token"]).username == first["username"]


def test_mail_catcher_stores_each_message_as_eml(tmp_path):
    port = free_port()
    controller = start_mail_catcher(tmp_path / "outbox", "127.0.0.1", port)
    try:
        message = EmailMessage(policy=SMTP)
        message["From"] = "orders@example.com"
        message["To"] = "jane@example.org"
        message["Subject"] = "Hello"
        message.set_content("Body text")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    finally:
        controller.stop()

    [stored] = list((tmp_path / "outbox").glob("*.eml"))
    content = stored.read_text()
    assert "X-Envelope-To: jane@example.org" in content
    assert "Subject: Hello" in content
    assert "Body text" in content
    assert not list((tmp_path / "outbox").glob(".*.part"))
