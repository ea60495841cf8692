"""The batch entrypoint on a real broker and store (services/common/batching.py).

A small service of the test's own consumes feedback in batches through the same
inbox the services use (``handled_once_each``); its handler records what it saw,
so each test can tell what ran, in which batch, in which order and how often.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import eventlet
import pytest
from kombu import Connection
from nameko import config

from cxctl.publish import FeedbackPublisher
from services.common.batching import Batcher, Item, feedback_batch_consumer, handled_once_each
from services.common.inbox import Inbox
from services.common.messaging import (
    HEADER_ATTEMPTS,
    HEADER_REASON,
    ConfirmedBatchPublisher,
    dead_letter_queue,
)
from services.common.mongo import MongoStore, Store, insert_many_once
from tests.conftest import wait_until

BATCHES: list[list[str]] = []  # event ids of each batch the handler received
RUNNING: set[str] = set()  # customers in a batch being handled right now
OVERLAPS: list[str] = []  # a customer seen in two running batches at once
GATE: dict = {}  # "hold": an Event the first batch waits on (the kill test)


class BatchyStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.inbox, ("source", "event_id"))

    def indexes(self):
        return {"inbox": [self.inbox.index()]}


class BatchyService:
    name = "batchy"
    store: BatchyStore = MongoStore(BatchyStore)

    @feedback_batch_consumer()
    @handled_once_each("inbox")
    def handle_feedback(self, events: list[dict]) -> None:
        ids = [e["event_id"] for e in events]
        BATCHES.append(ids)
        customers = {e["customer"]["id"] for e in events}
        OVERLAPS.extend(sorted(customers & RUNNING))
        RUNNING.update(customers)
        try:
            # a document per handled event (unique ids: a second run of one changes nothing)
            for e in events:
                if e.get("comment") == "poison":
                    raise RuntimeError(f"cannot handle {e['event_id']}")
            half = len(events) // 2
            insert_many_once(self.store.db.handled, [_doc(e) for e in events[:half]])
            hold = GATE.pop("hold", None)
            if hold is not None:
                hold.wait()  # killed here, half written
            self.store.db.runs.insert_one({"ids": ids})  # one per finished run
            insert_many_once(self.store.db.handled, [_doc(e) for e in events[half:]])
            eventlet.sleep(0.05)  # long enough for batches to overlap
        finally:
            RUNNING.difference_update(customers)


def _doc(event: dict) -> dict:
    return {"_id": event["event_id"], "customer": event["customer"]["id"], "at": time.time()}


def event(n: int, customer: str, comment: str | None = None) -> dict:
    body = {
        "schema_version": 1,
        "event_id": f"e{n:04d}",
        "source": "batch-test",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": customer},
        "channel": "app",
        "scores": {"nps": 5},
    }
    if comment:
        body["comment"] = comment
    return body


@pytest.fixture(autouse=True)
def clean():
    BATCHES.clear()
    RUNNING.clear()
    OVERLAPS.clear()
    GATE.clear()


def publish(uri: str, events: list[dict]) -> None:
    with FeedbackPublisher(uri) as publisher:
        for body in events:
            publisher.publish(json.dumps(body))


@pytest.fixture
def start(cx_config, runner_factory):
    def start_service(**settings):
        with config.patch(settings):
            runner = runner_factory(BatchyService)
            runner.start()
        return runner

    return start_service


def queue_depth(uri: str, name: str) -> int:
    with Connection(uri) as conn:
        return conn.default_channel.queue_declare(name, passive=True).message_count


def test_a_poison_message_is_retried_and_dead_lettered_alone(start, cx_config, mongo_client, db_prefix):
    uri = cx_config["AMQP_URI"]
    with config.patch({"MAX_DELIVERY_ATTEMPTS": 2, "RETRY_BACKOFF_BASE": 0.2}):
        runner = start(BATCH_SIZE=40, BATCH_WAIT_MS=200.0)
        runner.stop()  # the queue exists now: publish a backlog, then start again
        events = [event(n, f"C{n}", "poison" if n == 13 else None) for n in range(40)]
        publish(uri, events)
        start(BATCH_SIZE=40, BATCH_WAIT_MS=200.0)
        store = mongo_client[f"{db_prefix}batchy"]
        wait_until(lambda: store.handled.count_documents({}) >= 39, timeout=30, message="39 handled")
        with Connection(uri) as conn:
            dlq = dead_letter_queue("cx.feedback.batchy")(conn.default_channel)
            message = wait_until(lambda: dlq.get(no_ack=True), timeout=20, message="the dead letter")
            assert json.loads(message.body)["event_id"] == "e0013"
            assert message.headers[HEADER_ATTEMPTS] == 2
            assert "RuntimeError: cannot handle e0013" in message.headers[HEADER_REASON]
            time.sleep(0.5)
            assert dlq.get(no_ack=True) is None  # only the poison
        handled = sorted(d["_id"] for d in store.handled.find())
        assert handled == [e["event_id"] for e in events if e["event_id"] != "e0013"]
        # the poison arrived in a batch with others (an idle batcher takes what is already
        # delivered at once, so the backlog may come as more than one batch); the split ran
        # halves until the poison stood alone
        first_with_poison = next(b for b in BATCHES if "e0013" in b)
        assert len(first_with_poison) > 1
        assert ["e0013"] in BATCHES
        done = store.inbox.count_documents({"state": "done"})
        assert done == 39 and store.inbox.count_documents({"event_id": "e0013", "state": "done"}) == 0
        assert queue_depth(uri, "cx.feedback.batchy") == 0


def test_each_customers_events_are_handled_in_order_within_and_across_batches(
    start, cx_config, mongo_client, db_prefix
):
    uri = cx_config["AMQP_URI"]
    runner = start(BATCH_SIZE=7, BATCH_CONCURRENCY=3, BATCH_WAIT_MS=1.0)
    runner.stop()
    customers = ["A", "B", "C", "D"]
    events = [event(n, customers[n % 4] if n % 5 else "A") for n in range(120)]
    publish(uri, events)
    start(BATCH_SIZE=7, BATCH_CONCURRENCY=3, BATCH_WAIT_MS=1.0)
    store = mongo_client[f"{db_prefix}batchy"]
    wait_until(lambda: store.handled.count_documents({}) >= 120, timeout=60, message="120 handled")
    order = [i for batch in BATCHES for i in batch]
    assert sorted(order) == sorted(e["event_id"] for e in events)  # each once
    for customer in customers:
        mine = [e["event_id"] for e in events if e["customer"]["id"] == customer]
        assert [i for i in order if i in set(mine)] == mine, customer
    assert OVERLAPS == []  # a customer was never in two running batches
    assert max(len(b) for b in BATCHES) <= 7
    assert len(BATCHES) < 120  # they really were batched


def test_a_batch_killed_half_way_is_redelivered_and_finished_once(start, cx_config, mongo_client, db_prefix):
    uri = cx_config["AMQP_URI"]
    # one batch at a time, so nothing else runs while the first batch is held; an idle
    # batcher starts at once with what is delivered, so the first batch may be any part
    # of the backlog
    settings = {"BATCH_SIZE": 20, "BATCH_WAIT_MS": 200.0, "BATCH_CONCURRENCY": 1}
    with config.patch({"INBOX_LEASE_SECONDS": 1.0, "STORE_RETRY_DELAY": 0.2}):
        runner = start(**settings)
        runner.stop()
        events = [event(n, f"C{n}") for n in range(20)]
        GATE["hold"] = eventlet.event.Event()
        publish(uri, events)
        runner = start(**settings)
        store = mongo_client[f"{db_prefix}batchy"]
        wait_until(lambda: "hold" not in GATE, timeout=20, message="the first batch to start")
        first = list(BATCHES[0])
        half = len(first) // 2
        wait_until(lambda: store.handled.count_documents({}) >= half, timeout=20, message="half written")
        runner.kill()  # mid-batch: half its events written, none acked, keys leased
        assert store.handled.count_documents({}) == half
        start(**settings)
        wait_until(lambda: store.handled.count_documents({}) >= 20, timeout=30, message="all handled")
        time.sleep(1.5)
        assert sorted(d["_id"] for d in store.handled.find()) == [e["event_id"] for e in events]
        assert store.inbox.count_documents({"state": "done"}) == 20
        # after the restart each event ran once: the killed batch's again, the rest for the first time
        again = sorted(i for batch in BATCHES[1:] for i in batch)
        assert again == [e["event_id"] for e in events]
        # the redelivered batch waited for the dead worker's leases, then took them over
        claims = {d["event_id"]: d["claims"] for d in store.inbox.find()}
        assert claims == {e["event_id"]: 2 if e["event_id"] in first else 1 for e in events}
        # every run but the killed one finished, once
        assert store.runs.count_documents({}) == len(BATCHES) - 1
        assert queue_depth(uri, "cx.feedback.batchy") == 0


def test_a_partly_handled_redelivery_runs_only_what_is_new(start, cx_config, mongo_client, db_prefix):
    uri = cx_config["AMQP_URI"]
    runner = start(BATCH_SIZE=30, BATCH_WAIT_MS=200.0)
    events = [event(n, f"C{n}") for n in range(20)]
    publish(uri, events[:10])
    store = mongo_client[f"{db_prefix}batchy"]
    wait_until(lambda: store.handled.count_documents({}) >= 10, timeout=20, message="the first ten")
    runner.stop()
    publish(uri, events)  # the first ten again (a resend), with ten new ones
    start(BATCH_SIZE=30, BATCH_WAIT_MS=200.0)
    wait_until(lambda: store.handled.count_documents({}) >= 20, timeout=20, message="the new ten")
    wait_until(lambda: queue_depth(uri, "cx.feedback.batchy") == 0, timeout=20, message="all acked")
    time.sleep(0.5)
    assert [i for batch in BATCHES for i in batch] == [e["event_id"] for e in events]  # each once
    assert store.inbox.count_documents({"state": "done"}) == 20


def test_batcher_takes_in_order_and_holds_back_keys_in_flight():
    class Entrypoint:
        pass

    batcher = Batcher(Entrypoint(), size=3, wait=0, concurrency=2)
    batcher.pending = [Item(k, i, None) for i, k in enumerate("AABCAD")]
    first = batcher.take()
    assert [(i.key, i.value) for i in first] == [("A", 0), ("A", 1), ("B", 2)]
    batcher.in_flight.update(i.key for i in first)
    second = batcher.take()
    # C is free; A is held by the running batch, so the A behind it waits too; D is free
    assert [(i.key, i.value) for i in second] == [("C", 3), ("D", 5)]
    assert [(i.key, i.value) for i in batcher.pending] == [("A", 4)]


def test_a_message_about_several_customers_holds_each_of_them():
    class Entrypoint:
        pass

    batcher = Batcher(Entrypoint(), size=5, wait=0, concurrency=2)
    # an alerts_taken_in about B and C, between messages of the same customers
    batcher.pending = [Item("A", 0, None), Item(("B", "C"), 1, None), Item("C", 2, None), Item("E", 3, None)]
    batcher.in_flight.update(["B"])  # B is in a running batch
    taken = batcher.take()
    # the digest waits for B; C's later message waits behind it (C's order); A and E go
    assert [i.value for i in taken] == [0, 3]
    assert [i.value for i in batcher.pending] == [1, 2]
    batcher.keys.release(["B"])
    # then the digest goes, and C's message with it, after it (order within a batch)
    assert [i.value for i in batcher.take()] == [1, 2] and batcher.pending == []


def test_a_batch_of_publishes_is_confirmed_once_and_lands_in_order(cx_config):
    from kombu import Exchange, Queue

    uri = cx_config["AMQP_URI"]
    exchange = Exchange("batchy.events", type="topic", durable=True)
    with Connection(uri) as conn:
        queue = Queue("batchy-probe", exchange=exchange, routing_key="#", durable=True)(conn.default_channel)
        queue.declare()
    publisher = ConfirmedBatchPublisher(uri)
    try:
        publisher.publish_all([(exchange, "thing", {"n": n}, {"h": "x"}) for n in range(200)])
        publisher.publish_all([(exchange, "thing", {"n": n}, {}) for n in range(200, 250)])
    finally:
        publisher.close()
    with Connection(uri) as conn:
        queue = Queue("batchy-probe", exchange=exchange, routing_key="#", durable=True)(conn.default_channel)
        got = []
        while (message := queue.get(no_ack=True)) is not None:
            got.append(message.payload["n"])
            assert message.properties["delivery_mode"] == 2
    assert got == list(range(250))


def test_a_batch_of_publishes_goes_to_the_socket_in_one_write(cx_config):
    from kombu import Exchange, Queue

    uri = cx_config["AMQP_URI"]
    exchange = Exchange("batchy1.events", type="topic", durable=True)
    with Connection(uri) as conn:
        queue = Queue("batchy1-probe", exchange=exchange, routing_key="#", durable=True)(conn.default_channel)
        queue.declare()
    publisher = ConfirmedBatchPublisher(uri)
    try:
        publisher.publish_all([(exchange, "thing", {"n": -1}, {})])  # connects and declares
        (link,) = publisher.idle
        transport = link.connection.connection.transport
        send, writes = transport._write, []
        transport._write = lambda data: (writes.append(len(data)), send(data))
        publisher.publish_all([(exchange, "thing", {"n": n}, {}) for n in range(100)])
        assert len(writes) == 1 and writes[0] > 100 * 50  # all 100 messages, one sendall
        assert transport._write is not send  # put back: the counting wrapper again
        transport._write = send
    finally:
        publisher.close()
    with Connection(uri) as conn:
        queue = Queue("batchy1-probe", exchange=exchange, routing_key="#", durable=True)(conn.default_channel)
        got = []
        while (message := queue.get(no_ack=True)) is not None:
            got.append(message.payload["n"])
    assert got == list(range(-1, 100))


def test_alerts_answer_and_retire_the_status_queue_an_earlier_version_left(
    cx_config, mongo_client, db_prefix
):
    """An upgrade: the old alerts consumed every case_status_changed; what cases published
    meanwhile waits in that queue. The new alerts answers its responses and deletes it."""
    from kombu import Exchange, Queue

    from contracts.messages import schema_of
    from services.alerts.dependencies import RETIRED_STATUS_QUEUE, drain_retired_queue
    from services.alerts.store import AlertStore

    uri = cx_config["AMQP_URI"]
    exchange = Exchange("cases.events", type="topic", durable=True)
    answered = []

    def change(customer, to):
        return schema_of("case_status_changed").dump(
            {
                "schema_version": 1,
                "case_id": f"CASE-{customer}",
                "customer_id": customer,
                "level": "P2",
                "from_status": "assigned",
                "to_status": to,
                "changed_at": datetime(2026, 11, 1, 12, tzinfo=UTC),
                "changed_by": "li.na",
            }
        )

    with Connection(uri) as conn:
        old = Queue(RETIRED_STATUS_QUEUE, exchange=exchange, routing_key="case_status_changed", durable=True)
        old(conn.default_channel).declare()
        producer = conn.Producer()
        for customer, to in (("C1", "in_progress"), ("C2", "assigned"), ("C3", "resolved")):
            producer.publish(change(customer, to), exchange=exchange, routing_key="case_status_changed")
    store = AlertStore(mongo_client[f"{db_prefix}alerts"])
    handled = drain_retired_queue(uri, RETIRED_STATUS_QUEUE, store, lambda s, c, at: answered.append((c, at)))
    assert handled == 2 and [c for c, _ in answered] == ["C1", "C3"]
    assert drain_retired_queue(uri, RETIRED_STATUS_QUEUE, store, lambda *_: None) is None  # gone


def test_a_customer_in_one_entrypoints_batch_holds_the_others_of_its_container():
    """profiles' feedback, alert and case handlers write one profile: in one replica a
    customer's messages of those kinds never run at once, and a batch's end wakes them."""

    class Container:
        pass

    class Entrypoint:
        def __init__(self, container):
            self.container = container

    one = Container()
    feedback, alerts = (Batcher(Entrypoint(one), size=5, wait=0, concurrency=2) for _ in range(2))
    other = Batcher(Entrypoint(Container()), size=5, wait=0, concurrency=2)
    for batcher in (feedback, alerts, other):
        batcher.pending = [Item(k, k, None) for k in "AB"]
    running = feedback.take()
    feedback.keys.take(item.key for item in running)
    assert alerts.take() == [] and [i.key for i in other.take()] == ["A", "B"]
    assert not alerts.wakeup.ready()
    feedback.keys.release(item.key for item in running)
    assert alerts.wakeup.ready() and [i.key for i in alerts.take()] == ["A", "B"]


def test_an_idle_batcher_starts_a_message_at_once_and_a_busy_one_waits_for_company():
    """BATCH_WAIT_MS is spent only while another batch of the entrypoint runs: an idle
    system adds no wait to a lone message."""
    spawned: list[list[Item]] = []
    threads = []

    class Container:
        def spawn_managed_thread(self, run, identifier=None):
            if identifier == "batcher":
                threads.append(eventlet.spawn(run))
                return
            spawned.append(run.__defaults__[0])  # the batch; left running (not driven)

    class Entrypoint:
        container = Container()

    batcher = Batcher(Entrypoint(), size=10, wait=30.0, concurrency=2)  # a wait no test outlives
    batcher.start()
    batcher.put("A", 1, None)
    for _ in range(5):
        eventlet.sleep(0)
    assert [[i.value for i in b] for b in spawned] == [[1]]  # at once, alone
    batcher.put("B", 2, None)  # one batch runs: this one waits for company
    for _ in range(5):
        eventlet.sleep(0)
    assert len(spawned) == 1 and [i.value for i in batcher.pending] == [2]
    batcher.stopping = True
    threads[0].kill()


def test_a_lingering_entrypoint_lets_an_idle_batch_gather_and_a_full_one_goes_at_once():
    spawned, threads = [], []

    class Container:
        def spawn_managed_thread(self, run, identifier=None):
            if identifier == "batcher":
                threads.append(eventlet.spawn(run))
                return
            spawned.append(run.__defaults__[0])

    class Entrypoint:
        container = Container()

    batcher = Batcher(Entrypoint(), size=3, wait=0.0, concurrency=2, linger=0.2)
    batcher.start()
    batcher.put("A", 1, None)
    eventlet.sleep(0.05)
    assert spawned == [] and [i.value for i in batcher.pending] == [1]  # idle, but lingering
    batcher.put("B", 2, None)
    eventlet.sleep(0.3)
    assert [[i.value for i in b] for b in spawned] == [[1, 2]]  # one batch of both
    batcher.running = 0
    for key, value in (("C", 3), ("D", 4), ("E", 5)):  # a full batch does not linger
        batcher.put(key, value, None)
    eventlet.sleep(0.05)
    assert [[i.value for i in b] for b in spawned] == [[1, 2], [3, 4, 5]]
    batcher.stopping = True
    threads[0].kill()
