"""Feedback events v1 from ``cx.feedback``: the consumer of each service's own queue,
and, with ``FEEDBACK_PARTITIONS`` > 0, its partition queues with per-customer lanes.

The reliability rules (ack after the work is stored, dead letters, retries, store
outages) are those of every consumer here: ``ReliableConsumerMixin`` in messaging.py.
A batch entrypoint over the same queues is ``feedback_batch_consumer`` (batching.py).
"""

from __future__ import annotations

import logging
from functools import partial

import eventlet
import eventlet.event
import eventlet.queue
from kombu import Queue
from nameko import config as nameko_config
from nameko import serialization
from nameko.amqp.consume import Consumer as ConsumerCore
from nameko.amqp.publish import get_connection
from nameko.constants import (
    DEFAULT_HEARTBEAT,
    DEFAULT_PREFETCH_COUNT,
    HEARTBEAT_CONFIG_KEY,
    PREFETCH_COUNT_CONFIG_KEY,
)
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer

from contracts.feedback import FEEDBACK_EXCHANGE, InvalidFeedback, parse_feedback
from services.common import partitions, settings
from services.common.messaging import (
    TRANSIENT_ERRORS,
    GuardedKombuConsumer,
    InvalidMessage,
    ReliableConsumerMixin,
    context_from_headers,
    durable_queue_arguments,
    feedback_exchange,
    home_queue,
)

log = logging.getLogger(__name__)


class FeedbackConsumer(ReliableConsumerMixin, Consumer):
    """Consume feedback events v1 from ``cx.feedback`` on the service's own durable queue.

    The decorated method receives the validated, normalised event (a dict).
    With ``FEEDBACK_PARTITIONS`` > 0 it consumes the service's partition queues
    instead and keeps each customer's events in order (services/common/partitions.py).
    """

    max_bytes_setting = "FEEDBACK_MAX_BYTES"  # the contract's ceiling by default
    raw_body = True

    def __init__(self, routing_key: str = "feedback.#", **kwargs):
        self.routing_key = routing_key
        self.lanes: FeedbackLanes | None = None
        super().__init__(queue=None, **kwargs)

    def setup(self):
        self.queue = Queue(
            f"{FEEDBACK_EXCHANGE}.{self.container.service_name}",
            exchange=feedback_exchange,
            routing_key=self.routing_key,
            durable=True,
            queue_arguments=durable_queue_arguments(),
        )
        if partitions.partition_count():
            self.lanes = FeedbackLanes(self)
            self.lanes.setup()
        else:
            super().setup()
        self._declare_dead_letter_queue()

    def start(self):
        if self.lanes is not None:
            self.lanes.start()
        else:
            super().start()

    def stop(self):
        if self.lanes is not None:
            self.lanes.stop()
        else:
            super().stop()

    def parse(self, body, message) -> tuple:
        try:
            return (parse_feedback(message.body),)
        except InvalidFeedback as exc:
            raise InvalidMessage(exc.reason) from None


class QueueTaggingConsumer(ConsumerCore):
    """Nameko's consumer core, one kombu consumer per queue, telling callbacks the queue."""

    def get_consumers(self, consumer_cls, channel):
        consumer_cls = partial(GuardedKombuConsumer, channel)
        consumers = []
        for queue in self.queues:
            consumer = consumer_cls(
                queues=[queue],
                callbacks=[partial(self.on_queue_message, queue.name)],
                accept=self.accept,
                **self.consumer_options,
            )
            consumer.qos(prefetch_count=self.prefetch_count)
            consumers.append(consumer)
        return consumers

    def on_queue_message(self, queue_name, body, message):
        message.delivery_info["cx_queue"] = queue_name
        self.on_message(body, message)


