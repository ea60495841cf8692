"""Reliable Nameko entrypoints and a contract-checking event dispatcher.

What every consumer here guarantees (Nameko's stock ``Consumer`` acks even when
the worker raised, unless told to requeue forever):

* a message is acked only after its worker returned, i.e. after its work is stored;
* a message larger than its limit (``FEEDBACK_MAX_BYTES`` for feedback,
  ``EVENT_MAX_BYTES`` for the services' events) is dead-lettered before it is parsed;
* a message that can never be valid (bad JSON, schema failure) is published to
  the dead-letter exchange ``cx.dlx`` → queue ``<queue>.dlq`` with the reason in
  ``x-cx-reason``, recorded in the service's ``dead_letters`` collection, then acked;
* while the store is unreachable the message is requeued after a pause, never
  dead-lettered and never acked (the worker slot is held during the pause, so the
  consumer stops taking work until the store answers again);
* any other failure is retried after a growing delay (``retry_queue``: a TTL
  queue that dead-letters back; RETRY_BACKOFF_BASE × 4^(n−1) seconds, capped at
  RETRY_BACKOFF_CAP) with ``x-cx-attempts`` + 1, and dead-lettered with the last
  error and the attempt count once ``MAX_DELIVERY_ATTEMPTS`` is reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from typing import Any

import eventlet
import eventlet.event
import eventlet.queue
from greenlet import GreenletExit
from kombu import Connection, Exchange, Producer, Queue
from kombu import Consumer as KombuConsumer
from kombu.common import maybe_declare
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from nameko.amqp.consume import Consumer as ConsumerCore
from nameko.amqp.publish import get_connection, get_producer
from nameko.constants import (
    AMQP_URI_CONFIG_KEY,
)
from nameko.events import EventDispatcher, EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import HEADER_PREFIX, encode_to_headers
from pymongo.errors import ConnectionFailure

from contracts.base import flatten_errors
from contracts.dumping import message_dumper
from contracts.export import DEAD_LETTER_EXCHANGE
from contracts.feedback import FEEDBACK_EXCHANGE
from contracts.loading import message_loader
from contracts.messages import MESSAGES
from contracts.published import Breach, check_published
from services.common import settings
from services.common.inbox import Busy
from services.common.mongo import MongoStore

log = logging.getLogger(__name__)

HEADER_REASON = "x-cx-reason"
HEADER_QUEUE = "x-cx-queue"
HEADER_ATTEMPTS = "x-cx-attempts"
HEADER_COMPRESSION = "x-cx-compression"  # a refused message's ``compression`` header

dead_letter_exchange = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)
feedback_exchange = Exchange(FEEDBACK_EXCHANGE, type="topic", durable=True)

# "Not now" rather than "this message is bad": requeue after a pause, count no attempt.
# A broker that is restarting (a worker's dispatch failed) is "not now" too.
TRANSIENT_ERRORS = (ConnectionFailure, Busy, OperationalError, ConnectionError)


class InvalidMessage(Exception):
    """The message can never be processed; it is dead-lettered with ``reason``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# What every contract message is (contracts/asyncapi.yaml: contentType application/json).
ACCEPTED_CONTENT_TYPE = "application/json"
# "binary" is kombu's label for any bytes body (``producer.publish(json_bytes,
# content_type="application/json")``) and what the ingest router forwards for a body
# without one: the body is then decoded as UTF-8 like the others (parse_feedback),
# and one that is not UTF-8 is dead-lettered there. Any other label (a compression,
# another charset) is refused here, before decoding.
ACCEPTED_ENCODINGS = (None, "", "utf-8", "utf8", "binary")
MAX_CONTEXT_HEADER_CHARS = 4096


