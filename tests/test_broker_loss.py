"""Tasks lost with the broker are handed over again soon after it is back."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery import handover, tasks
from delivery.models import Message
from delivery.queue import lane_broker

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_broker(settings):
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    broker = lane_broker("bulk")
    if not handover.supported(broker):
        pytest.skip("the hand-over of lost tasks after a restart needs the Redis broker")
    yield broker
    for lane in ("transactional", "bulk"):
        lane_broker(lane).delete_queue()
        handover.forget(lane_broker(lane))


def handed_over(stream, make_queued_messages, seconds_ago: int) -> Message:
    [message] = make_queued_messages(stream, 1, label=f"handed-{seconds_ago}")
    Message.objects.filter(pk=message.pk).update(
        lane="bulk", queued_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    return message


def test_messages_handed_to_redis_before_it_restarted_are_handed_over_again(
    redis_broker, monkeypatch, make_stream, make_queued_messages
):
    stream = make_stream(lane="bulk")
    before_restart = handed_over(stream, make_queued_messages, 60)
    after_restart = handed_over(stream, make_queued_messages, 2)
    # Redis has been up for 10 s: it restarted after the first hand-over, before the second.
    connection = lane_broker("transactional").connection
    monkeypatch.setattr(connection, "info", lambda section=None: {"uptime_in_seconds": 10})

    result = tasks.sweep()

    assert result["requeued"] == 1
    before_restart.refresh_from_db()
    after_restart.refresh_from_db()
    assert before_restart.queued_at > timezone.now() - timedelta(seconds=5)
    assert after_restart.queued_at < timezone.now() - timedelta(seconds=1)


def test_a_bulk_backlog_is_not_handed_over_again_while_redis_stayed_up(
    redis_broker, monkeypatch, make_stream, make_queued_messages
):
    stream = make_stream(lane="bulk")
    handed_over(stream, make_queued_messages, 60)
    connection = lane_broker("transactional").connection
    monkeypatch.setattr(connection, "info", lambda section=None: {"uptime_in_seconds": 3600})

    assert tasks.sweep()["requeued"] == 0
