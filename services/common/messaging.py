"""Reliable Nameko entrypoints and a contract-checking event dispatcher.

What every consumer here guarantees (Nameko's stock ``Consumer`` acks even when
the worker raised, unless told to requeue forever):

* a message is acked only after its worker returned, i.e. after its work is stored;
* a message that can never be valid (bad JSON, schema failure) is published to
  the dead-letter exchange ``cx.dlx`` → queue ``<queue>.dlq`` with the reason in
  ``x-cx-reason``, recorded in the service's ``dead_letters`` collection, then acked;
* while the store is unreachable the message is requeued after a pause, never
  dead-lettered and never acked (the worker slot is held during the pause, so the
  consumer stops taking work until the store answers again);
* any other failure is retried by republishing with ``x-cx-attempts`` + 1, and
  dead-lettered with the last error once ``MAX_DELIVERY_ATTEMPTS`` is reached.
"""

from __future__ import annotations

import logging
from functools import partial

import eventlet
from kombu import Exchange, Queue
from kombu.common import maybe_declare
from marshmallow import ValidationError
from nameko.amqp.publish import get_connection, get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.events import EventDispatcher, EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, decode_from_headers
from pymongo.errors import ConnectionFailure

from contracts.base import flatten_errors
from contracts.export import DEAD_LETTER_EXCHANGE
from contracts.feedback import FEEDBACK_EXCHANGE, InvalidFeedback, parse_feedback
from contracts.messages import MESSAGES
from services.common import settings
from services.common.mongo import Busy, MongoStore

log = logging.getLogger(__name__)

HEADER_REASON = "x-cx-reason"
HEADER_QUEUE = "x-cx-queue"
HEADER_ATTEMPTS = "x-cx-attempts"

dead_letter_exchange = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)
feedback_exchange = Exchange(FEEDBACK_EXCHANGE, type="topic", durable=True)

# "Not now" rather than "this message is bad": requeue after a pause, count no attempt.
TRANSIENT_ERRORS = (ConnectionFailure, Busy)