def context_from_headers(headers: dict) -> dict:
    """Nameko context data from a message's ``nameko.*`` headers, well-formed values only.

    Nameko's own ``decode_from_headers`` turns every header into context data and
    trusts ``call_id_stack`` to be a list of strings: a publisher that sends a
    number there kills the consuming container (the worker context cannot be
    built). Feedback comes from outside, so only plain, bounded values survive.
    """
    prefix = HEADER_PREFIX + "."
    data: dict[str, str | list[str]] = {}
    for key, value in (headers or {}).items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if name == "call_id_stack":
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                total = sum(len(v) for v in value)
                if total <= MAX_CONTEXT_HEADER_CHARS:
                    data[name] = value
        elif isinstance(value, str) and len(value) <= MAX_CONTEXT_HEADER_CHARS:
            data[name] = value
    return data


def refusal(properties: dict, body, max_body_bytes: int | None, limit_name: str | None = None) -> str | None:
    """Why a raw AMQP message is refused before anything decodes it, or None.

    Checked on the broker's properties and the raw body, so a refused message
    costs no decoding: kombu would inflate a ``compression`` header's body (a
    small message can expand to gigabytes) and JSON-decode any size.
    """
    headers = properties.get("application_headers") or {}
    if "compression" in headers:
        return f"compressed bodies are not accepted (compression {str(headers['compression'])[:40]!r})"
    content_type = properties.get("content_type")
    if not content_type:
        return f"no content type; set the content_type property to {ACCEPTED_CONTENT_TYPE}"
    if content_type != ACCEPTED_CONTENT_TYPE:
        return (
            f"content type {str(content_type)[:80]!r} is not accepted; "
            f"set the content_type property to {ACCEPTED_CONTENT_TYPE}"
        )
    encoding = properties.get("content_encoding")
    if (encoding.lower() if isinstance(encoding, str) else encoding) not in ACCEPTED_ENCODINGS:
        return (
            f"content encoding {str(encoding)[:40]!r} is not accepted; publish an uncompressed "
            "UTF-8 body with content_encoding utf-8, binary or none"
        )
    size = len(body) if body is not None else 0
    if max_body_bytes is not None and size > max_body_bytes:
        limit = f"{limit_name} ({max_body_bytes})" if limit_name else str(max_body_bytes)
        return f"body too large: {size} bytes > {limit}"
    return None


class GuardedKombuConsumer(KombuConsumer):
    """kombu's Consumer with a gate on the raw message (see ``refusal``).

    A refused message goes to ``on_decode_error`` as an InvalidMessage, so it is
    dead-lettered with that reason and its body as published. ``raw_body``
    hands callbacks the undecoded body (the feedback parser decodes it itself,
    without kombu's JSON type markers that would turn ``{"__type__": "decimal"}``
    into a Decimal the store cannot encode). ``check=False`` (the ingest router,
    which forwards bytes and judges nothing) skips the gate; a ``compression``
    header is then passed on untouched, and its body is never inflated here.
    """

    def __init__(
        self,
        *args,
        max_body_bytes: int | Callable[[], tuple[int | None, str]] | None = None,
        raw_body: bool = False,
        check: bool = True,
        **kwargs,
    ):
        self.max_body_bytes = max_body_bytes
        self.raw_body = raw_body
        self.check = check
        super().__init__(*args, **kwargs)

    def _receive_callback(self, raw):
        properties = getattr(raw, "properties", None) or {}
        limit, name = self.max_body_bytes() if callable(self.max_body_bytes) else (self.max_body_bytes, None)
        reason = refusal(properties, getattr(raw, "body", None), limit, name) if self.check else None
        if reason is None and not self.raw_body:
            return super()._receive_callback(raw)
        # kombu would inflate the body while building the message: take the header out first
        compression = (properties.get("application_headers") or {}).pop("compression", None)
        message = self.channel.message_to_python(raw)
        if compression is not None:
            # a dead letter keeps it under a name that no kombu reader acts on
            message.headers[HEADER_COMPRESSION if reason else "compression"] = compression
        if self.accept is not None:
            message.accept = self.accept
        if reason is not None or message.errors:
            self.on_decode_error(message, InvalidMessage(reason or "undecodable message"))
            return None
        return self.receive(message.body, message)


