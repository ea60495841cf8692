"""A batch of deliveries costs a few store commands, not a few per delivery: its rate
tokens are taken with one operation per destination and its outcomes recorded with one
``bulk_write``, with the same limits, leases and results as one delivery at a time."""

from collections import Counter
from datetime import UTC, datetime

import eventlet
import pymongo
import pytest
from pymongo import monitoring

from services.notify.channels.base import Destination, Outcome, Rate
from services.notify.delivery import Pipeline, Policy
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.store import NotifyStore
from tests.conftest import MONGO_URI

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC).timestamp()  # 14:00 in Shanghai
HOOKS = {"a": "http://127.0.0.1:9/hook-a", "b": "http://127.0.0.1:9/hook-b"}
# four people on robot a, two on robot b
PEOPLE = {f"p{n}": "a" if n < 4 else "b" for n in range(6)}


class Commands(monitoring.CommandListener):
    """The commands sent to the store, by (command, collection), while ``on``."""

    def __init__(self):
        self.seen: Counter = Counter()
        self.on = False

    def started(self, event):
        if self.on:
            target = event.command.get(event.command_name)
            self.seen[(event.command_name, target if isinstance(target, str) else "-")] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def __getitem__(self, key):
        return self.seen[key]


@pytest.fixture
def commands():
    listener = Commands()
    client = pymongo.MongoClient(MONGO_URI, event_listeners=[listener], tz_aware=True)
    yield client, listener
    client.close()


def make_store(client, name: str) -> NotifyStore:
    store = NotifyStore(client[name])
    store.ensure_indexes()
    store.apply_directory(
        load_directory(
            {
                "people": [
                    {"id": p, "name": p, "handles": {"wecom": {"webhook": HOOKS[robot]}}}
                    for p, robot in PEOPLE.items()
                ]
            }
        )
    )
    return store


class Robot:
    """A WeCom-like stand-in: 20 messages a minute per webhook, one at a time; answers
    with the outcome ``answer`` gives (delivered by default) and records what it sent."""

    name = "wecom"
    template_format = "md"
    rate = Rate(per_minute=20, burst=1)
    mention_field = "user_id"

    def __init__(self, answer=lambda note: Outcome.ok(f"msg-{note.delivery_id}")):
        self.answer = answer
        self.sent = []

    def destination_key(self, destination: Destination) -> str:
        return destination.handle["webhook"]

    def rate_for(self, destination):
        return self.rate

    def check(self, destination):
        pass

    def secrets(self, destination):
        return []

    def deliver(self, note, destination, now):
        self.sent.append(note.delivery_id)
        return self.answer(note)


class Mail(Robot):
    name = "email"
    rate = None

    def destination_key(self, destination):
        return destination.email


class Announced(list):
    def __call__(self, doc, outcome, attempts):
        self.append((doc["_id"], outcome.status, attempts))


def pipeline(store, robot=None, **policy) -> Pipeline:
    channels = {"wecom": robot or Robot(), "email": Mail()}
    options = {"max_attempts": 3, "backoff_base": 5.0, "concurrency": 4, **policy}
    return Pipeline(store, channels, Renderer(), Announced(), Policy(**options), rng=lambda: 1.0)


def request(person: str, notification_id: str, channels=("wecom",)) -> dict:
    return {
        "notification_id": notification_id,
        "kind": "case_assigned",
        "recipient": {"kind": "person", "id": person},
        "channels": list(channels),
        "level": "P2",
        "case_id": "CASE-1",
        "context": {"case_id": "CASE-1", "title": "NPS", "customer": {"id": "C1", "name": "张三"}},
    }


def batch() -> list[dict]:
    """Nine requests: robot a is asked six times (p0..p3), robot b three times (p4, p5)."""
    people = ["p0", "p1", "p4", "p2", "p3", "p5", "p0", "p4", "p1"]
    return [request(p, f"n{k}") for k, p in enumerate(people)]


VOLATILE = {"created_at", "updated_at"}


def stored(store: NotifyStore) -> list[dict]:
    """Every delivery and rate bucket without the times the server stamps."""
    docs = []
    for doc in store.db.deliveries.find().sort("_id"):
        doc = {k: v for k, v in doc.items() if k not in VOLATILE}
        for entry in (doc.get("attempt_log") or {}).values():
            entry.pop("at"), entry.pop("seconds")
        docs.append(doc)
    return docs + list(store.db.rate_buckets.find().sort("_id"))


