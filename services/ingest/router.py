"""The feedback router: the first, single-file hop of the partitioned topology.

It consumes ``cx.feedback.ingest`` (bound to the public ``cx.feedback``
exchange, single active consumer, so replicas of this service are hot
standbys) and forwards every message, byte for byte with its headers, to
``cx.feedback.partitioned`` with the customer id in ``x-cx-partition-key``.
Forwarding is serial and confirmed before the ack, in delivery order: the
order the broker received one customer's events is the order every consuming
service sees them. See services/common/partitions.py for the whole path.

A forward that fails is retried in place (the consumer does not move on),
so a broker hiccup can duplicate a message but never reorder or lose one;
consumers are idempotent by (source, event_id).
"""

from __future__ import annotations

import logging

import eventlet
from kombu import Queue
from nameko import config as nameko_config
from nameko.amqp.publish import get_connection, get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY, DEFAULT_HEARTBEAT, HEARTBEAT_CONFIG_KEY
from nameko.extensions import DependencyProvider

from services.common import partitions, settings
from services.common.messaging import GuardedConsumerCore, durable_queue_arguments, feedback_exchange

log = logging.getLogger(__name__)

# Properties an integration may set that travel with the message.
FORWARDED_PROPERTIES = ("message_id", "correlation_id", "timestamp", "type", "app_id", "expiration")


def router_queue() -> Queue:
    return Queue(
        partitions.ROUTER_QUEUE,
        exchange=feedback_exchange,
        routing_key="feedback.#",
        durable=True,
        queue_arguments={**durable_queue_arguments(), "x-single-active-consumer": True},
    )


def consumer_services() -> list[tuple[str, str]]:
    """(service, routing key it binds) of each ``FEEDBACK_CONSUMERS`` entry: ``name`` binds
    ``feedback.#``, ``name:key`` only ``key`` (the cases service: follow-up answers)."""
    out = []
    for entry in settings.get("FEEDBACK_CONSUMERS").split(","):
        service, _, binding = entry.strip().partition(":")
        if service:
            out.append((service, binding.strip() or "feedback.#"))
    return out


class FeedbackRouter(DependencyProvider):
    """Runs the router consumer for the service's lifetime; the dependency is its counters."""

    def setup(self):
        self.amqp_uri = settings.get(AMQP_URI_CONFIG_KEY)
        self.counts = {"forwarded": 0, "retries": 0, "without_customer": 0}
        self.stopping = False
        if not partitions.partition_count():
            raise RuntimeError("the ingest router needs FEEDBACK_PARTITIONS > 0")
        with get_connection(self.amqp_uri) as conn:
            channel = conn.channel()
            # Every consuming service's partitions exist before the first forward,
            # whatever order the services start in: nothing is ever unroutable.
            for service, binding in consumer_services():
                partitions.declare_service_topology(channel, service, binding, durable_queue_arguments())
        # Bytes in, bytes out: no decoding (a body that is not JSON would otherwise sit
        # unacked and, ROUTER_PREFETCH of them later, stall the router) and no inflating.
        self.consumer = GuardedConsumerCore(
            self.amqp_uri,
            queues=[router_queue()],
            callbacks=[self.on_message],
            heartbeat=nameko_config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT),
            prefetch_count=settings.get("ROUTER_PREFETCH"),
            check=False,
            raw_body=True,
        )

    def start(self):
        self.container.spawn_managed_thread(self.consumer.run, identifier="feedback-router")
        self.consumer.wait_until_consumer_ready()

    def stop(self):
        self.stopping = True
        self.consumer.stop()

    def get_dependency(self, worker_ctx):
        return dict(self.counts, partitions=partitions.partition_count())

    def on_message(self, body, message) -> None:
        key = partitions.partition_key(message.body)
        if not key:
            self.counts["without_customer"] += 1
        headers = dict(message.headers or {}, **{partitions.PARTITION_HEADER: key})
        properties = {k: message.properties[k] for k in FORWARDED_PROPERTIES if k in message.properties}
        delay = 0.2
        while not self.stopping:
            try:
                self._forward(message, headers, properties)
                break
            except Exception as exc:  # broker trouble: retry this message, never skip it
                self.counts["retries"] += 1
                log.warning("forwarding failed (%s); retrying in %.1fs", exc, delay)
                eventlet.sleep(delay)
                delay = min(delay * 2, 5.0)
        else:
            self.consumer.requeue_message(message)
            return
        self.counts["forwarded"] += 1
        self.consumer.ack_message(message)

    def _forward(self, message, headers: dict, properties: dict) -> None:
        with get_producer(self.amqp_uri) as producer:
            producer.publish(
                message.body,
                exchange=partitions.partitioned_exchange.name,
                routing_key=message.delivery_info.get("routing_key") or "feedback.unknown",
                headers=headers,
                content_type=message.content_type or "application/octet-stream",
                content_encoding=message.content_encoding or "binary",
                delivery_mode=2,
                **properties,
            )
