"""Schemathesis drives the trigger API from its own OpenAPI schema (/api/schema/), in process.

Every operation gets generated requests, valid and invalid (positive and negative modes), sent
with a real credential to the Django WSGI app; no answer may be a server error, and every answer
must be one the schema describes (status code, content type and body). Path ids 1 stand for
seeded rows (an event with a live stream and a contact, a live broadcast stream, a sent message),
so generated triggers reach the outbox, not only the "no such event" refusal.

SCHEMATHESIS_MAX_EXAMPLES raises the examples per operation (default 25: about 900 requests,
under 30 s on SQLite); SCHEMATHESIS_STATS=path appends the status codes seen, one JSON line per
operation.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from delivery.models import Message
from events.credentials import issue_credential
from streams.models import MailStream
from triggered_email.wsgi import application

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Generating the schema needs no database: it is read from the running app, as clients read it.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# The credential is sent by the test itself; generated auth headers would only test refusals.
schema.config.generation.update(with_security_parameters=False)

status_counts: Counter[tuple[str, int]] = Counter()
# SCHEMATHESIS_SURVEY=1 (with SCHEMATHESIS_STATS): keep generating after a failure and write
# every failing request to the stats file, for a census of a big run; a normal run stops at the
# first failure of an operation, as a test should.
SURVEY = os.environ.get("SCHEMATHESIS_SURVEY") == "1"
survey_failures: list[dict[str, Any]] = []


@pytest.fixture
def seeded(db, smtp_server, make_stream, make_contact, api) -> dict[str, Any]:
    """An event with a live stream and its contact, a live broadcast stream, a message."""
    stream = make_stream()
    contact = make_contact("jane@example.org")
    broadcast = make_stream(
        name="Spring sale", kind=MailStream.Kind.BROADCAST, subject="Sale {{ event.coupon }}"
    )
    triggered = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": contact.email, "data": {"order_id": "A-1"}},
    )
    assert triggered.status_code == 200, triggered.json()
    message = Message.objects.get()
    assert message.status == Message.Status.SENT
    return {
        "event_id": stream.event_id,
        "stream_id": broadcast.pk,
        "message_id": message.pk,
        "token": issue_credential("schemathesis").token,
    }


@pytest.fixture
def in_process_requests(seeded) -> Iterator[dict[str, Any]]:
    """The seeded rows; requests through the WSGI app keep the test's database connection.

    Django closes connections when a request finishes; its test client turns that off for each
    call (and back on after it, hence after seeding), or the test's transaction would be gone
    after the first request.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield seeded
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def point_at_seeded_rows(case: Any, seeded: dict[str, Any]) -> None:
    """Id 1 in a generated path names the seeded row, whatever id the database gave it."""
    for name, value in (case.path_parameters or {}).items():
        if name in seeded and str(value) == "1":
            case.path_parameters[name] = seeded[name]


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The same examples every run (CI stays reproducible); SCHEMATHESIS_RANDOM=1 explores anew.
    derandomize=os.environ.get("SCHEMATHESIS_RANDOM") != "1",
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_as_its_schema_says(case, in_process_requests):
    seeded = in_process_requests
    point_at_seeded_rows(case, seeded)

    headers = {"Authorization": f"Token {seeded['token']}"}
    response = case.call(headers=headers)
    status_counts[(case.operation.label, response.status_code)] += 1

    if not SURVEY:
        case.validate_response(response, checks=CHECKS, headers=headers)
        return
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except (AssertionError, FailureGroup) as failure:  # counted instead of stopping the run
        found = failure.exceptions if isinstance(failure, FailureGroup) else [failure]
        body = response.request.body or b""
        body = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        survey_failures.append(
            {
                "operation": case.operation.label,
                "status": response.status_code,
                "request": f"{case.method} {case.formatted_path}",
                "body": body[:300],
                "failures": [getattr(f, "title", str(f)[:200]) for f in found],
            }
        )


def teardown_module() -> None:
    target = os.environ.get("SCHEMATHESIS_STATS")
    if not target or not status_counts:
        return
    by_operation: dict[str, dict[str, int]] = {}
    for (operation, status), count in sorted(status_counts.items()):
        by_operation.setdefault(operation, {})[str(status)] = count
    with open(target, "a") as stats:
        for operation, counts in by_operation.items():
            stats.write(json.dumps({"operation": operation, "statuses": counts}) + "\n")
        for failure in survey_failures:
            stats.write(json.dumps({"failure": failure}) + "\n")


def test_refusals_generated_requests_never_reach_are_answered_as_documented(
    in_process_requests, settings
):
    """401, 411, 413, 415 and 429 need headers or limits the generator does not vary."""
    seeded = in_process_requests
    token = {"Authorization": f"Token {seeded['token']}"}
    trigger = f"/api/v2/event/{seeded['event_id']}/trigger"
    operation = schema["/api/v2/event/{event_id}/trigger"]["POST"]
    client = Client(application)
    body = json.dumps({"key_id": "3", "external_id": "jane@example.org"})
    json_type = "application/json"
    settings.API_RATE_LIMIT = "2/min"
    cache.clear()

    refusals = {
        401: client.post(trigger, data=body, content_type=json_type),
        413: client.post(
            trigger,
            data=body,
            content_type=json_type,
            headers=token,
            environ_overrides={"CONTENT_LENGTH": str(settings.API_MAX_REQUEST_BYTES + 1)},
        ),
        411: client.post(trigger, headers={**token, "Transfer-Encoding": "chunked"}),
        # The rate limit counts the two calls above: this one is the third in the minute.
        429: client.post(trigger, data=body, content_type="text/plain", headers=token),
    }
    cache.clear()
    refusals[415] = client.post(trigger, data=body, content_type="text/plain", headers=token)

    for status, response in refusals.items():
        assert response.status_code == status, (status, response.get_data(as_text=True))
        operation.validate_response(response)
        assert response.json["replyCode"] != 0
    assert refusals[401].headers["WWW-Authenticate"] == 'WSSE profile="UsernameToken"'
    assert int(refusals[429].headers["Retry-After"]) > 0
    assert refusals[429].json["replyCode"] == 7003