def test_a_batch_takes_one_token_operation_per_destination_and_settles_with_one_bulk_write(
    commands, db_prefix
):
    client, seen = commands
    store = make_store(client, f"{db_prefix}notify")
    p = pipeline(store)
    seen.on = True
    created = p.deliver_many(batch(), NOW)
    seen.on = False
    assert len(created) == 9
    # one bulk per robot's bucket, and one read of each bucket whose refused sends wait
    assert seen["update", "rate_buckets"] == 2 and seen["find", "rate_buckets"] == 2
    assert seen["update", "deliveries"] == 1  # every settle of the batch in one bulk_write
    assert seen["findAndModify", "rate_buckets"] == seen["findAndModify", "deliveries"] == 0
    # burst 1 at 20/min: one send per robot now, the rest come back in 3 s, no attempt counted
    assert sorted(p.channels["wecom"].sent) == ["n0|wecom|person:p0", "n2|wecom|person:p4"]
    docs = {d["_id"]: d for d in store.db.deliveries.find()}
    waiting = [d for d in docs.values() if d["status"] == "scheduled"]
    assert len(waiting) == 7 and {(d["attempts"], d["next_attempt_at"]) for d in waiting} == {(0, NOW + 3)}
    assert {d["lease_until"] for d in docs.values()} == {0}
    assert p.announce == [
        ("n0|wecom|person:p0", "delivered", 1),
        ("n2|wecom|person:p4", "delivered", 1),
    ]
    assert {b["_id"]: b["tat"] for b in store.db.rate_buckets.find()} == {
        f"wecom|{HOOKS['a']}": NOW + 3,
        f"wecom|{HOOKS['b']}": NOW + 3,
    }
    # the batch redelivered: nothing new, nothing sent, nothing settled
    seen.seen.clear()
    seen.on = True
    assert p.deliver_many(batch(), NOW) == []
    seen.on = False
    assert seen["update", "deliveries"] == 0 and seen["update", "rate_buckets"] == 0
    assert len(p.channels["wecom"].sent) == 2


def test_the_batch_stores_what_one_request_at_a_time_stores(commands, db_prefix):
    """The same requests, as one batch and one by one: the same deliveries, attempt logs,
    schedules and rate buckets."""
    client, _ = commands
    at_once, one_by_one = (make_store(client, f"{db_prefix}{name}") for name in ("notify", "notify1"))
    p = pipeline(at_once)
    p.deliver_many(batch(), NOW)
    q = pipeline(one_by_one)
    for one in batch():
        q.deliver(one, NOW)
    assert stored(at_once) == stored(one_by_one)
    assert sorted(p.announce) == sorted(q.announce)
    # and so do the sweeps that send the waiting ones later
    for later in (NOW + 3, NOW + 6, NOW + 9):
        p.run(later)
        q.run(later)
        assert stored(at_once) == stored(one_by_one)


def test_failures_of_a_batch_are_counted_and_fallen_back_together(commands, db_prefix):
    client, seen = commands
    store = make_store(client, f"{db_prefix}notify")
    down = Robot(answer=lambda note: Outcome.retry("503 busy", http_status=503))
    # all six at once: one recording (a batch records every ``concurrency`` sends)
    p = pipeline(store, down, max_attempts=1, fallback={"wecom": "email"}, concurrency=6)
    store.db.rate_buckets.drop()
    p.channels["wecom"].rate = None  # no limit: all six go now
    requests = [request(person, f"n{person}") for person in PEOPLE]
    seen.on = True
    p.deliver_many(requests, NOW)
    seen.on = False
    failed = [d for d in store.list_deliveries(channel="wecom") if d["status"] == "failed"]
    assert len(failed) == 6 and all(d["last_error"].startswith("gave up after 1 attempts") for d in failed)
    fallbacks = store.list_deliveries(channel="email")
    assert sorted(d["fallback_of"] for d in fallbacks) == sorted(d["_id"] for d in failed)
    assert all(d["status"] == "scheduled" and d["next_attempt_at"] == NOW for d in fallbacks)
    assert store.stats()["counters"] == {"retries_exhausted": 6, "fallbacks": 6}
    assert sorted(a[1] for a in p.announce) == ["failed"] * 6
    # settle, then one update per counter, one read and one insert for the fallbacks
    assert seen["update", "deliveries"] == 1 and seen["update", "counters"] == 2
    # (the inserts: the batch's deliveries, then the fallbacks)
    assert seen["find", "deliveries"] == 1 and seen["insert", "deliveries"] == 2


