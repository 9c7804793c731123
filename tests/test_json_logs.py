"""TRIGGERED_EMAIL_LOG_FORMAT=json: JSON lines carrying trigger, message, stream and lane."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from delivery.models import Message

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = (
    "import logging; from triggered_email.log_format import delivery_context\n"
    "with delivery_context(lane='bulk', stream=3):\n"
    "    logging.getLogger('delivery.tasks').warning('Message %s failed: %s', 5, 'x \"y\"',"
    " extra={'message_id': 5, 'trigger_id': 9})\n"
    "logging.getLogger('delivery.rollups').info('outside any delivery')\n"
)


def _shell(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *(args or ("shell", "-c", SNIPPET))],
        env={**environment, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_json_format_gives_one_parseable_object_per_line():
    lines = _shell(TRIGGERED_EMAIL_LOG_FORMAT="json").stderr.strip().splitlines()
    records = [json.loads(line) for line in lines]
    failed = next(r for r in records if r["logger"] == "delivery.tasks")
    assert failed["message"] == 'Message 5 failed: x "y"'
    assert failed["level"] == "WARNING"
    assert (failed["trigger_id"], failed["message_id"], failed["stream"], failed["lane"]) == (
        9,
        5,
        3,
        "bulk",
    )
    outside = next(r for r in records if r["logger"] == "delivery.rollups")
    assert {k: outside[k] for k in ("trigger_id", "message_id", "stream", "lane")} == dict.fromkeys(
        ("trigger_id", "message_id", "stream", "lane")
    )


def test_default_format_stays_human_readable():
    err = _shell().stderr
    assert 'WARNING delivery.tasks: Message 5 failed: x "y"' in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.strip().splitlines()[0])


def test_a_bad_format_stops_start_up_naming_the_variable():
    with pytest.raises(subprocess.CalledProcessError) as failure:
        _shell("check", TRIGGERED_EMAIL_LOG_FORMAT="xml")
    assert "TRIGGERED_EMAIL_LOG_FORMAT" in failure.value.stderr


@pytest.fixture
def json_lines():
    """The configured JSON formatter and context filter on the delivery loggers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(import_string(settings.LOGGING["formatters"]["json"]["()"])())
    handler.addFilter(import_string(settings.LOGGING["filters"]["delivery_context"]["()"])())
    logger = logging.getLogger("delivery")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_refused_message_logs_its_ids_and_lane(
    api, smtp_server, make_stream, make_contact, json_lines
):
    stream = make_stream()
    make_contact("jane@example.org")
    smtp_server.rcpt_replies["jane@example.org"] = "550 5.1.1 user unknown"
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger",
        {"key_id": "3", "external_id": "jane@example.org", "data": {"order_id": "7"}},
    )
    assert response.json()["replyCode"] == 0
    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    line = next(r for r in json_lines() if r["message"].startswith(f"Message {message.pk} failed"))
    assert line["message_id"] == message.pk
    assert line["trigger_id"] == message.trigger_id is not None
    assert line["stream"] == stream.pk
    assert line["lane"] == "transactional"
