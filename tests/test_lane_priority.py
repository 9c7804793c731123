"""The bulk lane gives way to time-critical mail (delivery.lane_priority): a transactional
trigger marks it in Redis, a bulk task waits while the mark lives, never longer than the bound,
and nothing here can fail a trigger."""

import os

import pytest
import redis

from delivery import lane_priority, tasks
from delivery.models import Message
from streams.models import MailStream

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


@pytest.fixture
def marks(settings):
    """Real Redis (the CI's own database where the run has none), a clean mark."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    settings.REDIS_URL = REDIS_URL
    settings.TRIGGERED_EMAIL_BULK_YIELD_MS = 400
    settings.TRIGGERED_EMAIL_BULK_YIELD_MAX_SECONDS = 0.5
    client.delete(lane_priority.KEY, lane_priority.SENDING_KEY)
    lane_priority._sending_marked_at = -1.0
    yield client
    client.delete(lane_priority.KEY, lane_priority.SENDING_KEY)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(lane_priority, "_sleep", slept.append)
    return slept


def trigger(api, stream, email="jane@example.org"):
    response = api.post(
        f"/api/v2/event/{stream.event_id}/trigger", {"key_id": "3", "external_id": email}
    )
    assert response.json()["replyCode"] == 0, response.json()


@pytest.mark.django_db
def test_time_critical_trigger_makes_the_bulk_lane_wait(api, make_stream, make_contact, marks):
    stream = make_stream()
    make_contact("jane@example.org")

    trigger(api, stream)

    assert 0 < marks.pttl(lane_priority.KEY) <= 400
    assert 0 < lane_priority.give_way() <= 0.5
    # Waited until the mark was gone, or (0) expiring within the millisecond, as give_way reads it.
    assert marks.pttl(lane_priority.KEY) <= 0


@pytest.mark.django_db
def test_broadcast_triggers_do_not_hold_the_bulk_lane_back(api, make_stream, marks, sleeps):
    stream = make_stream(kind=MailStream.Kind.BROADCAST)

    response = api.post(
        f"/api/v2/email/{stream.pk}/broadcast", {"email": "guest@example.org", "data": {}}
    )

    assert response.json()["replyCode"] == 0, response.json()
    assert marks.exists(lane_priority.KEY) == 0
    assert lane_priority.give_way() == 0
    assert sleeps == []


def test_the_wait_is_bounded_however_long_the_mark_lives(settings, marks, sleeps):
    settings.TRIGGERED_EMAIL_BULK_YIELD_MS = 60_000

    lane_priority.note_time_critical_work()
    waited = lane_priority.give_way()

    assert waited == pytest.approx(0.5)
    assert sum(sleeps) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "change",
    [
        {"REDIS_URL": ""},  # the ORM broker: nothing is shared, nothing waits
        {"TRIGGERED_EMAIL_BULK_YIELD_MS": 0},  # switched off
        {"REDIS_URL": "redis://127.0.0.1:9/0"},  # Redis unreachable: a trigger must not fail
    ],
)
def test_without_a_shared_mark_nothing_waits_and_nothing_fails(settings, marks, sleeps, change):
    for name, value in change.items():
        setattr(settings, name, value)

    lane_priority.note_time_critical_work()

    assert lane_priority.give_way() == 0
    assert sleeps == []


@pytest.mark.django_db
def test_transactional_sending_holds_back_the_webhook_lane_not_the_bulk_lane(
    settings, make_stream, make_queued_messages, marks, sleeps, smtp_server
):
    from status_webhooks import lane

    settings.WEBHOOKS_YIELD_MAX_SECONDS = 3.0
    stream = make_stream(name="Password reset")
    [message] = make_queued_messages(stream, 1, label="reset")

    assert tasks.send_messages([message.pk])["sent"] == 1

    assert 0 < marks.pttl(lane_priority.SENDING_KEY) <= lane_priority.SENDING_MARK_MS
    assert lane_priority.give_way() == 0  # the bulk lane waits for triggers only
    assert sleeps == []
    lane.beat()
    # It waited for the mark, and never beyond WEBHOOKS_YIELD_MAX_SECONDS.
    assert 0 < sum(sleeps) <= 3.0


def test_the_webhook_lane_waits_for_sending_at_most_its_bound(settings, marks, sleeps):
    marks.set(lane_priority.SENDING_KEY, b"1", px=60_000)  # the lane sends on and on

    waited = lane_priority.give_way(2.0, keys=(lane_priority.KEY, lane_priority.SENDING_KEY))

    assert waited == pytest.approx(2.0)


@pytest.fixture
def queued_bulk_messages(make_stream, make_queued_messages):
    def make(count: int) -> list[int]:
        stream = make_stream(name="Newsletter", lane="bulk")
        return [m.pk for m in make_queued_messages(stream, count, label="newsletter")]

    return make


@pytest.mark.django_db
def test_a_bulk_task_gives_way_before_it_claims(
    queued_bulk_messages, marks, monkeypatch, smtp_server
):
    [message_id] = queued_bulk_messages(1)
    statuses_while_waiting = []

    def sleep(seconds: float) -> None:
        statuses_while_waiting.append(Message.objects.get(pk=message_id).status)

    monkeypatch.setattr(lane_priority, "_sleep", sleep)
    monkeypatch.setattr(tasks, "_on_bulk_lane", lambda: True)
    lane_priority.note_time_critical_work()  # a password reset just came in

    result = tasks.send_messages([message_id])

    assert result["sent"] == 1
    assert statuses_while_waiting[:1] == [Message.Status.QUEUED]
    assert len(smtp_server.wait_for(1)) == 1


@pytest.fixture
def claims(monkeypatch) -> list[int]:
    """How many ids each claim of a bulk task asked for."""
    sizes: list[int] = []
    claim = tasks.claim

    def counting(message_ids):
        sizes.append(len(message_ids))
        return claim(message_ids)

    monkeypatch.setattr(tasks, "claim", counting)
    monkeypatch.setattr(tasks, "_on_bulk_lane", lambda: True)
    return sizes


@pytest.mark.django_db
def test_bulk_task_claims_in_short_steps_while_time_critical_mail_arrives(
    queued_bulk_messages, marks, sleeps, claims, smtp_server
):
    ids = queued_bulk_messages(25)
    marks.set(lane_priority.KEY, b"1", px=60_000)  # password resets keep coming

    result = tasks.send_messages(ids)

    assert claims == [10, 10, 5]
    assert result == {"claimed": 25, "sent": 25, "failed": 0, "retried": 0}
    assert len(smtp_server.wait_for(25)) == 25


@pytest.mark.django_db
def test_bulk_task_claims_the_whole_chunk_when_no_time_critical_mail_is_about(
    queued_bulk_messages, marks, sleeps, claims, smtp_server
):
    ids = queued_bulk_messages(25)

    result = tasks.send_messages(ids)

    assert claims == [25]
    assert sleeps == []
    assert result["sent"] == 25
    assert len(smtp_server.wait_for(25)) == 25