class GuardedConsumerMixin:
    """For Nameko consumer cores: build GuardedKombuConsumers instead of kombu's."""

    def get_consumers(self, consumer_cls, channel):
        return super().get_consumers(partial(GuardedKombuConsumer, channel), channel)


class GuardedConsumerCore(GuardedConsumerMixin, ConsumerCore):
    pass


# AMQP priority of a message with a ``level`` (alerts, cases, notifications): a queue
# declared with ``x-max-priority`` (notify's requests) hands out the most urgent first;
# other queues ignore it. P1 is 5 so that a RabbitMQ 4 quorum queue, which serves
# priorities above 4 first, puts it ahead too.
LEVEL_PRIORITIES = {"P1": 5, "P2": 3, "P3": 2, "P4": 1}
MAX_PRIORITY = max(LEVEL_PRIORITIES.values())


def level_priority(payload) -> int:
    """The AMQP priority of a message: its level's, 0 without one."""
    level = payload.get("level") if isinstance(payload, dict) else None
    return LEVEL_PRIORITIES.get(level, 0) if isinstance(level, str) else 0


def durable_queue_arguments() -> dict:
    """Declaration arguments for every durable queue a service consumes from.

    ``AMQP_QUEUE_TYPE=quorum`` makes them quorum queues, replicated across the
    nodes of a RabbitMQ cluster, so losing one node loses no message and stops
    no consumer (docs/scale.md). A queue's type is fixed when it is first
    declared: switching an existing deployment means draining and deleting
    the classic queues first (RabbitMQ refuses a redeclaration with another type).
    """
    queue_type = settings.get("AMQP_QUEUE_TYPE")
    if queue_type not in ("classic", "quorum"):
        raise ValueError(f"AMQP_QUEUE_TYPE must be classic or quorum, not {queue_type!r}")
    # classic: no argument at all, so queues declared before this setting existed
    # still pass RabbitMQ's equivalence check on redeclaration
    return {"x-queue-type": "quorum"} if queue_type == "quorum" else {}


