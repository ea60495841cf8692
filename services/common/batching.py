"""Batch consumption: one worker handles many messages, one store round trip per
collection and one publisher confirm for the lot.

A batch entrypoint (``feedback_batch_consumer``, ``contract_batch_handler``) hands
its method a list of parsed messages instead of one. What it keeps from the
per-message entrypoints (services/common/messaging.py) and what it changes:

* **Grouping.** Messages the broker has delivered (up to the prefetch window) wait
  in ``Batcher.pending``; a batch takes up to ``BATCH_SIZE`` of them in delivery
  order. At most ``BATCH_CONCURRENCY`` batches of one entrypoint run at once, so
  under load the next batch fills while one runs (waiting up to ``BATCH_WAIT_MS``
  for company while another batch runs), and an idle system runs each message at
  once, as a batch of one, with no wait.
* **Order per key.** Each message has a key (the customer; a message about several
  customers, ``alerts_taken_in``, has each of theirs). A key in a running
  batch is held: its later messages wait for the next batch, so one customer's
  messages are handled one batch after another, in delivery order, within and
  across batches (partition lanes need nothing more). The held keys are shared by
  the batch entrypoints of one container (``KeysInFlight``): a customer's messages
  of different kinds (feedback, alert, case) do not run at once in one replica.
* **Settling.** The batch's dispatches are published together after the method
  returns and confirmed once (``ContractDispatcher``), then every message is acked.
  A store outage (a transient error) runs the same batch again after
  ``STORE_RETRY_DELAY``, counting no attempt and keeping its place. Any other
  failure splits the batch in halves and runs each (first half first), down to
  the one message that fails, which alone takes the per-message path: retried
  after a growing delay, dead-lettered with its reason after
  ``MAX_DELIVERY_ATTEMPTS``. Handlers must therefore be idempotent per message
  (the batch inbox, ``Inbox.claim_many``), as the per-message handlers are.
* **Busy.** A message another worker holds the lease of is settled later: the
  handler returns ``Outcome(later=...)`` and those messages are requeued after a
  pause while the rest are acked.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass
from functools import wraps
from typing import Any

import eventlet
import eventlet.event
from nameko.exceptions import ContainerBeingKilled

from services.common import settings
from services.common.feedback import FeedbackConsumer
from services.common.messaging import (
    TRANSIENT_ERRORS,
    ContractDispatcher,
    ContractEventHandler,
    InvalidMessage,
    context_from_headers,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a batch handler may return (None means: all handled).

    ``later``: positions of its batch not handled now (another worker holds them);
    they are requeued after a pause while the rest are acked."""

    later: frozenset[int] = frozenset()


@dataclass
class Item:
    key: str | tuple[str, ...]  # a message about several customers holds them all
    value: Any
    message: Any

    @property
    def keys(self) -> tuple[str, ...]:
        return self.key if isinstance(self.key, tuple) else (self.key,)


def batch_settings() -> tuple[int, float, int]:
    """(BATCH_SIZE, BATCH_WAIT_MS in seconds, BATCH_CONCURRENCY), validated."""
    size, wait_ms, concurrency = (
        settings.get("BATCH_SIZE"),
        settings.get("BATCH_WAIT_MS"),
        settings.get("BATCH_CONCURRENCY"),
    )
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"BATCH_SIZE must be a positive integer, not {size!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"BATCH_CONCURRENCY must be a positive integer, not {concurrency!r}")
    if not isinstance(wait_ms, (int, float)) or isinstance(wait_ms, bool) or wait_ms < 0:
        raise ValueError(f"BATCH_WAIT_MS must be a number ≥ 0, not {wait_ms!r}")
    return size, wait_ms / 1000.0, concurrency


class KeysInFlight:
    """The keys (customers) of the batches running in one service container, across
    its batch entrypoints: a customer's feedback, alert and case messages then never
    run at once in one replica (they write the same profile), and one entrypoint's
    batch ending wakes the others, whose next batch it may have held back."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.batchers: list[Batcher] = []

    def take(self, keys) -> None:
        self.counts.update(keys)

    def release(self, keys) -> None:
        for key in keys:
            self.counts[key] -= 1
            if self.counts[key] <= 0:
                del self.counts[key]
        for batcher in self.batchers:
            batcher._wake()


def keys_in_flight(container) -> KeysInFlight:
    """The container's KeysInFlight (made on first use); a private one without a container."""
    if container is None:
        return KeysInFlight()
    shared = getattr(container, "_cx_keys_in_flight", None)
    if shared is None:
        shared = KeysInFlight()
        container._cx_keys_in_flight = shared
    return shared


