"""/healthz answers without the database; /readyz names every part that is not ready (503)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from delivery import heartbeats
from delivery.models import Message


@pytest.fixture
def lanes_alive(db):
    for lane in ("transactional", "bulk"):
        heartbeats.beat(lane)


def test_healthz_answers_without_touching_the_database(client):
    # No `db` fixture: pytest-django makes any database access here raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_ready_when_database_broker_and_both_lanes_work(client, lanes_alive):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["failing"] == []
    assert set(body["checks"]) == {
        "database",
        "broker:transactional",
        "broker:bulk",
        "lane:transactional",
        "lane:bulk",
        "backlog",
    }
    assert body["lanes"]["transactional"]["queued"] == 0


def test_a_silent_lane_makes_it_unready_and_is_named(client, settings, lanes_alive):
    settings.TRIGGERED_EMAIL_LANE_SILENT_SECONDS = 60
    heartbeats.beat("bulk", now=timezone.now() - timedelta(seconds=90))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["lane:bulk"]
    assert body["checks"]["lane:bulk"]["detail"].startswith("silent for 9")
    assert body["checks"]["lane:transactional"]["ok"] is True


def test_a_lane_never_seen_is_not_ready(client, db):
    heartbeats.beat("transactional")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["lane:bulk"] == {"ok": False, "detail": "never seen working"}


def test_an_old_due_transactional_message_makes_it_unready(
    client, settings, lanes_alive, make_stream, make_queued_messages
):
    settings.TRIGGERED_EMAIL_READY_MAX_QUEUED_AGE_SECONDS = 120
    stream = make_stream()
    make_queued_messages(stream, 2)
    Message.objects.filter(pk=Message.objects.order_by("pk").first().pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=300)
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["backlog"]
    assert body["checks"]["backlog"]["oldest_due_seconds"] >= 300
    assert body["lanes"]["transactional"]["queued"] == 2


def test_a_retry_scheduled_for_later_is_not_a_backlog(
    client, lanes_alive, make_stream, make_queued_messages
):
    stream = make_stream()
    make_queued_messages(stream, 1)
    Message.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=10))
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["lanes"]["transactional"] == {
        "queued": 1,
        "due": 0,
        "held": 0,
        "oldest_due_age": 0.0,
    }


def test_an_unreachable_database_is_named_and_answers_503(client, lanes_alive, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"ok": False, "detail": "unreachable: OperationalError"}
    assert "database" in body["failing"]


def test_readyz_refuses_other_methods(client, db):
    assert client.post("/readyz").status_code == 405


def test_status_command_prints_the_same_for_a_person(capsys, lanes_alive, make_stream):
    stream = make_stream()
    stream.messages.create(
        version=stream.current_version,
        recipient="a@example.org",
        message_id="<held@example.com>",
        status=Message.Status.HELD,
    )
    call_command("status")
    out = capsys.readouterr().out
    assert "READY" in out
    assert "transactional" in out and "bulk" in out
    assert "held 1" in out


def test_real_lanes_beat_and_a_stopped_lane_goes_silent(client, settings, start_qcluster):
    from delivery.models import LaneHeartbeat
    from tests.conftest import wait_until

    settings.TRIGGERED_EMAIL_LANE_SILENT_SECONDS = 5
    transactional = start_qcluster("transactional", TRIGGERED_EMAIL_HEARTBEAT_SECONDS="1")
    start_qcluster("bulk", TRIGGERED_EMAIL_HEARTBEAT_SECONDS="1")
    wait_until(lambda: LaneHeartbeat.objects.count() == 2, timeout=60, what="both lanes beat")
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout=30, what="ready")

    transactional.terminate()
    transactional.wait(timeout=30)
    wait_until(lambda: client.get("/readyz").status_code == 503, timeout=30, what="unready")
    assert client.get("/readyz").json()["failing"] == ["lane:transactional"]
