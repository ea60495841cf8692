"""P1 goes first: when notification requests queue up, the most urgent are sent first.

Three places hold a backlog, and each one orders by level:

* the broker: notify's ``notification_requested`` queue is a RabbitMQ priority queue
  (``x-max-priority``), and every contract message with a ``level`` is published with
  the priority of that level (``services.common.messaging.level_priority``);
* the messages the broker already delivered (the prefetch window): ``PriorityBatcher``
  puts each one ahead of those less urgent waiting for a batch;
* a batch: its requests are planned and sent most urgent first (``by_urgency``).

*Upgrades.* RabbitMQ refuses to redeclare an existing queue with other arguments
(``PRECONDITION_FAILED``), so a queue declared by an earlier version (without
``x-max-priority``) cannot become a priority queue in place. ``PriorityBatchHandler``
finds this out on a channel of its own before it consumes: it then keeps the queue as
it is (oldest first, as before), logs a warning naming the queue, and the service
works on. ``cxctl notify priority-queue --apply`` moves the queue over without losing a
message (docs/notify.md "P1 goes first"). Quorum queues take no ``x-max-priority``
(RabbitMQ 3.x has no priorities for them; 4.x serves priorities above 4, i.e. P1,
first): there only the last two orderings apply.
"""

from __future__ import annotations

import logging

from amqp.exceptions import PreconditionFailed
from kombu import Connection

from services.common.batching import Batcher, ContractBatchHandler
from services.common.messaging import MAX_PRIORITY, level_priority

log = logging.getLogger(__name__)


def urgency(value: dict) -> int:
    """Lower is more urgent: P1 → 0 … P4 → 3, no level last."""
    return MAX_PRIORITY - level_priority(value)


def by_urgency(requests: list[dict]) -> list[dict]:
    """The requests most urgent first, in arrival order within a level (a stable sort)."""
    return sorted(requests, key=urgency)


class PriorityBatcher(Batcher):
    """A batcher whose waiting messages are in urgency order: a P1 delivered behind a
    prefetched backlog of P3 joins the next batch. Only for unkeyed messages (requests
    for notifications have no per-key order to keep)."""

    def put(self, key: str | tuple[str, ...], value, message) -> None:
        super().put(key, value, message)
        if self.stopping:  # given back to the broker, not queued here
            return
        item = self.pending.pop()
        rank, at = urgency(item.value), len(self.pending)
        while at > 0 and urgency(self.pending[at - 1].value) > rank:
            at -= 1
        self.pending.insert(at, item)


def priority_arguments(amqp_uri: str, queue, base: dict) -> dict:
    """The arguments to declare ``queue`` with: ``base`` plus ``x-max-priority`` when the
    queue is classic and either new or already a priority queue; ``base`` when it exists
    without (declared by an earlier version: see the module docstring) or is a quorum
    queue. The check declares the queue on a channel of its own, so a refusal closes
    only that channel."""
    if base.get("x-queue-type") == "quorum":
        return base
    wanted = {**base, "x-max-priority": MAX_PRIORITY}
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        try:
            channel.queue_declare(
                queue=queue.name,
                durable=queue.durable,
                exclusive=queue.exclusive,
                auto_delete=queue.auto_delete,
                arguments=wanted,
            )
        except PreconditionFailed as exc:
            log.warning(
                "queue %s exists without x-max-priority (declared by an earlier version): notifications "
                "stay oldest first in the broker until an operator runs `cxctl notify priority-queue "
                "--apply` (docs/notify.md); the broker said: %s",
                queue.name,
                exc,
            )
            return base
        finally:
            try:
                channel.close()
            except Exception:  # closed by the broker's refusal already
                pass
    return wanted


class PriorityBatchHandler(ContractBatchHandler):
    """``contract_batch_handler`` over a priority queue, its waiting messages in urgency
    order (``PriorityBatcher``)."""

    batcher_class = PriorityBatcher

    def setup(self):
        super().setup()
        self.queue.queue_arguments = priority_arguments(self.amqp_uri, self.queue, self.queue.queue_arguments)


priority_batch_handler = PriorityBatchHandler.decorator
