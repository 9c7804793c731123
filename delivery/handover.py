"""Small hand-overs to a busy lane share one task.

A single trigger hands one message to its lane. django-q2's own work per task (signing it, the
pusher, the worker's queue, the monitor) and a task's fixed statements cost more CPU than sending
one message, and at a few hundred triggers a second that work is what fills the machine
(docs/performance.md, *What limits each figure now*). So with the Redis broker a hand-over smaller
than a chunk goes into the lane's list of waiting messages, and a task to send what waits
(`send_waiting`) is queued only if none is queued already. While the lane keeps up every message
still gets a task of its own at once; when tasks start to wait, the messages that arrive meanwhile
ride with the next one, so the lane does less work per message exactly when it is behind.

Nothing is left waiting: a hand-over pushes its ids first and then sets the lane's "task queued"
flag unless it is set; a task deletes the flag first and then takes ids. An id pushed while the
flag is set is therefore taken by a task that has not yet deleted it. The flag expires
(FLAG_TTL_MS): a task lost with Redis delays what waits by at most that long, and the ids lost
with Redis are messages still `queued`, which the sweep hands over again like any lost task.
"""

from __future__ import annotations

from django_q.brokers import Broker
from django_q.brokers.redis_broker import Redis as RedisBroker

# Longer than a task normally waits in the queue; a queued task found stale only costs a spare
# task (it finds the list empty or shares it).
FLAG_TTL_MS = 10_000


def supported(broker: Broker) -> bool:
    """The ORM broker on a laptop has no shared list: there every hand-over is a task."""
    return isinstance(broker, RedisBroker)


def _keys(broker: Broker) -> tuple[str, str]:
    return f"{broker.list_key}:waiting", f"{broker.list_key}:task-queued"


def push(broker: Broker, ids: list[int]) -> bool:
    """Add `ids` to the lane's waiting messages; True if the caller must queue a task for them."""
    waiting, flag = _keys(broker)
    pipe = broker.connection.pipeline(transaction=False)
    pipe.rpush(waiting, *ids)
    pipe.set(flag, b"1", nx=True, px=FLAG_TTL_MS)
    _, flagged = pipe.execute()
    return bool(flagged)


def flag(broker: Broker) -> bool:
    """Set the "task queued" flag unless set; True if the caller must queue a task."""
    return bool(broker.connection.set(_keys(broker)[1], b"1", nx=True, px=FLAG_TTL_MS))


def unflag(broker: Broker) -> None:
    """After a task could not be queued: let the next hand-over queue one."""
    broker.connection.delete(_keys(broker)[1])


def take(broker: Broker, limit: int) -> tuple[list[int], int]:
    """The first `limit` waiting ids, and how many still wait after them."""
    waiting, flag_key = _keys(broker)
    # One MULTI/EXEC, in this order (see the module's docstring): the flag goes before the ids
    # are read. LRANGE and LTRIM instead of LPOP with a count, which needs Redis 6.2.
    pipe = broker.connection.pipeline(transaction=True)
    pipe.delete(flag_key)
    pipe.lrange(waiting, 0, limit - 1)
    pipe.ltrim(waiting, limit, -1)
    pipe.llen(waiting)
    _, ids, _, left = pipe.execute()
    return [int(pk) for pk in ids], int(left)


def forget(broker: Broker) -> None:
    """Drop the lane's waiting ids and flag (tests: ids of another database's rows)."""
    broker.connection.delete(*_keys(broker))