class Batcher:
    """Groups one entrypoint's messages into batches and drives each to its settlement."""

    def __init__(self, entrypoint, size: int, wait: float, concurrency: int, linger: float = 0.0):
        self.entrypoint = entrypoint
        self.size = size
        self.wait = wait
        self.concurrency = concurrency
        self.linger = linger  # seconds an idle entrypoint lets a batch gather (0: none)
        self.pending: list[Item] = []
        self.keys = keys_in_flight(getattr(entrypoint, "container", None))
        self.keys.batchers.append(self)
        self.running = 0
        self.stopping = False
        self.wakeup = eventlet.event.Event()
        self.batches = 0  # batches run (tests and logs)

    @property
    def in_flight(self) -> Counter[str]:
        """The keys in running batches of this container's batch entrypoints."""
        return self.keys.counts

    # -- feeding -------------------------------------------------------------------

    def put(self, key: str | tuple[str, ...], value, message) -> None:
        if self.stopping:
            self.entrypoint.consumer.requeue_message(message)
            return
        self.pending.append(Item(key, value, message))
        self._wake()

    def _wake(self) -> None:
        if not self.wakeup.ready():
            self.wakeup.send()

    def start(self) -> None:
        self.entrypoint.container.spawn_managed_thread(self._run, identifier="batcher")

    def stop(self) -> None:
        """Stop taking batches; what waits unbatched goes back to the broker."""
        self.stopping = True
        waiting, self.pending = self.pending, []
        for item in waiting:
            self.entrypoint.consumer.requeue_message(item.message)
        self._wake()

    # -- grouping ------------------------------------------------------------------

    def take(self) -> list[Item]:
        """Up to ``size`` pending items in delivery order, none whose key is in a running
        batch; an item left behind holds back its key's later items (order per key)."""
        taken: list[Item] = []
        rest: list[Item] = []
        held: set[str] = set(self.in_flight)
        for item in self.pending:
            if len(taken) < self.size and held.isdisjoint(item.keys):
                taken.append(item)
            else:
                held.update(item.keys)
                rest.append(item)
        self.pending = rest
        return taken

    def _run(self) -> None:
        while not self.stopping:
            self.wakeup.wait()
            self.wakeup = eventlet.event.Event()
            while not self.stopping and self.running < self.concurrency and self.pending:
                pause = self.wait if self.running else self.linger
                if pause and len(self.pending) < self.size:
                    # busy: let what the broker already sent arrive to fill this batch;
                    # idle (no batch running), a message runs at once, unless the
                    # entrypoint lingers (work off the alert path: profiles)
                    eventlet.sleep(pause)
                    if self.stopping:
                        return
                batch = self.take()
                if not batch:
                    break  # every pending key is in a running batch: its end wakes us
                self.running += 1
                self.keys.take(key for item in batch for key in item.keys)
                self.batches += 1
                self.entrypoint.container.spawn_managed_thread(
                    lambda batch=batch: self._drive(batch), identifier="batch"
                )

    # -- settling ------------------------------------------------------------------

    def _drive(self, batch: list[Item]) -> None:
        try:
            self._attempt(batch)
        except Exception:  # never leave a key held: the messages stay unacked and come back
            log.exception("a batch of %d from %s could not be settled", len(batch), self._queue_name())
        finally:
            self.running -= 1
            # wakes this batcher and its siblings
            self.keys.release(key for item in batch for key in item.keys)

    def _queue_name(self) -> str:
        queue = getattr(self.entrypoint, "queue", None)
        return getattr(queue, "name", "?")

    def _attempt(self, items: list[Item]) -> None:
        consumer = self.entrypoint.consumer
        while True:
            result, exc_info = self._run_worker(items)
            if exc_info is None:
                later = result.later if isinstance(result, Outcome) else frozenset()
                for index, item in enumerate(items):
                    if index not in later:
                        consumer.ack_message(item.message)
                if later:
                    self._requeue_later([items[i] for i in sorted(later)])
                return
            exc = exc_info[1]
            if isinstance(exc, ContainerBeingKilled):
                for item in items:
                    consumer.requeue_message(item.message)
                return
            if isinstance(exc, TRANSIENT_ERRORS):
                log.warning(
                    "not now (%s); running a batch of %d again on %s", exc, len(items), self._queue_name()
                )
                eventlet.sleep(settings.get("STORE_RETRY_DELAY"))
                if self.stopping:
                    for item in items:
                        consumer.requeue_message(item.message)
                    return
                continue
            if len(items) == 1:
                # one message: the per-message policy (dead letter if invalid, else retry later)
                self.entrypoint.handle_message_processed(items[0].message, None, exc_info)
                return
            middle = len(items) // 2
            log.warning(
                "a batch of %d failed on %s (%s: %s); splitting it",
                len(items),
                self._queue_name(),
                type(exc).__name__,
                exc,
            )
            self._attempt(items[:middle])
            self._attempt(items[middle:])
            return

    def _requeue_later(self, items: list[Item]) -> None:
        def later():
            eventlet.sleep(settings.get("STORE_RETRY_DELAY"))
            for item in items:
                self.entrypoint.consumer.requeue_message(item.message)

        self.entrypoint.container.spawn_managed_thread(later, identifier="batch-later")

    def _run_worker(self, items: list[Item]):
        """Run the entrypoint's method on ``items``; (result, exc_info) once it returned
        and its dispatches were published and confirmed."""
        finished = eventlet.event.Event()

        def handle_result(worker_ctx, result=None, exc_info=None):
            if exc_info is None:
                try:
                    flush_dispatches(self.entrypoint.container, worker_ctx)
                except Exception:
                    exc_info = sys.exc_info()
            finished.send((result, exc_info))
            return result, exc_info

        context = context_from_headers(items[0].message.headers or {})
        try:
            self.entrypoint.container.spawn_worker(
                self.entrypoint,
                ([item.value for item in items],),
                {},
                context_data=context,
                handle_result=handle_result,
            )
        except ContainerBeingKilled:
            return None, (ContainerBeingKilled, ContainerBeingKilled(), None)
        return finished.wait()


