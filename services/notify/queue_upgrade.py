"""Turning notify's existing request queue into a priority queue, losing nothing.

RabbitMQ cannot change a queue's arguments: the queue has to be deleted and declared
again, and while it does not exist the broker drops what the cases service publishes
for it. So the move goes through a holding queue that receives every new request first:

1. declare ``<queue>.upgrade`` (a priority queue) and bind it like the queue;
2. unbind the queue: new requests now go to the holding queue only;
3. move every waiting request into it (each republished with its level's priority and
   confirmed by the broker before the original is acked), delete the empty queue;
4. declare the queue again as a priority queue and bind it, unbind the holding queue,
   move its requests back (now in priority order), delete it.

Between the binding of step 4 and the unbinding that follows, a request published
can land in both queues; notify takes a request once (its inbox keys on the
notification id), so the copy changes nothing. Refused while a consumer reads the queue
(stop the notify replicas first) or while a retry queue of it holds messages (they
return to the queue by name when their delay ends: wait that long).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from amqp import Message
from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection

from services.common.messaging import MAX_PRIORITY, level_priority

REQUESTS_QUEUE = "evt-cases-notification_requested--notify.handle_notification_requested"
REQUESTS_EXCHANGE = "cases.events"
REQUESTS_ROUTING_KEY = "notification_requested"


class UpgradeRefused(Exception):
    """The queue cannot be moved now (the message says why and what to do)."""


@dataclass(frozen=True)
class QueueState:
    exists: bool
    priority: bool
    messages: int
    consumers: int
    quorum: bool = False  # a quorum queue takes no x-max-priority (priority.py)

    @property
    def name(self) -> str:
        if not self.exists:
            return "absent"
        return "quorum" if self.quorum else "priority" if self.priority else "oldest_first"


def inspect(connection: Connection, name: str = REQUESTS_QUEUE) -> QueueState:
    """Whether the queue exists, is a priority queue, and how many messages and consumers
    it has (each probe on a channel of its own: a refusal closes the channel)."""
    channel = connection.channel()
    try:
        _, messages, consumers = channel.queue_declare(name, passive=True)
    except NotFound:
        return QueueState(False, False, 0, 0)
    _close(channel)
    if _accepts(connection, name, {"x-queue-type": "quorum"}):
        return QueueState(True, False, messages, consumers, quorum=True)
    priority = _accepts(connection, name, {"x-max-priority": MAX_PRIORITY})
    return QueueState(True, priority, messages, consumers)


def _accepts(connection: Connection, name: str, arguments: dict) -> bool:
    """Whether the existing queue has these arguments (a redeclaration passes)."""
    probe = connection.channel()
    try:
        probe.queue_declare(name, durable=True, auto_delete=False, arguments=arguments)
    except PreconditionFailed:
        return False
    finally:
        _close(probe)
    return True


def upgrade(connection: Connection, retry_depth: int, name: str = REQUESTS_QUEUE) -> dict:
    """Move the queue over (module docstring); ``retry_depth``: messages waiting in its
    retry queues now. Returns ``{"moved": n, "state": ...}``."""
    state = inspect(connection, name)
    if state.name != "oldest_first":
        return {"moved": 0, "state": state.name}
    if state.consumers:
        raise UpgradeRefused(f"{name} has {state.consumers} consumer(s): stop every notify replica first")
    if retry_depth:
        raise UpgradeRefused(
            f"{retry_depth} request(s) wait in {name}.retry.* and return to the queue when their delay "
            "ends (at most RETRY_BACKOFF_CAP): run this again after that"
        )
    holding = f"{name}.upgrade"
    wanted = {"x-max-priority": MAX_PRIORITY}
    channel = connection.channel()
    try:
        channel.confirm_select()
        channel.queue_declare(holding, durable=True, auto_delete=False, arguments=wanted)
        channel.queue_bind(holding, REQUESTS_EXCHANGE, REQUESTS_ROUTING_KEY)
        channel.queue_unbind(name, REQUESTS_EXCHANGE, REQUESTS_ROUTING_KEY)
        moved = _move(channel, name, holding)
        channel.queue_delete(name, if_empty=True)
        channel.queue_declare(name, durable=True, auto_delete=False, arguments=wanted)
        channel.queue_bind(name, REQUESTS_EXCHANGE, REQUESTS_ROUTING_KEY)
        channel.queue_unbind(holding, REQUESTS_EXCHANGE, REQUESTS_ROUTING_KEY)
        _move(channel, holding, name)
        channel.queue_delete(holding, if_empty=True)
    finally:
        _close(channel)
    return {"moved": moved, "state": "priority"}


def _move(channel, source: str, target: str) -> int:
    """Move every message of ``source`` to ``target`` (default exchange), each confirmed
    by the broker before the original is acked, with its level's priority."""
    moved = 0
    while (message := channel.basic_get(source, no_ack=False)) is not None:
        properties = dict(message.properties)
        properties["priority"] = properties.get("priority") or _priority(message.body)
        channel.basic_publish(Message(message.body, **properties), exchange="", routing_key=target)
        channel.basic_ack(message.delivery_tag)
        moved += 1
    return moved


def _priority(body) -> int:
    try:
        return level_priority(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return 0


def _close(channel) -> None:
    try:
        channel.close()
    except Exception:  # already closed by a refusal
        pass