class InvalidMessage(Exception):
    """The message can never be processed; it is dead-lettered with ``reason``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def dead_letter_queue(queue_name: str) -> Queue:
    return Queue(f"{queue_name}.dlq", exchange=dead_letter_exchange, routing_key=queue_name, durable=True)


class ReliableConsumerMixin:
    """Ack/requeue/retry/dead-letter policy shared by the entrypoints below.

    Subclasses implement ``parse(body, message)`` returning the worker's args
    or raising InvalidMessage.
    """

    queue: Queue

    @property
    def amqp_uri(self) -> str:
        return settings.get(AMQP_URI_CONFIG_KEY)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.consumer_options["on_decode_error"] = self._on_decode_error

    def _declare_dead_letter_queue(self) -> None:
        with get_connection(self.amqp_uri) as conn:
            maybe_declare(dead_letter_exchange, conn.channel())
            maybe_declare(dead_letter_queue(self.queue.name), conn.channel())

    def parse(self, body, message) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    # kombu could not decode the body (bad JSON, a disallowed content type)
    def _on_decode_error(self, message, exc) -> None:
        self._reject(message, f"undecodable body ({message.content_type}): {exc}")

    def handle_message(self, body, message):
        try:
            args = self.parse(body, message)
        except InvalidMessage as exc:
            self._reject(message, exc.reason)
            return
        context_data = decode_from_headers(message.headers or {})
        handle_result = partial(self.handle_result, message)

        def spawn_worker():
            try:
                self.container.spawn_worker(
                    self, args, {}, context_data=context_data, handle_result=handle_result
                )
            except ContainerBeingKilled:
                self.consumer.requeue_message(message)

        # As Nameko's Consumer: never block the AMQP thread on a full worker pool.
        self.container.spawn_managed_thread(spawn_worker)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.consumer.ack_message(message)
            return
        exc = exc_info[1]
        if isinstance(exc, InvalidMessage):
            self._reject(message, exc.reason)
        elif isinstance(exc, TRANSIENT_ERRORS):
            log.warning("not now (%s); requeueing on %s", exc, self.queue.name)
            eventlet.sleep(settings.get("STORE_RETRY_DELAY"))
            self.consumer.requeue_message(message)
        else:
            self._retry_or_reject(message, exc)

    def _attempts(self, message) -> int:
        try:
            return int((message.headers or {}).get(HEADER_ATTEMPTS, 0))
        except (TypeError, ValueError):
            return 0

    def _retry_or_reject(self, message, exc) -> None:
        attempts = self._attempts(message) + 1
        error = f"{type(exc).__name__}: {exc}"
        if attempts >= settings.get("MAX_DELIVERY_ATTEMPTS"):
            self._reject(message, f"failed {attempts} times; last error {error}", attempts)
            return
        log.warning("attempt %d on %s failed (%s); retrying", attempts, self.queue.name, error)
        headers = dict(message.headers or {}, **{HEADER_ATTEMPTS: attempts})
        self._republish(message, exchange="", routing_key=self.queue.name, headers=headers)
        self.consumer.ack_message(message)

    def _reject(self, message, reason: str, attempts: int | None = None) -> None:
        attempts = attempts if attempts is not None else self._attempts(message) + 1
        headers = dict(message.headers or {})
        headers.update(
            {HEADER_REASON: reason[:2000], HEADER_QUEUE: self.queue.name, HEADER_ATTEMPTS: attempts}
        )
        log.warning("dead-lettering a message from %s: %s", self.queue.name, reason)
        # Publish (confirmed) before the ack: if this fails the message stays queued.
        self._republish(message, exchange=DEAD_LETTER_EXCHANGE, routing_key=self.queue.name, headers=headers)
        self._record_dead_letter(message, reason, attempts)
        self.consumer.ack_message(message)

    def _republish(self, message, exchange: str, routing_key: str, headers: dict) -> None:
        with get_producer(self.amqp_uri) as producer:
            producer.publish(
                message.body,
                exchange=exchange,
                routing_key=routing_key,
                headers=headers,
                content_type=message.content_type or "application/octet-stream",
                content_encoding=message.content_encoding or "binary",
                delivery_mode=2,
                retry=True,
            )

    def _record_dead_letter(self, message, reason: str, attempts: int) -> None:
        stores = [d for d in self.container.dependencies if isinstance(d, MongoStore)]
        if not stores:
            return
        try:
            stores[0].store.record_dead_letter(self.queue.name, reason, attempts, message.body)
        except Exception:  # the DLQ copy is the durable record; the count is best effort
            log.exception("could not count a dead letter from %s", self.queue.name)


class FeedbackConsumer(ReliableConsumerMixin, Consumer):
    """Consume feedback events v1 from ``cx.feedback`` on the service's own durable queue.

    The decorated method receives the validated, normalised event (a dict).
    """

    def __init__(self, routing_key: str = "feedback.#", **kwargs):
        self.routing_key = routing_key
        super().__init__(queue=None, **kwargs)

    def setup(self):
        self.queue = Queue(
            f"{FEEDBACK_EXCHANGE}.{self.container.service_name}",
            exchange=feedback_exchange,
            routing_key=self.routing_key,
            durable=True,
        )
        super().setup()
        self._declare_dead_letter_queue()

    def parse(self, body, message) -> tuple:
        try:
            return (parse_feedback(message.body if isinstance(body, (str, bytes)) else body),)
        except InvalidFeedback as exc:
            raise InvalidMessage(exc.reason) from None


class ContractEventHandler(ReliableConsumerMixin, EventHandler):
    """A Nameko event handler that validates the payload against its contract.

    The decorated method receives the loaded message (datetimes parsed).
    """

    def setup(self):
        super().setup()
        self._declare_dead_letter_queue()

    def parse(self, body, message) -> tuple:
        spec = MESSAGES.get(self.event_type)
        if spec is None:
            raise InvalidMessage(f"no contract for event type {self.event_type!r}")
        if not isinstance(body, dict):
            raise InvalidMessage("the message body must be a JSON object")
        try:
            return (spec.schema().load(body),)
        except ValidationError as exc:
            raise InvalidMessage("schema: " + "; ".join(flatten_errors(exc.messages))) from None


class ContractViolation(ValueError):
    """A service tried to dispatch a message that breaks its own contract."""


def serialize(event_type: str, payload: dict) -> dict:
    """Validate ``payload`` against its contract and return the JSON-ready form."""
    spec = MESSAGES[event_type]
    schema = spec.schema()
    data = schema.dump({"schema_version": spec.schema.SCHEMA_VERSION, **payload})
    errors = schema.validate(data)
    if errors:
        raise ContractViolation(f"{event_type}: " + "; ".join(flatten_errors(errors)))
    return data


class ContractDispatcher(EventDispatcher):
    """EventDispatcher that checks each message against ``contracts.messages``.

    Publishes with confirms (Nameko's default) on ``<service>.events``.
    """

    def setup(self):
        # Nameko 3.0.0rc11 reads AMQP_URI when the class body is executed, i.e.
        # at import; read it again now so config given later (tests) applies.
        self.amqp_uri = settings.get(AMQP_URI_CONFIG_KEY)
        super().setup()

    def get_dependency(self, worker_ctx):
        publish = super().get_dependency(worker_ctx)
        service = self.container.service_name

        def dispatch(event_type: str, payload: dict) -> None:
            spec = MESSAGES[event_type]
            if spec.producer != service:
                raise ContractViolation(f"{event_type} is produced by {spec.producer}, not {service}")
            publish(event_type, serialize(event_type, payload))

        return dispatch


feedback_consumer = FeedbackConsumer.decorator
contract_event_handler = ContractEventHandler.decorator
