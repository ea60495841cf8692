"""Configuration change signals between replicas (services/common/config_signal.py) on
the real broker and store: two replicas of a service in one test, a change made
through one of them, and the revision reads each replica makes, counted by a pymongo
CommandListener (every ``find`` on ``config_meta`` / ``rules_meta``) and by the cache.

No message pays a revision read: a replica reads it once per change (on the other
replica's signal), at most every CONFIG_MAX_STALENESS_SECONDS when a signal was lost,
and once after its broker connection came back.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest
from kombu import Connection
from nameko import config
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook
from pymongo import monitoring

from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.config_signal import CONFIG_EXCHANGE, ConfigSignal
from services.common.messaging import serialize
from services.common.mongo import MongoStore, database_name
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from services.profiles.service import ProfilesService
from tests.conftest import wait_until

META = ("config_meta", "rules_meta", "lexicon_meta")


class MetaReads(monitoring.CommandListener):
    """Counts revision reads per database: what each service's replicas sent the store."""

    def __init__(self):
        self.by_db: Counter[str] = Counter()

    def started(self, event):
        if event.command_name == "find" and event.command.get("find") in META:
            self.by_db[event.database_name] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


READS = MetaReads()
monitoring.register(READS)  # applies to the clients the containers create in each test


def provider(container, cls):
    return next(d for d in container.dependencies if isinstance(d, cls))


def cache_of(container):
    [cache] = provider(container, ConfigSignal).caches.values()
    return cache


def reads(service: str) -> int:
    return READS.by_db[database_name(service)]


def person(language: str) -> dict:
    return {"people": [{"id": "li.na", "name": "李娜", "email": "li.na@example.com", "language": language}]}


def request(n: int) -> dict:
    """A notification_requested as the cases service publishes it."""
    return serialize(
        "notification_requested",
        {
            "notification_id": f"cfg-{n}",
            "requested_at": datetime.now(UTC),
            "kind": "case_assigned",
            "recipient": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "level": "P3",
            "case_id": f"CASE-{n}",
            "context": {
                "case_id": f"CASE-{n}",
                "case_url": f"http://c/cases/CASE-{n}",
                "title": "t",
                "level": "P3",
            },
        },
    )


def language_on(container) -> str:
    """The language the replica's own pipeline picks for li.na (its cached directory)."""
    with entrypoint_hook(container, "simulate") as simulate:
        entries = simulate(request(0))
    return entries[0]["language"] if entries else None


def apply_on(container, document: dict) -> None:
    with entrypoint_hook(container, "apply_recipients") as apply:
        apply(document)


def send_requests(store: NotifyStore, first: int, count: int) -> None:
    dispatch = event_dispatcher()
    for n in range(first, first + count):
        dispatch("cases", "notification_requested", request(n))
    ids = [f"cfg-{n}" for n in range(first, first + count)]
    wait_until(
        lambda: store.db.deliveries.count_documents({"notification_id": {"$in": ids}, "status": "delivered"})
        == count,
        timeout=60,
        message=f"{count} notifications delivered",
    )


@pytest.fixture
def replicas(cx_config, container_factory):
    """Two notify replicas, A and B (both consume the same queues)."""

    def start(staleness: float):
        with config.patch({"CONFIG_MAX_STALENESS_SECONDS": staleness}):
            pair = [container_factory(NotifyService) for _ in range(2)]
            for container in pair:
                container.start()
        return pair

    return start


@pytest.fixture
def notify_store(cx_config, mongo_client):
    return NotifyStore(mongo_client[database_name("notify")])


def seen_within(container, language: str, timeout: float) -> float:
    """Seconds until the replica's pipeline uses ``language``; fails after ``timeout``."""
    start = time.monotonic()
    wait_until(lambda: language_on(container) == language, timeout=timeout, interval=0.05, message=language)
    return time.monotonic() - start


def delete_signal_exchange(uri: str) -> None:
    """The broadcast is lost: no binding routes the next signal anywhere."""
    with Connection(uri) as conn:
        CONFIG_EXCHANGE(conn.default_channel).delete()


