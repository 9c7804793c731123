"""The real thing: the API over HTTP, a real django-q2 cluster process, a real SMTP server."""

import json
import urllib.request

import pytest

from delivery.models import Message
from tests.conftest import wait_until

pytestmark = pytest.mark.qcluster


def post_json(url: str, body: dict, token: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_http_trigger_is_sent_by_a_real_qcluster(
    live_server, start_qcluster, smtp_server, credential, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org", first_name="Jane")
    start_qcluster(
        "transactional",
        TRIGGERED_EMAIL_SMTP_HOST=smtp_server.host,
        TRIGGERED_EMAIL_SMTP_PORT=str(smtp_server.port),
    )

    reply = post_json(
        f"{live_server.url}/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "Q-1"}},
        credential.token,
    )

    assert reply["replyCode"] == 0
    [mail] = smtp_server.wait_for(1, timeout=60)
    assert mail.message["Subject"] == "Your order #Q-1"
    message = wait_until(
        lambda: Message.objects.filter(status=Message.Status.SENT).first(), what="status sent"
    )
    assert message.attempts == 1


def test_bulk_lane_is_served_by_its_own_cluster(
    live_server, start_qcluster, smtp_server, credential, make_stream, make_contact
):
    stream = make_stream(lane="bulk")
    make_contact("jane@example.org")
    smtp_env = {
        "TRIGGERED_EMAIL_SMTP_HOST": smtp_server.host,
        "TRIGGERED_EMAIL_SMTP_PORT": str(smtp_server.port),
    }
    start_qcluster("transactional", **smtp_env)

    post_json(
        f"{live_server.url}/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "B-1"}},
        credential.token,
    )
    # Only the transactional lane runs: the bulk message waits in its own queue.
    with pytest.raises(AssertionError):
        smtp_server.wait_for(1, timeout=3)
    assert Message.objects.get().status == Message.Status.QUEUED

    start_qcluster("bulk", **smtp_env)
    [mail] = smtp_server.wait_for(1, timeout=60)
    assert mail.message["Subject"] == "Your order #B-1"


def test_burst_of_singles_is_sent_once_each_by_a_real_qcluster(
    live_server, start_qcluster, smtp_server, credential, make_stream, make_contact
):
    # With the Redis broker the singles share tasks (delivery.handover) while the workers are
    # busy; with the ORM broker each has its own. Either way: every one sent, none twice.
    stream = make_stream()
    emails = [f"reader{index}@example.org" for index in range(40)]
    for email in emails:
        make_contact(email)
    start_qcluster(
        "transactional",
        Q_WORKERS="2",
        TRIGGERED_EMAIL_SMTP_HOST=smtp_server.host,
        TRIGGERED_EMAIL_SMTP_PORT=str(smtp_server.port),
    )

    for index, email in enumerate(emails):
        reply = post_json(
            f"{live_server.url}/api/v2/event/{stream.event_id}/trigger",
            {"key_id": "3", "external_id": email, "data": {"order_id": str(index)}},
            credential.token,
        )
        assert reply["replyCode"] == 0

    mails = smtp_server.wait_for(len(emails), timeout=60)
    assert sorted(mail.rcpt_tos[0] for mail in mails) == sorted(emails)
    wait_until(
        lambda: Message.objects.filter(status=Message.Status.SENT).count() == len(emails),
        what="all sent",
    )
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