def retry_delay(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (1, 2, …): RETRY_BACKOFF_BASE × 4^(n−1), capped."""
    base, cap = settings.get("RETRY_BACKOFF_BASE"), settings.get("RETRY_BACKOFF_CAP")
    return min(cap, base * 4 ** (attempt - 1))


def retry_queue(home: str, delay: float) -> Queue:
    """Where a failed message waits ``delay`` before going back to ``home``.

    One queue per (home queue, delay): every message in it has the same TTL, so
    they expire in order at the head (per-message TTLs in one queue would wait
    behind each other). On expiry the broker dead-letters the message through
    the default exchange back to ``home``, with its headers (the attempt count).
    Nothing consumes these queues; no worker sleeps while a message waits.
    """
    ms = max(1, int(delay * 1000))
    arguments = {
        **durable_queue_arguments(),
        "x-message-ttl": ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": home,
    }
    if arguments.get("x-queue-type") == "quorum":
        # quorum queues dead-letter at most once unless told otherwise
        arguments.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
    return Queue(f"{home}.retry.{ms}ms", durable=True, queue_arguments=arguments)


def dead_letter_queue(queue_name: str) -> Queue:
    return Queue(
        f"{queue_name}.dlq",
        exchange=dead_letter_exchange,
        routing_key=queue_name,
        durable=True,
        queue_arguments=durable_queue_arguments(),
    )


def home_queue(message, default: str) -> str:
    """The queue a message was consumed from (a partition queue, or ``default``)."""
    return (message.delivery_info or {}).get("cx_queue", default)


class ReliableConsumerMixin:
    """Ack/requeue/retry/dead-letter policy shared by the entrypoints below.

    Subclasses implement ``parse(body, message)`` returning the worker's args
    or raising InvalidMessage.
    """

    # provided by the nameko entrypoint this is mixed into
    queue: Queue
    container: Any
    consumer: Any
    consumer_cls = GuardedConsumerCore
    # The setting that bounds this consumer's message size (refused before decoding).
    max_bytes_setting = "EVENT_MAX_BYTES"
    raw_body = False  # True: parse() gets the undecoded body

    @property
    def amqp_uri(self) -> str:
        return settings.get(AMQP_URI_CONFIG_KEY)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.consumer_options["on_decode_error"] = self._on_decode_error
        self.consumer_options["max_body_bytes"] = self.body_limit
        self.consumer_options["raw_body"] = self.raw_body

    def _declare_dead_letter_queue(self) -> None:
        with get_connection(self.amqp_uri) as conn:
            maybe_declare(dead_letter_exchange, conn.channel())
            maybe_declare(dead_letter_queue(self.queue.name), conn.channel())

    def parse(self, body, message) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def body_limit(self) -> tuple[int | None, str]:
        """(the byte limit, the setting that sets it), read per message so a changed
        setting applies without a restart."""
        return settings.get(self.max_bytes_setting) or None, self.max_bytes_setting

    # refused at the gate (content type, size, compression), or kombu could not decode the body
    def _on_decode_error(self, message, exc) -> None:
        if isinstance(exc, InvalidMessage):
            self._reject_soon(message, exc.reason)
        else:
            self._reject_soon(message, f"undecodable body ({message.content_type}): {exc}")

    def _reject_soon(self, message, reason: str) -> None:
        """Dead-letter off the AMQP thread, so a flood of bad messages is settled as
        concurrently as good ones (the prefetch count bounds how many at once)
        instead of one confirmed publish and one insert at a time."""

        def reject():
            try:
                self._reject(message, reason)
            except (OperationalError, ConnectionError) as exc:
                # still unacked: the broker redelivers it and it is judged again
                log.warning("could not dead-letter a message from %s (%s)", self.queue.name, exc)

        self.container.spawn_managed_thread(reject, identifier="dead-letter")

    def handle_message(self, body, message):
        try:
            args = self.parse(body, message)
        except InvalidMessage as exc:
            self._reject_soon(message, exc.reason)
            return
        context_data = context_from_headers(message.headers or {})
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
        try:
            self._settle(message, exc_info)
        except (OperationalError, ConnectionError) as exc:
            # The broker went away while we acked or republished: the message is still
            # unacked, so the broker redelivers it; an error here must not kill the container.
            log.warning("could not settle a message from %s (%s); redelivered later", self.queue.name, exc)

    def _settle(self, message, exc_info) -> None:
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
        delay = retry_delay(attempts)
        log.warning(
            "attempt %d on %s failed (%s); retrying in %.1fs", attempts, self.queue.name, error, delay
        )
        headers = dict(message.headers or {}, **{HEADER_ATTEMPTS: attempts})
        wait = retry_queue(home_queue(message, self.queue.name), delay)
        # Published (confirmed) to the delay queue before the ack: never lost in between.
        self._republish(message, exchange="", routing_key=wait.name, headers=headers, declare=[wait])
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

    def _republish(self, message, exchange: str, routing_key: str, headers: dict, declare=()) -> None:
        with get_producer(self.amqp_uri) as producer:
            for entity in declare:
                maybe_declare(entity, producer.channel)
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


class ContractEventHandler(ReliableConsumerMixin, EventHandler):
    """A Nameko event handler that validates the payload against its contract.

    The decorated method receives the loaded message (datetimes parsed).
    """

    def setup(self):
        super().setup()
        # Nameko builds the queue inside setup(); the consumer declares it only
        # when it starts, so the arguments set here still apply.
        self.queue.queue_arguments = durable_queue_arguments()
        self._declare_dead_letter_queue()

    def parse(self, body, message) -> tuple:
        spec = MESSAGES.get(self.event_type)
        if spec is None:
            raise InvalidMessage(f"no contract for event type {self.event_type!r}")
        if not isinstance(body, dict):
            raise InvalidMessage("the message body must be a JSON object")
        try:
            return (message_loader(self.event_type)(body),)
        except ValidationError as exc:
            raise InvalidMessage("schema: " + "; ".join(flatten_errors(exc.messages))) from None


class ContractViolation(ValueError):
    """A service tried to dispatch a message that breaks its own contract."""


def serialize(event_type: str, payload: dict) -> dict:
    """``payload`` in its JSON-ready form (the schema's dump, compiled: contracts/dumping.py),
    checked against the contract's published JSON Schema (contracts/published.py; every
    consumer still loads it with the full schema, contracts/loading.py)."""
    version = MESSAGES[event_type].schema.SCHEMA_VERSION
    data = message_dumper(event_type)({"schema_version": version, **payload})
    try:
        check_published(event_type, data)
    except Breach as exc:
        raise ContractViolation(f"{event_type}: {exc}") from None
    return data


class ConfirmedBatchPublisher:
    """Publishes a list of messages on one channel and waits for the broker's confirms
    once for the list (nameko's publisher waits once per message).

    Each pooled link is a connection this publisher alone uses, so it knows the
    channel's publish sequence numbers, which the broker's (possibly multiple)
    acks refer to. A link that failed in any way is closed, never reused.
    """

    def __init__(self, amqp_uri: str, confirm_timeout: float = 30.0):
        self.amqp_uri = amqp_uri
        self.confirm_timeout = confirm_timeout
        self.idle: list[_Link] = []

    def close(self) -> None:
        idle, self.idle = self.idle, []
        for link in idle:
            link.close()

    def publish_all(self, messages: list[tuple[Exchange, str, dict, dict]]) -> None:
        """``messages``: (exchange, routing key, JSON body, headers) each, published with
        the body's level priority; returns once the broker confirmed every one; raises
        OperationalError otherwise."""
        if not messages:
            return
        link = self.idle.pop() if self.idle else _Link(self.amqp_uri)
        try:
            link.publish_confirmed(messages, self.confirm_timeout)
        except BaseException as exc:
            link.close()
            if isinstance(exc, (OperationalError, eventlet.Timeout, GreenletExit)):
                raise
            if isinstance(exc, Exception):
                raise OperationalError(f"publishing {len(messages)} message(s) failed: {exc}") from exc
            raise
        self.idle.append(link)


@contextmanager
def one_write(connection: Connection):
    """The frames written on ``connection`` inside the block go to the socket in one
    ``sendall`` when it ends (nothing is sent if it raises). On loopback each send
    runs the receiving side's TCP work in the sender's system call: py-spy put a fifth
    of the cases service's CPU in the per-message sends of its batch's publishes.

    Only for a connection nothing else writes on meanwhile (a ``_Link`` is used by one
    batch at a time and has no heartbeat) and only around asynchronous methods (a
    publish without confirm wait): a method waiting for its answer inside would wait
    for ever. py-amqp hands its shared frame buffer to the write as a live view, so
    each frame is copied."""
    transport = connection.connection.transport
    send = transport._write  # the socket's sendall, looked up per write by py-amqp
    frames: list[bytes] = []
    transport._write = lambda data: frames.append(bytes(data))
    try:
        yield
    finally:
        transport._write = send
    if frames:
        transport.write(b"".join(frames))


class _Link:
    """One connection and channel of a ConfirmedBatchPublisher, in confirm mode."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": False})
        self.channel: Any = None
        self.sequence = 0  # publishes on the channel since confirm.select
        self.declared: set[str] = set()

    def close(self) -> None:
        try:
            self.connection.release()
        except Exception:  # already broken: nothing to release
            pass

    def publish_confirmed(self, messages, timeout: float) -> None:
        if self.channel is None:
            self.connection.ensure_connection(max_retries=1)
            self.channel = self.connection.channel()
            self.channel.confirm_select()
        channel = self.channel
        first = self.sequence + 1
        acked: set[int] = set()
        state = {"upto": 0, "nacked": False}

        def on_ack(tag, multiple):
            if multiple:
                state["upto"] = max(state["upto"], tag)
            else:
                acked.add(tag)

        def on_nack(tag, multiple):
            state["nacked"] = True
            on_ack(tag, multiple)

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        try:
            producer = Producer(channel)
            for exchange, _key, _body, _headers in messages:  # declares wait for an answer: first
                if exchange.name not in self.declared:
                    exchange(channel).declare()
                    self.declared.add(exchange.name)
            with one_write(self.connection):
                for exchange, routing_key, body, headers in messages:
                    producer.publish(
                        body,
                        exchange=exchange.name,
                        routing_key=routing_key,
                        headers=headers,
                        serializer="json",
                        delivery_mode=2,
                        priority=level_priority(body),
                    )
                    self.sequence += 1
            last = self.sequence
            deadline = time.monotonic() + timeout

            def pending() -> bool:
                return any(tag > state["upto"] and tag not in acked for tag in range(first, last + 1))

            while pending():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OperationalError(f"no publisher confirm within {timeout:g}s")
                try:
                    self.connection.drain_events(timeout=remaining)
                except TimeoutError:
                    continue
            if state["nacked"]:
                raise OperationalError("the broker refused (nack) a published message")
        finally:
            channel.events["basic_ack"].discard(on_ack)
            channel.events["basic_nack"].discard(on_nack)


