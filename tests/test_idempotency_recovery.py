"""A crashed request never blocks its retry; concurrent duplicates still get one send.

Requests run in threads with their own database connections (PostgreSQL: one request's
connection can be cut from outside, as a database restart or a killed web worker does).
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from delivery.models import Message
from events.api import views
from events.models import IdempotentRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("cuts a request's own database connection: PostgreSQL")


class Paused:
    """Holds the trigger API's work (inside its transaction) until released."""

    def __init__(self, monkeypatch, times: int = 1) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.backend_pid: int | None = None
        self.times = times
        original = views.trigger_event

        def paused(*args, **kwargs):
            if self.times > 0:
                self.times -= 1
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.backend_pid = cursor.fetchone()[0]
                self.started.set()
                self.release.wait(20)
            return original(*args, **kwargs)

        monkeypatch.setattr(views, "trigger_event", paused)


def post(credential, stream, key: str, results: list, index: int) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {credential.token}")
    try:
        response = client.post(
            f"/api/v2/event/{stream.event_id}/trigger",
            {"key_id": "3", "external_id": "jane@example.org"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        results[index] = response
    except Exception as exc:  # the cut connection
        results[index] = exc
    finally:
        connection.close()


def test_a_retry_succeeds_after_the_first_requests_web_worker_died(
    monkeypatch, smtp_server, credential, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org")
    paused = Paused(monkeypatch)
    results: list = [None, None]
    first = threading.Thread(
        target=post, args=(credential, stream, "crash-1", results, 0), daemon=True
    )
    first.start()
    assert paused.started.wait(20)

    # The first request's worker dies mid-request: it runs no more code, and the database
    # ends its session (as when the process is killed). Its thread stays paused meanwhile.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [paused.backend_pid])

    try:
        post(credential, stream, "crash-1", results, 1)
    finally:
        paused.release.set()
        first.join(20)

    retry = results[1]
    assert retry.status_code == 200, retry.content
    assert retry.json()["replyCode"] == 0
    assert Message.objects.count() == 1
    assert IdempotentRequest.objects.get(key="crash-1").status_code == 200


def test_concurrent_duplicates_wait_for_the_first_and_get_its_answer(
    monkeypatch, smtp_server, credential, make_stream, make_contact
):
    stream = make_stream()
    make_contact("jane@example.org")
    paused = Paused(monkeypatch)
    results: list = [None, None]
    first = threading.Thread(target=post, args=(credential, stream, "dup-1", results, 0))
    first.start()
    assert paused.started.wait(20)
    second = threading.Thread(target=post, args=(credential, stream, "dup-1", results, 1))
    second.start()
    second.join(1)
    assert second.is_alive(), "the duplicate did not wait for the first request"

    paused.release.set()
    first.join(20)
    second.join(20)

    assert results[0].status_code == results[1].status_code == 200
    assert results[1]["Idempotent-Replayed"] == "true"
    assert results[1].json() == results[0].json()
    assert Message.objects.count() == 1
    smtp_server.wait_for(1)
