"""No N+1 queries: the trigger API and the send task cost a fixed number of queries, whatever
the number of recipients (the benchmark measures the time; these pin down the query plan)."""

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from delivery import copy_insert
from delivery.models import Message
from delivery.tasks import send_messages
from senders.bounce_domains import bounce_domain_of
from senders.signing import signers_for

pytestmark = pytest.mark.django_db

# What one trigger call costs before its commit (savepoints of the test's transaction not
# counted): credential, event, linked streams (which also say whether automation programs take
# the event), contacts, the trigger row, suppressions and the messages, and the rate limiter's
# counter in the default cache, which every web process shares (read and upsert; issue 20: a
# per-process cache let each worker allow the whole rate). Raise it only for a query that does
# not grow with the recipients.
SINGLE_TRIGGER_QUERIES = 9
# claim (update, select; attachments are looked up only for messages that have some) and the
# version (once per process); then the outcomes of each window of TRIGGERED_EMAIL_RECORD_EVERY
# messages, recorded as soon as the MTA answered for them (one update, one insert of delivery
# events). On PostgreSQL the claim is one statement (delivery.claim_rows) and so is each
# window's outcome.
SEND_TASK_QUERIES = 3
SEND_TASK_QUERIES_POSTGRESQL = 2
WINDOW_QUERIES = 2
WINDOW_QUERIES_POSTGRESQL = 1
# How a batch's messages are written: a multi-row INSERT, or on PostgreSQL the ids from the
# sequence and one COPY (delivery.copy_insert).
MESSAGE_WRITES = ('INSERT INTO "delivery_message"', "SELECT nextval(", 'COPY "delivery_message"')


@pytest.fixture
def client(credential):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {credential.token}")
    # The first call of a minute records the credential's use; count steady state.
    api.post("/api/v2/event/0/trigger", {}, format="json")
    return api


def trigger_queries(client, event_id, body) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/v2/event/{event_id}/trigger", body, format="json")
    assert response.json()["replyCode"] == 0, response.json()
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]


def test_single_trigger_uses_a_fixed_number_of_queries(client, make_stream, make_contact):
    stream = make_stream()
    make_contact("jane@example.org")

    queries = trigger_queries(
        client,
        stream.event_id,
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "1"}},
    )

    assert len(queries) <= SINGLE_TRIGGER_QUERIES, "\n".join(q[:200] for q in queries)


@pytest.mark.parametrize("size", [5, 200])
def test_batch_trigger_queries_do_not_grow_with_the_batch(client, make_stream, make_contact, size):
    stream = make_stream()
    for index in range(size):
        make_contact(f"reader{index}@example.org")
    contacts = [
        {"external_id": f"reader{index}@example.org", "data": {"order_id": str(index)}}
        for index in range(size)
    ]

    queries = trigger_queries(client, stream.event_id, {"key_id": "3", "contacts": contacts})

    inserts = [q for q in queries if q.startswith(MESSAGE_WRITES)]
    others = [q[:200] for q in queries if q not in inserts]
    assert Message.objects.filter(stream=stream).count() == size
    if connection.vendor == "postgresql" and size >= copy_insert.COPY_MIN_ROWS:
        # The ids in one query, then one COPY of all rows.
        assert [q.split()[0] for q in inserts] == ["SELECT", "COPY"]
    else:
        # One bulk insert, split only where the database limits a statement's parameters.
        fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
        per_statement = connection.ops.bulk_batch_size(fields, [None] * size)
        assert len(inserts) == math.ceil(size / per_statement)
    assert len(others) + 1 <= SINGLE_TRIGGER_QUERIES, "\n".join(others)


@pytest.mark.parametrize("size", [1, 50])
def test_send_task_queries_grow_only_with_the_recording_windows(
    client, make_stream, make_contact, smtp_server, size, settings
):
    stream = make_stream()
    for index in range(size):
        make_contact(f"reader{index}@example.org")
    contacts = [{"external_id": f"reader{index}@example.org"} for index in range(size)]
    trigger_queries(client, stream.event_id, {"key_id": "3", "contacts": contacts})
    ids = list(Message.objects.values_list("pk", flat=True))
    # A lane worker reads a sender domain's keys and bounce domain once a minute, not per task.
    signers_for("example.com")
    bounce_domain_of("example.com")
    # Windows ended by count only: a slow test machine must not end them by time.
    settings.TRIGGERED_EMAIL_RECORD_WITHIN_MS = 60_000

    with CaptureQueriesContext(connection) as captured:
        result = send_messages(ids)

    queries = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    assert result["sent"] == size
    assert len(smtp_server.wait_for(size)) == size
    windows = math.ceil(size / settings.TRIGGERED_EMAIL_RECORD_EVERY)
    if connection.vendor == "postgresql":
        limit = SEND_TASK_QUERIES_POSTGRESQL + windows * WINDOW_QUERIES_POSTGRESQL
    else:
        limit = SEND_TASK_QUERIES + windows * WINDOW_QUERIES
    assert len(queries) <= limit, "\n".join(q[:200] for q in queries)
