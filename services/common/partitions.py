"""Per-customer ordering at scale: the partitioned feedback topology.

Windowed conditions ("3 complaints in 7 days", "score dropped versus this
customer's own average"), "one open case per customer" and the profile
timeline all need one customer's events handled in the order they were
published, while different customers are handled in parallel, by several
replicas. Competing consumers on one queue give the parallelism but not the
order. With ``FEEDBACK_PARTITIONS = P > 0`` the stream takes this path::

    cx.feedback (topic, the public contract: routing key feedback.<channel>)
      └─ queue cx.feedback.ingest            single active consumer: the router
           router (services/ingest): reads customer.id, republishes unchanged
           with header x-cx-partition-key, confirmed, then acks
    cx.feedback.partitioned (topic)
      └─ cx.feedback.<service>.partitions    x-consistent-hash on that header
           ├─ queue cx.feedback.<service>.p00   single active consumer
           ├─ ...
           └─ queue cx.feedback.<service>.pNN

The public contract is untouched: integrations keep publishing to
``cx.feedback`` with routing key ``feedback.<channel>``; the customer id is read
from the body by the router, because a consistent-hash exchange can only hash
a routing key, a header or a property.

Ordering holds because every link is single-file for one customer: the router
queue has one active consumer that forwards in delivery order; a customer
always hashes to the same partition queue; each partition queue has one
active consumer (``x-single-active-consumer``: other replicas wait as hot
standbys and take over, in order, when it dies); inside a replica, messages go
to the batch entrypoint, which never runs a customer in two batches at once
(services/common/batching.py; a per-message consumer uses per-customer lanes instead,
``FeedbackLanes``). Parallelism comes from P partitions and from several customers'
batches within a replica.

Balance across replicas: RabbitMQ 3.10 makes the first subscriber of a queue
its active consumer, so replica ``REPLICA_INDEX`` of ``REPLICA_COUNT``
subscribes at once to the partitions it owns (``p % count == index``) and to
the others only after ``FEEDBACK_STANDBY_DELAY`` seconds: when replicas start
together each becomes active on its own share; when one is missing, the others
cover its partitions after the delay. A replica that comes back later is a
standby on its share until the covering replica restarts (documented in
docs/scale.md).

What is not ordered: a message retried after a non-transient failure is
republished behind later events of its customer (it was failing anyway); a
change of P re-maps customers, so change it only on a drained stream.
"""

from __future__ import annotations

import json
import zlib

from kombu import Exchange, Queue

from contracts.feedback import FEEDBACK_EXCHANGE
from services.common import settings

PARTITION_HEADER = "x-cx-partition-key"
MAX_KEY_CHARS = 128  # the contract's longest customer.id
ROUTER_QUEUE = f"{FEEDBACK_EXCHANGE}.ingest"
partitioned_exchange = Exchange(f"{FEEDBACK_EXCHANGE}.partitioned", type="topic", durable=True)


def partition_count() -> int:
    count = settings.get("FEEDBACK_PARTITIONS")
    if count < 0 or count > 256:
        raise ValueError(f"FEEDBACK_PARTITIONS must be between 0 and 256, not {count}")
    return count


def partition_key(body: bytes | str | dict) -> str:
    """The customer id of a feedback body, or "" when it has none.

    Lenient on purpose: the router never judges a message; one without a
    usable customer id still goes through (to one fixed partition) and is
    dead-lettered with its reason by the consuming services.
    """
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return ""
    customer = body.get("customer") if isinstance(body, dict) else None
    key = customer.get("id") if isinstance(customer, dict) else None
    # The key travels in a header: a lone surrogate cannot be encoded and a huge
    # id would not fit the header frame; either would stall the router for good.
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS or not _encodable(key):
        return ""
    return key


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lane_of(key: str, lanes: int) -> int:
    """A stable lane for a key (crc32: the same in every process, unlike hash())."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % lanes


def hash_exchange(service_name: str) -> Exchange:
    return Exchange(
        f"{FEEDBACK_EXCHANGE}.{service_name}.partitions",
        type="x-consistent-hash",
        durable=True,
        arguments={"hash-header": PARTITION_HEADER},
    )


def partition_queues(service_name: str, count: int, queue_arguments: dict) -> list[Queue]:
    exchange = hash_exchange(service_name)
    return [
        Queue(
            f"{FEEDBACK_EXCHANGE}.{service_name}.p{index:02d}",
            exchange=exchange,
            routing_key="1",  # the binding's weight in the hash ring: all equal
            durable=True,
            queue_arguments={**queue_arguments, "x-single-active-consumer": True},
        )
        for index in range(count)
    ]


def owned(index: int) -> bool:
    """Whether this replica subscribes to partition ``index`` first (see the module doc)."""
    count = max(1, settings.get("REPLICA_COUNT"))
    return index % count == settings.get("REPLICA_INDEX") % count


def declare_service_topology(
    channel, service_name: str, routing_key: str, queue_arguments: dict
) -> list[Queue]:
    """Declare (idempotently) one consuming service's hash exchange and partition queues."""
    partitioned_exchange(channel).declare()
    exchange = hash_exchange(service_name)(channel)
    exchange.declare()
    exchange.bind_to(partitioned_exchange.name, routing_key=routing_key)
    queues = partition_queues(service_name, partition_count(), queue_arguments)
    for queue in queues:
        queue(channel).declare()
    return queues
