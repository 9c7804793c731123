"""Small hand-overs to a busy lane share one task (delivery.handover), through the real Redis
broker: messages arriving while a task waits ride with it, nothing is left without a task, and
full chunks keep a task each. The tasks are run here as a worker runs them."""

import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from delivery import handover, queue
from delivery.models import Message
from delivery.tasks import send_waiting

pytestmark = pytest.mark.django_db

WAITING = "delivery.tasks.send_waiting"
CHUNK = "delivery.tasks.send_messages"


@pytest.fixture
def lane(settings):
    """The transactional lane's Redis broker, emptied; tasks queued, not run inline."""
    broker = get_broker("transactional")
    if not handover.supported(broker):
        pytest.skip("the hand-over needs the Redis broker (REDIS_URL)")
    settings.TRIGGERED_EMAIL_RUN_TASKS_INLINE = False
    broker.delete_queue()
    handover.forget(broker)
    yield broker
    broker.delete_queue()
    handover.forget(broker)


@pytest.fixture
def stream(make_stream, make_contact):
    for index in range(5):
        make_contact(f"reader{index}@example.org")
    return make_stream()


def queued_tasks(broker) -> list[tuple[str, tuple]]:
    """What waits in the broker, unpacked as the cluster unpacks it."""
    packed = broker.connection.lrange(broker.list_key, 0, -1)
    return [(task["func"], task["args"]) for task in map(SignedPackage.loads, packed)]


def trigger(api, stream, *indexes: int) -> None:
    contacts = [{"external_id": f"reader{index}@example.org"} for index in indexes]
    body = {"key_id": "3", **(contacts[0] if len(contacts) == 1 else {"contacts": contacts})}
    response = api.post(f"/api/v2/event/{stream.event_id}/trigger", body)
    assert response.json()["replyCode"] == 0, response.json()


def sent() -> int:
    return Message.objects.filter(status=Message.Status.SENT).count()


def test_singles_arriving_while_a_task_waits_share_it(api, stream, lane, smtp_server):
    for index in range(3):
        trigger(api, stream, index)

    assert queued_tasks(lane) == [(WAITING, ("transactional",))]
    assert send_waiting("transactional")["sent"] == 3
    assert len(smtp_server.received) == 3
    assert sent() == 3


def test_a_message_handed_over_after_the_task_took_its_ids_gets_a_task(
    api, stream, lane, smtp_server
):
    trigger(api, stream, 0)
    taken, left = handover.take(lane, 100)  # the queued task has started
    trigger(api, stream, 1)

    assert (len(taken), left) == (1, 0)
    assert queued_tasks(lane) == [(WAITING, ("transactional",))] * 2
    assert send_waiting("transactional")["sent"] == 1
    assert Message.objects.get(status=Message.Status.SENT).recipient == "reader1@example.org"


def test_more_than_a_chunk_waiting_is_shared_with_another_task(
    api, stream, lane, smtp_server, settings
):
    settings.TRIGGERED_EMAIL_CHUNK_SIZE = 2
    for index in range(3):
        trigger(api, stream, index)
    assert len(queued_tasks(lane)) == 1

    assert send_waiting("transactional")["sent"] == 2
    # Queued before sending, so an idle worker takes the rest meanwhile.
    assert len(queued_tasks(lane)) == 2
    assert send_waiting("transactional")["sent"] == 1
    assert send_waiting("transactional") == {"claimed": 0}
    assert len(queued_tasks(lane)) == 2
    assert sent() == 3


def test_full_chunks_keep_a_task_each(api, stream, lane, settings):
    settings.TRIGGERED_EMAIL_CHUNK_SIZE = 2

    trigger(api, stream, 0, 1, 2, 3, 4)

    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    assert queued_tasks(lane) == [
        (CHUNK, (ids[0:2],)),
        (CHUNK, (ids[2:4],)),
        (WAITING, ("transactional",)),
    ]
    assert handover.take(lane, 100) == ([ids[4]], 0)


def test_a_task_that_cannot_be_queued_does_not_hold_up_the_next(
    api, stream, lane, smtp_server, monkeypatch
):
    def broker_gone(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(queue, "async_task", broker_gone)
        trigger(api, stream, 0)
    # Left for the sweep, which hands over messages with no hand-over time.
    assert Message.objects.get().queued_at is None

    trigger(api, stream, 1)

    assert queued_tasks(lane) == [(WAITING, ("transactional",))]
    assert send_waiting("transactional")["sent"] == 2
