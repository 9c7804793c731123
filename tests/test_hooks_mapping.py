"""Generic HMAC integrations: how a body maps to a trigger, and every way a call is refused."""

import base64
import hashlib
import hmac
import json

import pytest
from django.core.exceptions import ValidationError

from delivery.models import Message
from events.json_paths import read_path
from events.models import Contact, Integration, IntegrationCall, ProgramRun, Trigger
from tests.hooks_support import make_integration, post_hook
from tests.programs_support import make_program, wait
from tests.programs_support import send as send_step

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-shared-with-the-crm"
SIGNUP = {
    "event": "signup",
    "user": {"id": "u-981", "mail": "Ada@Example.org", "given_name": "Ada", "plan": "pro"},
    "confirm_url": "https://app.example.com/confirm/abc",
}


def hex_signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def crm(make_event, make_stream):
    event = make_event("signup")
    make_stream(
        event,
        name="Confirm signup",
        subject="Confirm, {{ contact.first_name }}",
        html="<a href='{{ event.confirm_url }}'>confirm</a>",
        text="{{ event.plan }}: {{ event.confirm_url }}",
    )
    return make_integration(
        event,
        slug="crm",
        secret=SECRET,
        signature_header="X-Crm-Signature",
        recipient_path="user.mail",
        trigger_id_path="user.id",
        data_paths="confirm_url = confirm_url\nplan = user.plan",
        first_name_path="user.given_name",
    )


def send(client, capture, body=SIGNUP, slug="crm", **headers):
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    headers.setdefault("X-Crm-Signature", hex_signature(raw))
    return post_hook(client, capture, slug, raw, **headers)