class ContractDispatcher(EventDispatcher):
    """EventDispatcher that checks each message against ``contracts.messages``.

    Publishes with confirms (Nameko's default) on ``<service>.events``. A worker of
    a batch entrypoint (services/common/batching.py) has its dispatches buffered
    and published together by ``flush``, with one wait for the broker's confirms,
    before its batch is acked; any other worker publishes each at once.
    """

    def setup(self):
        # Nameko 3.0.0rc11 reads AMQP_URI when the class body is executed, i.e.
        # at import; read it again now so config given later (tests) applies.
        self.amqp_uri = settings.get(AMQP_URI_CONFIG_KEY)
        super().setup()
        self.buffers: dict = {}
        self.batch_publisher = ConfirmedBatchPublisher(self.amqp_uri)

    def stop(self):
        self.batch_publisher.close()
        super().stop()

    def kill(self):
        self.batch_publisher.close()
        super().kill()

    def get_dependency(self, worker_ctx):
        def publish(event_type: str, data: dict) -> None:  # nameko's dispatch, with the priority
            self.publisher.publish(
                data,
                exchange=self.exchange,
                routing_key=event_type,
                extra_headers=encode_to_headers(worker_ctx.context_data),
                priority=level_priority(data),
            )

        service = self.container.service_name
        batched = getattr(worker_ctx.entrypoint, "batched", False)
        buffer = self.buffers.setdefault(worker_ctx, []) if batched else None

        def dispatch(event_type: str, payload: dict) -> None:
            spec = MESSAGES[event_type]
            if spec.producer != service:
                raise ContractViolation(f"{event_type} is produced by {spec.producer}, not {service}")
            data = serialize(event_type, payload)
            if buffer is None:
                publish(event_type, data)
            else:
                buffer.append((event_type, data))

        # a batch handler publishes what it buffered before it marks its inbox keys done
        dispatch.flush = partial(self.flush, worker_ctx)
        return dispatch

    def flush(self, worker_ctx) -> None:
        """Publish a batch worker's buffered dispatches, confirmed once."""
        buffered = self.buffers.get(worker_ctx)
        if not buffered:
            return
        headers = encode_to_headers(worker_ctx.context_data)
        self.batch_publisher.publish_all([(self.exchange, kind, data, headers) for kind, data in buffered])
        buffered.clear()

    def worker_teardown(self, worker_ctx):
        self.buffers.pop(worker_ctx, None)  # a failed batch's dispatches are dropped
        super().worker_teardown(worker_ctx)


contract_event_handler = ContractEventHandler.decorator