def flush_dispatches(container, worker_ctx) -> None:
    """Publish what a batch worker dispatched (ContractDispatcher buffers it for batch
    entrypoints), confirmed once; a broker failure raises OperationalError
    (``ConfirmedBatchPublisher``), which is "not now" for the batch."""
    for dependency in container.dependencies:
        if isinstance(dependency, ContractDispatcher):
            dependency.flush(worker_ctx)


class BatchingMixin:
    """Makes a ReliableConsumerMixin entrypoint hand its method lists of messages."""

    batched = True
    batcher_class = Batcher  # a subclass may order what waits (services/notify/priority.py)

    def __init__(self, *args, linger_setting: str | None = None, **kwargs):
        """``linger_setting``: the setting (milliseconds) an idle entrypoint waits for
        company before it runs a batch; for work nobody waits on, so that it batches
        and stays out of the way of the alert path (none: a message runs at once)."""
        self.linger_setting = linger_setting
        super().__init__(*args, **kwargs)

    def setup(self):
        size, wait, concurrency = batch_settings()
        linger = 0.0
        if self.linger_setting is not None:
            linger_ms = settings.get(self.linger_setting)
            if not isinstance(linger_ms, (int, float)) or isinstance(linger_ms, bool) or linger_ms < 0:
                raise ValueError(f"{self.linger_setting} must be a number ≥ 0, not {linger_ms!r}")
            linger = linger_ms / 1000.0
        # the broker sends enough for the next batch to fill while the running ones work
        self.consumer_options.setdefault("prefetch_count", size * (concurrency + 1))
        super().setup()
        self.batcher = self.batcher_class(self, size, wait, concurrency, linger)

    def start(self):
        self.batcher.start()
        super().start()

    def stop(self):
        super().stop()
        self.batcher.stop()

    def batch_key(self, value, message) -> str | tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def handle_message(self, body, message):
        try:
            (value,) = self.parse(body, message)
        except InvalidMessage as exc:
            self._reject_soon(message, exc.reason)
            return
        self.batcher.put(self.batch_key(value, message), value, message)


class FeedbackBatchConsumer(BatchingMixin, FeedbackConsumer):
    """``FeedbackConsumer`` whose method receives a list of events; keyed by customer."""

    def batch_key(self, value, message) -> str:
        return "c:" + str(value["customer"]["id"])


class ContractBatchHandler(BatchingMixin, ContractEventHandler):
    """``ContractEventHandler`` whose method receives a list of messages; keyed by the
    customer the message is about (``customer.id`` or ``customer_id``), by each of its
    alerts' customers (``alerts_taken_in``), else unkeyed."""

    def batch_key(self, value, message) -> str | tuple[str, ...]:
        alerts = value.get("alerts")
        if isinstance(alerts, list) and alerts:
            return tuple(dict.fromkeys("c:" + str(a["customer"]["id"]) for a in alerts))
        customer = value.get("customer")
        if isinstance(customer, dict) and customer.get("id") is not None:
            return "c:" + str(customer["id"])
        if value.get("customer_id") is not None:
            return "c:" + str(value["customer_id"])
        return f"m:{id(message)}"


feedback_batch_consumer = FeedbackBatchConsumer.decorator
contract_batch_handler = ContractBatchHandler.decorator


def handled_once_each(inbox: str = "inbox", dispatcher: str = "dispatch"):
    """Run a batch handler (it receives a list of messages) at most once per message key: the
    batch's keys are claimed at once and the handler gets the fresh messages only.
    Its dispatches (buffered by the ``dispatcher`` attribute, a ContractDispatcher)
    are published and confirmed before the keys are marked done, so a key is never
    done with its announcements unsent; messages another worker holds are answered
    ``Outcome(later=...)`` (requeued after a pause)::

        @feedback_batch_consumer()
        @handled_once_each("feedback_inbox")
        def handle_feedback(self, events): ...
    """

    def decorate(handler):
        @wraps(handler)
        def wrapper(self, messages: list[dict]):
            box = getattr(self.store, inbox)
            claim = box.claim_many(messages)
            fresh = [messages[i] for i in claim.fresh]
            if fresh:
                try:
                    handler(self, fresh)
                    flush = getattr(getattr(self, dispatcher, None), "flush", None)
                    if flush is not None:
                        flush()
                except BaseException:
                    box.release_many(fresh)
                    raise
                box.done_many(fresh)
            return Outcome(later=frozenset(claim.busy)) if claim.busy else None

        return wrapper

    return decorate