def test_named_paths_become_the_event_data(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    response = send(client, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["ada@example.org"]
    assert mail.message["Subject"] == "Confirm, Ada"
    assert mail.part("text/plain").strip() == "pro: https://app.example.com/confirm/abc"
    assert Message.objects.get().data == {
        "confirm_url": "https://app.example.com/confirm/abc",
        "plan": "pro",
    }


def test_hex_signature_with_algorithm_prefix_is_accepted(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    raw = json.dumps(SIGNUP).encode()

    response = send(
        client,
        django_capture_on_commit_callbacks,
        raw,
        **{"X-Crm-Signature": "sha256=" + hex_signature(raw)},
    )

    assert response.status_code == 200


def test_base64_signature_scheme(client, django_capture_on_commit_callbacks, smtp_server, crm):
    crm.verification = Integration.Verification.HMAC_BASE64
    crm.save()
    raw = json.dumps(SIGNUP).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()

    good = send(
        client,
        django_capture_on_commit_callbacks,
        raw,
        **{"X-Crm-Signature": base64.b64encode(digest).decode()},
    )
    hex_sent = send(client, django_capture_on_commit_callbacks, raw)

    assert good.status_code == 200
    assert hex_sent.status_code == 401


def test_previous_secret_stays_valid_during_a_rotation(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    crm.previous_secret, crm.secret = SECRET, "the-new-secret"
    crm.save()
    raw = json.dumps(SIGNUP).encode()

    old = send(client, django_capture_on_commit_callbacks, raw)
    crm.previous_secret = ""
    crm.save()
    old_after_rotation = send(client, django_capture_on_commit_callbacks, raw)
    new = send(
        client,
        django_capture_on_commit_callbacks,
        raw,
        **{"X-Crm-Signature": hex_signature(raw, "the-new-secret")},
    )

    assert old.status_code == 200
    assert old_after_rotation.status_code == 401
    assert new.status_code == 200


def test_body_without_recipient_is_answered_400_with_the_path_and_logged(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    body = {**SIGNUP, "user": {"id": "u-1", "given_name": "Nobody"}}

    response = send(client, django_capture_on_commit_callbacks, body)

    assert response.status_code == 400
    assert response.json()["outcome"] == "no_recipient"
    assert "No recipient found at user.mail" in response.json()["detail"]
    call = IntegrationCall.objects.get()
    assert call.outcome == IntegrationCall.Outcome.NO_RECIPIENT
    assert '"given_name": "Nobody"' in call.body_excerpt
    assert not Trigger.objects.exists()


def test_recipient_that_is_not_an_address_is_refused(
    client, django_capture_on_commit_callbacks, crm
):
    body = {**SIGNUP, "user": {**SIGNUP["user"], "mail": "not-an-address"}}

    response = send(client, django_capture_on_commit_callbacks, body)

    assert response.status_code == 400
    assert "is not an email address" in response.json()["detail"]


def test_body_that_is_not_a_json_object_is_refused(client, django_capture_on_commit_callbacks, crm):
    not_json = send(client, django_capture_on_commit_callbacks, b"order=1&mail=x")
    a_list = send(client, django_capture_on_commit_callbacks, b"[1, 2]")

    assert not_json.status_code == a_list.status_code == 400
    assert {c.outcome for c in IntegrationCall.objects.all()} == {"invalid_body"}


def test_body_with_nul_characters_is_refused_and_logged(
    client, django_capture_on_commit_callbacks, crm
):
    # PostgreSQL stores U+0000 neither in text nor in jsonb: refused, logged, never a 500.
    escaped = send(client, django_capture_on_commit_callbacks, {**SIGNUP, "event": "a\x00b"})
    raw_nul = send(client, django_capture_on_commit_callbacks, b'{"event": "\x00"')

    assert escaped.status_code == raw_nul.status_code == 400
    assert "NUL" in escaped.content.decode()
    assert IntegrationCall.objects.filter(outcome="invalid_body").count() == 2
    assert not Trigger.objects.exists()


def test_body_with_an_unpaired_surrogate_is_refused_and_logged(
    client, django_capture_on_commit_callbacks, crm
):
    response = send(client, django_capture_on_commit_callbacks, b'{"event": "a\\udc00b"}')

    assert response.status_code == 400
    assert "surrogate" in response.content.decode()
    assert IntegrationCall.objects.filter(outcome="invalid_body").count() == 1
    assert not Trigger.objects.exists()


def test_disabled_integration_answers_404_and_triggers_nothing(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    crm.is_enabled = False
    crm.save()

    response = send(client, django_capture_on_commit_callbacks)

    assert response.status_code == 404
    assert not Message.objects.exists()
    assert IntegrationCall.objects.get().outcome == IntegrationCall.Outcome.DISABLED


def test_unknown_slug_answers_404(client, django_capture_on_commit_callbacks, crm):
    response = send(client, django_capture_on_commit_callbacks, slug="no-such-hook")

    assert response.status_code == 404
    assert not IntegrationCall.objects.exists()


def test_only_post_is_accepted(client, crm):
    assert client.get("/hooks/crm/").status_code == 405


def test_oversized_body_is_refused_before_verification(
    client, django_capture_on_commit_callbacks, settings, crm
):
    settings.INTEGRATION_MAX_BODY_BYTES = 2048
    body = {**SIGNUP, "padding": "x" * 3000}

    response = send(client, django_capture_on_commit_callbacks, body)

    assert response.status_code == 413
    assert IntegrationCall.objects.get().outcome == IntegrationCall.Outcome.TOO_LARGE


def test_refuse_policy_answers_422_for_unknown_recipients(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    crm.unknown_recipient = Integration.UnknownRecipient.REFUSE
    crm.save()

    response = send(client, django_capture_on_commit_callbacks)

    assert response.status_code == 422
    assert "only sends to existing contacts" in response.json()["detail"]
    assert not Contact.objects.exists()
    assert not Message.objects.exists()


def test_external_id_recipient_creates_the_contact_from_the_email_path(
    client, django_capture_on_commit_callbacks, smtp_server, crm
):
    crm.recipient_path = "user.id"
    crm.recipient_key = Integration.RecipientKey.EXTERNAL_ID
    crm.email_path = "user.mail"
    crm.save()

    send(client, django_capture_on_commit_callbacks)
    send(
        client,
        django_capture_on_commit_callbacks,
        {**SIGNUP, "user": {**SIGNUP["user"], "id": "u-981"}},
    )

    contact = Contact.objects.get()
    assert (contact.external_id, contact.email, contact.first_name) == (
        "u-981",
        "ada@example.org",
        "Ada",
    )
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["ada@example.org"]


def test_event_with_nothing_linked_answers_503_so_the_sender_retries(
    client, django_capture_on_commit_callbacks, crm
):
    crm.event.streams.update(status="draft")

    response = send(client, django_capture_on_commit_callbacks)

    assert response.status_code == 503
    assert IntegrationCall.objects.get().outcome == IntegrationCall.Outcome.NOT_LINKED
    # The contact created for the call was rolled back with it.
    assert not Contact.objects.exists()


def test_mapping_with_a_bad_line_is_rejected_in_the_admin_form(make_event):
    integration = Integration(
        name="bad",
        slug="bad",
        event=make_event(),
        secret="x",
        recipient_path="customer email",
        data_paths="order_id = id\njust a line",
    )

    with pytest.raises(ValidationError) as error:
        integration.full_clean()

    assert "recipient_path" in error.value.message_dict
    with pytest.raises(ValidationError, match="line 2"):
        integration.data_mapping()


def test_paths_read_nested_fields_lists_and_alternatives():
    document = {"email": "", "customer": {"email": "c@example.org"}, "items": [{"sku": "A"}]}

    assert read_path(document, "email|customer.email") == "c@example.org"
    assert read_path(document, "items.0.sku") == "A"
    assert read_path(document, "items.3.sku") is None
    assert read_path(document, "customer.email.domain") is None


def test_a_call_for_an_event_that_only_starts_a_program_enters_it_once(
    client, django_capture_on_commit_callbacks, smtp_server, crm, make_event, make_stream
):
    crm.event.streams.update(status="draft")
    later = make_stream(make_event("later"), name="Later", subject="Later")
    make_program(crm.event, wait(days=1), send_step(later))

    first = send(client, django_capture_on_commit_callbacks)
    retry = send(client, django_capture_on_commit_callbacks)

    assert first.status_code == 200
    assert first.json()["outcome"] == "accepted"
    assert len(first.json()["runs"]) == 1
    assert retry.json()["outcome"] == "duplicate"
    run = ProgramRun.objects.get()
    assert run.data == {"confirm_url": "https://app.example.com/confirm/abc", "plan": "pro"}
    assert not Message.objects.exists()