def test_a_settle_lost_to_a_takeover_is_not_reported_and_a_retried_settle_knows_its_own(
    db_prefix, mongo_client
):
    store = make_store(mongo_client, f"{db_prefix}notify")
    docs = [
        {
            "_id": f"d{n}",
            "notification_id": f"n{n}",
            "channel": "wecom",
            "recipient": {"kind": "person", "id": "p0"},
            "status": "scheduled",
            "next_attempt_at": NOW,
        }
        for n in range(3)
    ]
    leased = store.create_many([(doc, NOW + 60) for doc in docs])
    # d1's lease ran out and another worker claimed it
    taken = store.claim_due(NOW + 61, 60.0, ["d1"])
    assert taken["_id"] == "d1"

    def attempt(doc):
        return {"delivery_id": doc["_id"], "attempt": 1, "status": "delivered"}

    items = [(doc, {"status": "delivered", "attempts": 1}, attempt(doc)) for doc in leased]
    assert store.settle_many(items) == [True, False, True]
    d1 = store.db.deliveries.find_one({"_id": "d1"})
    assert d1["status"] == "sending" and d1["lease_until"] == NOW + 121  # the taker's, untouched
    assert d1["attempt_log"]["a1"]["status"] == "delivered"  # the attempt is logged all the same
    # the same settle again (a store outage hid its answer): its own updates are known as such
    before = {d["_id"]: d for d in store.db.deliveries.find({"_id": {"$in": ["d0", "d2"]}})}
    assert store.settle_many(items) == [True, False, True]
    assert {d["_id"]: d for d in store.db.deliveries.find({"_id": {"$in": ["d0", "d2"]}})} == before
    # the taker settles under its own lease
    assert store.settle(taken, {"status": "delivered", "attempts": 1}) is True


def test_tokens_taken_for_many_sends_at_once_are_never_over_granted(db_prefix, mongo_client):
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    # batches of several replicas ask one bucket (5 at once, then one a second) at once
    pool = eventlet.GreenPool(8)
    answers = list(pool.imap(lambda _: store.take_tokens("webhook|h", 3, 1.0, 5, NOW), range(8)))
    assert sum(granted for granted, _ in answers) == 5
    assert all(wait == 1.0 for granted, wait in answers if granted < 3)
    assert store.db.rate_buckets.find_one({"_id": "webhook|h"})["tat"] == NOW + 5
    assert store.take_tokens("webhook|h", 4, 1.0, 5, NOW + 2) == (2, 1.0)  # two freed since
    assert store.take_tokens("webhook|h", 9, 1.0, 5, NOW + 100) == (5, 1.0)  # never more than the burst
    assert store.take_tokens("other", 2, 3.0, 1, NOW) == (1, 3.0)


def test_a_long_batch_records_what_it_sent_before_the_leases_could_run_out(commands, db_prefix):
    """Slow sends: what is done is recorded within a quarter lease, not at the batch's end."""
    client, seen = commands
    store = make_store(client, f"{db_prefix}notify")
    recorded_during_batch = []

    def slow(note):
        eventlet.sleep(0.06)
        recorded_during_batch.append(store.db.deliveries.count_documents({"status": "delivered"}))
        return Outcome.ok()

    p = pipeline(store, Robot(answer=slow), concurrency=1, lease=0.4)
    p.channels["wecom"].rate = None
    seen.on = True
    p.deliver_many([request(person, f"n{person}") for person in PEOPLE], NOW)
    seen.on = False
    assert store.db.deliveries.count_documents({"status": "delivered"}) == 6
    assert seen["update", "deliveries"] > 1 and recorded_during_batch[-1] > 0
    assert len(p.announce) == 6


def test_a_batch_records_its_sends_every_concurrency_sends_so_a_dying_worker_resends_few(commands, db_prefix):
    """What a vendor accepted and the store has not recorded is sent again after a
    ``kill -9`` (the lease runs out): a batch records every ``concurrency`` sends, so at
    most about that many are ever in that window, not the whole batch."""
    client, seen = commands
    store = make_store(client, f"{db_prefix}notify")
    accepted: list[int] = []  # at each send: sends the vendor accepted before it, not yet recorded

    def accept(note):
        recorded = store.db.deliveries.count_documents({"status": "delivered"})
        accepted.append(len(accepted) - recorded)
        return Outcome.ok()

    p = pipeline(store, Robot(answer=accept), concurrency=2)
    p.channels["wecom"].rate = None
    seen.on = True
    p.deliver_many([request(person, f"n{person}") for person in PEOPLE], NOW)
    seen.on = False
    assert store.db.deliveries.count_documents({"status": "delivered"}) == 6
    assert seen["update", "deliveries"] == 3  # after sends 2, 4 and 6
    assert len(accepted) == 6 and max(accepted) <= 2 * 2, accepted  # all six at the end before
    assert len(p.announce) == 6
