"""Configuration change signals between the replicas of one service (``cx.config``).

Each replica caches its configuration (``ConfigCache`` in services/common/mongo.py:
directories, policies, the rule index). A write through the store bumps the
cache's revision counter and then publishes a small signal, confirmed by the
broker, on the topic exchange ``cx.config`` with the service's name as routing
key. Every replica of the service consumes its own exclusive, auto-delete queue
bound to that key and marks the named cache stale, so its next lookup reads the
revision (and reloads) once per change instead of once per message.

Signals are best-effort; the caches stay correct without them:

* a replica that missed one (the broker restarted, its connection was cut) reads
  the revision at most every ``CONFIG_MAX_STALENESS_SECONDS`` anyway;
* after each (re)connection of its consumer it marks its caches stale once, since
  a signal may have gone by while it was away;
* a signal that cannot be published is logged and the write still succeeds.

The signal concerns one service's replicas only (no other service reads it and no
contract describes it), so it is published and consumed with kombu directly rather
than through the ContractDispatcher.

A cache that other services' replicas hold as well (the lexicon overlay,
services/common/lexicon.py) names its own routing key (``ConfigCache.signal_key``):
its change is published on that key, and every service holding such a cache binds
its queue to it too. Besides the MongoStore's caches, any dependency provider with a
``config_caches()`` method takes part.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from kombu import Exchange, Queue, binding
from kombu.exceptions import OperationalError
from nameko import config as nameko_config
from nameko.amqp.consume import Consumer as ConsumerCore
from nameko.constants import AMQP_URI_CONFIG_KEY, DEFAULT_HEARTBEAT, HEARTBEAT_CONFIG_KEY
from nameko.extensions import DependencyProvider

from services.common import settings
from services.common.messaging import ConfirmedBatchPublisher
from services.common.mongo import ConfigCache, MongoStore

log = logging.getLogger(__name__)

CONFIG_EXCHANGE = Exchange("cx.config", type="topic", durable=True)
# A config write waits at most this long for the broker to confirm its signal.
CONFIRM_TIMEOUT = 5.0
# How long a starting container waits for its signal queue to be bound.
READY_TIMEOUT = 10.0


class SignalConsumer(ConsumerCore):
    """nameko's consumer core (kombu reconnects it) telling ``on_ready`` about every
    (re)connection, once its queue is declared and bound."""

    def __init__(self, *args, on_ready, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_ready = on_ready
        self.live_connection = None  # the kombu connection in use (tests, diagnostics)

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.live_connection = connection
        self.on_ready()
        super().on_consume_ready(connection, channel, consumers, **kwargs)


def caches_of(store) -> list[ConfigCache]:
    """The configuration caches a store holds: its own, and those of the aggregate
    stores it is composed of (one level down: ``CaseStore.policies``, ``AlertStore.rules``)."""
    found: list[ConfigCache] = []
    for value in vars(store).values():
        if isinstance(value, ConfigCache):
            found.append(value)
        elif hasattr(value, "__dict__"):
            found += [part for part in vars(value).values() if isinstance(part, ConfigCache)]
    return found


class ConfigSignal(DependencyProvider):
    """Tells the service's other replicas when this one changed its configuration, and
    marks this replica's caches stale when they did (see the module docstring).

    ``store`` names the service's MongoStore attribute; every ConfigCache attribute
    of that store takes part, named by its revision collection. Nothing is injected
    (the attribute is None in a worker): the store's caches are its interface.
    """

    def __init__(self, store: str = "store"):
        self.store_attr = store
        self.caches: dict[str, ConfigCache] = {}
        self.connections = 0  # (re)connections of the consumer
        self.received = 0  # signals from other replicas

    def setup(self) -> None:
        self.amqp_uri = settings.get(AMQP_URI_CONFIG_KEY)
        self.origin = uuid.uuid4().hex  # this replica, so it can skip its own signals
        self.publisher = ConfirmedBatchPublisher(self.amqp_uri, confirm_timeout=CONFIRM_TIMEOUT)

    def start(self) -> None:
        # every provider's setup ran before any start: the stores exist now
        service = self.container.service_name
        self.caches = self._caches()
        keys = [service] + sorted({c.signal_key for c in self.caches.values() if c.signal_key} - {service})
        self.queue = Queue(
            f"cx.config.{service}.{self.origin}",
            bindings=[binding(CONFIG_EXCHANGE, routing_key=key) for key in keys],
            durable=False,
            exclusive=True,
            auto_delete=True,
        )
        self.consumer = SignalConsumer(
            self.amqp_uri,
            queues=[self.queue],
            callbacks=[self.on_signal],
            on_ready=self.on_connected,
            heartbeat=nameko_config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT),
            prefetch_count=20,
            accept=["json"],
            on_decode_error=self.on_undecodable,
        )
        for cache in self.caches.values():
            cache.announce = partial(self.announce, cache.name)
        self.container.spawn_managed_thread(self.consumer.run, identifier="config-signal")
        if not self.consumer.ready.wait(READY_TIMEOUT):
            log.warning("no change signals yet from %s; caches fall back to re-reading", self.queue.name)

    def stop(self) -> None:
        if hasattr(self, "consumer"):
            self.consumer.stop()
        self.publisher.close()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> None:
        return None

    def _caches(self) -> dict[str, ConfigCache]:
        found: list[ConfigCache] = []
        stores = 0
        for provider in self.container.dependencies:
            if provider.attr_name == self.store_attr and isinstance(provider, MongoStore):
                found += caches_of(provider.store)
                stores += 1
            elif callable(getattr(provider, "config_caches", None)):
                found += provider.config_caches()
        if not stores:
            # replaced in a test (nameko's replace_dependencies), or a service whose
            # store is not a MongoStore: only the providers' caches are kept fresh
            log.info(
                "ConfigSignal: no MongoStore named %r; signalling the providers' caches", self.store_attr
            )
        return {cache.name: cache for cache in found}

    # -- publishing ------------------------------------------------------------------

    def announce(self, name: str) -> None:
        """Broadcast that cache ``name`` changed (after the write); a broker failure is
        logged, not raised: the other replicas see the change within the staleness bound."""
        body = {"cache": name, "origin": self.origin}
        cache = self.caches.get(name)
        key = (cache.signal_key if cache is not None else None) or self.container.service_name
        try:
            self.publisher.publish_all([(CONFIG_EXCHANGE, key, body, {})])
        except OperationalError as exc:
            log.warning(
                "could not signal the %s change to the other %s replicas (%s); they see it within "
                "CONFIG_MAX_STALENESS_SECONDS",
                name,
                self.container.service_name,
                exc,
            )

    # -- consuming -------------------------------------------------------------------

    def on_connected(self) -> None:
        self.connections += 1
        if self.connections > 1:
            log.info("change signals reconnected on %s; configuration re-read once", self.queue.name)
        for cache in self.caches.values():
            cache.invalidate()  # a signal may have gone by while disconnected

    def on_signal(self, body, message) -> None:
        message.ack()
        if isinstance(body, dict) and body.get("origin") == self.origin:
            return  # this replica's own change: its bump invalidated the cache already
        self.received += 1
        name = body.get("cache") if isinstance(body, dict) else None
        # a signal naming no cache we know (another version's?) marks them all stale
        for cache in [self.caches[name]] if name in self.caches else self.caches.values():
            cache.invalidate()

    def on_undecodable(self, message, exc) -> None:
        message.ack()
        log.warning("undecodable change signal on %s (%s); configuration re-read once", self.queue.name, exc)
        for cache in self.caches.values():
            cache.invalidate()