class FeedbackLanes:
    """Partitioned, ordered consumption for one FeedbackConsumer.

    Two consumer cores: one subscribes at once to the partitions this replica
    owns, the other after ``FEEDBACK_STANDBY_DELAY`` to the rest (as a standby:
    the queues are single-active-consumer). Each message goes to the lane of
    its customer; a lane runs one worker at a time, so one customer's events
    are handled in delivery order while other lanes run in parallel. A store
    outage is retried in place (sleep, run again) instead of requeued, which
    would put the message behind the customer's later events.
    """

    def __init__(self, entrypoint: FeedbackConsumer):
        self.entrypoint = entrypoint
        self.stopping = False
        self.cores: list[tuple[float, QueueTaggingConsumer]] = []
        self.queues: list[eventlet.queue.LightQueue] = []

    def setup(self) -> None:
        entrypoint = self.entrypoint
        service = entrypoint.container.service_name
        with get_connection(entrypoint.amqp_uri) as conn:
            queues = partitions.declare_service_topology(
                conn.channel(), service, entrypoint.routing_key, durable_queue_arguments()
            )
        own = [q for index, q in enumerate(queues) if partitions.owned(index)]
        standby = [q for index, q in enumerate(queues) if not partitions.owned(index)]
        options = dict(entrypoint.consumer_options)
        common = {
            "heartbeat": options.pop("heartbeat", nameko_config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT)),
            "prefetch_count": options.pop(
                "prefetch_count", nameko_config.get(PREFETCH_COUNT_CONFIG_KEY, DEFAULT_PREFETCH_COUNT)
            ),
            "accept": options.pop("accept", serialization.setup().accept),
            "callbacks": [self.on_message],
        }
        delay = settings.get("FEEDBACK_STANDBY_DELAY")
        for wait, group in ((0.0, own), (delay, standby)):
            if group:
                core = QueueTaggingConsumer(entrypoint.amqp_uri, queues=group, **common, **options)
                self.cores.append((wait, core))
        # ack/requeue go through any core: they act on the message's own channel
        entrypoint.consumer = self.cores[0][1]
        if getattr(entrypoint, "batched", False):
            return  # its Batcher keeps each customer's messages in order (no lanes)
        lanes = settings.get("FEEDBACK_LANES") or entrypoint.container.max_workers
        self.queues = [eventlet.queue.LightQueue() for _ in range(max(1, lanes))]

    def start(self) -> None:
        container = self.entrypoint.container
        for index, lane in enumerate(self.queues):
            container.spawn_managed_thread(partial(self._run_lane, lane), identifier=f"feedback-lane{index}")
        for wait, core in self.cores:
            container.spawn_managed_thread(partial(self._run_core, wait, core), identifier="partitions")
        if self.cores[0][0] == 0.0:
            self.cores[0][1].wait_until_consumer_ready()

    def _run_core(self, wait: float, core: QueueTaggingConsumer) -> None:
        if wait:
            eventlet.sleep(wait)
        if not self.stopping:
            core.run()

    def stop(self) -> None:
        self.stopping = True
        for _wait, core in self.cores:
            core.stop()

    def on_message(self, body, message) -> None:
        if not self.queues:  # a batch entrypoint
            self.entrypoint.handle_message(body, message)
            return
        key = (message.headers or {}).get(partitions.PARTITION_HEADER, "")
        self.queues[partitions.lane_of(str(key), len(self.queues))].put((body, message))

    def _run_lane(self, lane) -> None:
        while True:
            body, message = lane.get()
            if self.stopping:
                self.entrypoint.consumer.requeue_message(message)
                continue
            self._process(body, message)

    def _process(self, body, message) -> None:
        entrypoint = self.entrypoint
        try:
            args = entrypoint.parse(body, message)
        except InvalidMessage as exc:
            entrypoint._reject(message, exc.reason)
            return
        context_data = context_from_headers(message.headers or {})
        while True:
            finished = eventlet.event.Event()

            def handle_result(worker_ctx, result=None, exc_info=None, finished=finished):
                finished.send(exc_info)
                return result, exc_info

            try:
                entrypoint.container.spawn_worker(
                    entrypoint, args, {}, context_data=context_data, handle_result=handle_result
                )
            except ContainerBeingKilled:
                entrypoint.consumer.requeue_message(message)
                return
            exc_info = finished.wait()
            if exc_info is not None and isinstance(exc_info[1], TRANSIENT_ERRORS) and not self.stopping:
                log.warning("not now (%s); retrying in place on %s", exc_info[1], home_queue(message, ""))
                eventlet.sleep(settings.get("STORE_RETRY_DELAY"))
                continue
            entrypoint.handle_message_processed(message, None, exc_info)
            return


feedback_consumer = FeedbackConsumer.decorator