def test_a_change_on_one_replica_reaches_the_other_by_signal_and_no_message_reads_the_revision(
    replicas, notify_store, cx_config
):
    a, b = replicas(staleness=3600)  # no periodic read: only the signal can tell B
    apply_on(a, person("zh-CN"))
    seen_within(b, "zh-CN", timeout=2)
    assert language_on(a) == "zh-CN"  # the writer's next lookup reads its own change
    before, before_b = reads("notify"), cache_of(b).revision_reads
    send_requests(notify_store, 1, 40)  # handled by both replicas (and their sweeps run meanwhile)
    assert reads("notify") == before and cache_of(b).revision_reads == before_b  # 40 × 0

    apply_on(a, person("en"))
    latency = seen_within(b, "en", timeout=2)
    assert latency < 2 and provider(b, ConfigSignal).received >= 2
    after_change = cache_of(b).revision_reads
    assert 1 <= after_change - before_b <= 2  # once per change (twice if two workers raced)
    send_requests(notify_store, 41, 40)
    assert cache_of(b).revision_reads == after_change  # and never per message


def test_a_lost_signal_is_made_up_for_within_the_staleness_bound(replicas, notify_store, cx_config):
    a, b = replicas(staleness=1.0)
    apply_on(a, person("zh-CN"))
    seen_within(b, "zh-CN", timeout=2)
    received = provider(b, ConfigSignal).received
    delete_signal_exchange(cx_config["AMQP_URI"])
    apply_on(a, person("en"))  # its signal is lost (logged); the write stands
    assert language_on(a) == "en"
    assert seen_within(b, "en", timeout=1.0 + 1.0) <= 1.0 + 1.0
    assert provider(b, ConfigSignal).received == received  # the fallback read, not a signal
    first = cache_of(b).revision_reads
    until = time.monotonic() + 3.0
    lookups = 0
    while time.monotonic() < until:
        assert language_on(b) == "en"
        lookups += 1
    assert lookups > 10 and cache_of(b).revision_reads - first <= 3.0 / 1.0 + 2  # per period, not per lookup


def signal_connection_name(rabbit_manager, container) -> str:
    """The broker's name for the replica's signal consumer connection (by its local port)."""
    live = provider(container, ConfigSignal).consumer.live_connection
    port = live.connection.sock.getsockname()[1]

    def find():
        return next((c["name"] for c in rabbit_manager.get_connections() if c.get("peer_port") == port), None)

    return wait_until(find, timeout=15, interval=0.2, message="the signal connection in the management API")


def test_after_its_connection_comes_back_a_replica_reads_the_revision_once(
    replicas, notify_store, cx_config, rabbit_manager
):
    a, b = replicas(staleness=3600)
    apply_on(a, person("zh-CN"))
    seen_within(b, "zh-CN", timeout=2)
    signal = provider(b, ConfigSignal)
    assert signal.connections == 1
    delete_signal_exchange(cx_config["AMQP_URI"])
    apply_on(a, person("en"))  # a signal missed, as while B was disconnected
    before = cache_of(b).revision_reads
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        assert language_on(b) == "zh-CN"  # nothing tells B: no signal, no periodic read
    assert cache_of(b).revision_reads == before

    rabbit_manager._delete("connections", signal_connection_name(rabbit_manager, b))  # cut by the broker
    wait_until(lambda: signal.connections == 2, timeout=30, message="the signal consumer to reconnect")
    assert language_on(b) == "en"  # reconnected: the caches were marked stale once
    send_requests(notify_store, 1, 20)
    assert cache_of(b).revision_reads - before in (1, 2)  # once (twice if two workers raced)
    # the exchange and B's binding are back: signals flow again
    apply_on(a, person("zh-CN"))
    seen_within(b, "zh-CN", timeout=2)


def feedback(n: int) -> str:
    return json.dumps(
        {
            "schema_version": 1,
            "event_id": f"cfg-{n}",
            "source": "config-signal-test",
            "occurred_at": "2026-11-20T10:00:00+08:00",
            "customer": {"id": f"C{n % 7}"},
            "channel": "app",
            "scores": {"nps": 3},
        }
    )


RULE = {
    "id": "cfg-detractor",
    "name": "贬损 / detractor",
    "level": "P3",
    "owner": {"kind": "person", "id": "li.na"},
    "channels": ["email"],
    "when": {"field": "scores.nps", "op": "lte", "value": 6},
}


def test_alerts_replicas_take_a_rule_change_by_signal_without_a_rules_read_per_event(
    cx_config, container_factory, mongo_client
):
    with config.patch({"CONFIG_MAX_STALENESS_SECONDS": 3600}):
        a, b = (container_factory(AlertsService) for _ in range(2))
        a.start()
        b.start()
    index_b = provider(b, MongoStore).store.rules.rule_index
    assert index_b().rules == []
    with entrypoint_hook(a, "create_rule") as create:
        create(RULE)
    wait_until(
        lambda: [r["id"] for r in index_b().rules] == ["cfg-detractor"], timeout=2, message="the rule on B"
    )
    assert provider(a, MongoStore).store.rules.rule_index().rules  # the writer's next lookup reads its change
    for replica in (a, b):  # each replica loads its lexicon once (its first worker)
        with entrypoint_hook(replica, "analyze_text") as analyze:
            analyze("预热")
    before, lexicon_before = reads("alerts"), reads("lexicon")
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        for n in range(60):
            publisher.publish(feedback(n))
    alerts = mongo_client[database_name("alerts")].feedback_inbox
    wait_until(lambda: alerts.count_documents({"state": "done"}) == 60, timeout=60, message="60 events")
    assert mongo_client[database_name("alerts")].alerts.count_documents({}) > 0  # the rule applied
    assert reads("alerts") == before  # 60 events, both replicas: no rules_meta read
    assert reads("lexicon") == lexicon_before  # nor a lexicon revision read


@pytest.mark.parametrize(
    "service, metas",
    [
        (AlertsService, ["rules_meta", "lexicon_meta"]),
        (CasesService, ["config_meta", "lexicon_meta"]),  # playbooks name live aspect codes
        (ProfilesService, ["lexicon_meta"]),
    ],
)
def test_each_caching_service_listens_on_its_own_routing_key(
    cx_config, container_factory, rabbit_manager, service, metas
):
    """...and the services that analyse text (or follow its aspect codes: cases) on the
    lexicon's shared one as well."""
    container = container_factory(service)
    container.start()
    signal = provider(container, ConfigSignal)
    assert sorted(signal.caches) == sorted(metas) and signal.connections == 1
    vhost = urlparse(cx_config["AMQP_URI"]).path.lstrip("/")
    bindings = rabbit_manager.get_queue_bindings(vhost, signal.queue.name)
    keys = {service.name} | ({"textanalysis"} if "lexicon_meta" in metas else set())
    assert {(b["source"], b["routing_key"]) for b in bindings if b["source"]} == {
        ("cx.config", k) for k in keys
    }


def test_the_signal_keeps_the_caches_of_a_stores_aggregate_parts_fresh(mongo_client, db_prefix):
    """A store composed of aggregate stores (cases' policies and playbook library, alerts'
    rules) has its caches one level down; notify's is the store's own."""
    from services.alerts.store import AlertStore
    from services.cases.store import CaseStore
    from services.common.config_signal import caches_of

    db = mongo_client[f"{db_prefix}parts"]
    assert [c.name for c in caches_of(AlertStore(db))] == ["rules_meta"]
    store = CaseStore(db)
    assert [c.name for c in caches_of(store)] == ["config_meta", "config_meta"]
    assert {id(c) for c in caches_of(store)} == {id(store.policies.config), id(store.playbooks.cache)}
    assert [c.name for c in caches_of(NotifyStore(db))] == ["config_meta"]
