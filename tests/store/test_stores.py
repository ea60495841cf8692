"""The domain stores on the real server: idempotency and concurrency."""

import time

import eventlet
import pytest

from contracts.feedback import parse_feedback
from services.common.inbox import Busy, Inbox
from services.profiles.store import ProfileStore


@pytest.fixture
def profiles(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    return store


def feedback(n, customer="C1", channel="app", nps=None):
    return parse_feedback(
        {
            "schema_version": 1,
            "event_id": f"e{n}",
            "source": "load",
            "channel": channel,
            "occurred_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00+08:00",
            "customer": {"id": customer, "name": f"name-{n}"},
            "scores": {"nps": nps if nps is not None else n % 11},
        }
    )


def test_inbox_runs_once_holds_a_lease_and_lets_a_retry_or_a_takeover_in(db):
    inbox = Inbox(db.inbox, ("source", "event_id"), lease_seconds=0.5)
    db.inbox.create_indexes([inbox.index()])
    msg = {"source": "s", "event_id": "1"}
    runs = []

    def handle():
        with inbox.handling(msg) as fresh:
            if fresh:
                runs.append(1)

    assert inbox.claim(msg) is True
    with pytest.raises(Busy):  # a concurrent copy waits; it is not dropped
        handle()
    time.sleep(0.6)  # the holder "died": its lease expires
    handle()  # the redelivered copy takes over and finishes
    handle()  # a later resend is skipped
    assert runs == [1]
    doc = db.inbox.find_one({"event_id": "1"})
    assert doc["state"] == "done" and doc["claims"] == 2

    other = {"source": "s", "event_id": "2"}
    with pytest.raises(RuntimeError), inbox.handling(other):
        raise RuntimeError("handler failed")
    assert inbox.claim(other) is True  # the failed run released its lease for the retry


def test_100_events_for_one_customer_from_8_concurrent_workers_lose_nothing(profiles):
    events = [feedback(n, channel=("app", "web", "wechat")[n % 3]) for n in range(100)]
    pool = eventlet.GreenPool(8)
    # every event twice, interleaved: concurrency and replays at once
    for e in events + events[::-1]:
        pool.spawn(profiles.recorder.record_feedback, e)
    pool.waitall()
    p = profiles.queries.get_profile("C1", timeline_limit=500)
    assert p["feedback_count"] == 100
    assert p["channels"] == {"app": 34, "web": 33, "wechat": 33}
    assert len(p["timeline"]) == 100
    newest = max(events, key=lambda e: e["occurred_at"])
    oldest = min(events, key=lambda e: e["occurred_at"])
    assert p["latest"]["nps"]["at"] == newest["occurred_at"]
    assert p["last_contact"]["at"] == newest["occurred_at"]
    assert p["first_contact"]["at"] == oldest["occurred_at"]
    # identity comes from one of the newest events (several share that timestamp)
    tied = {e["customer"]["name"] for e in events if e["occurred_at"] == newest["occurred_at"]}
    assert p["identity"]["name"] in tied


def person(email):
    """A recipients directory as ``notify.apply_recipients`` stores it."""
    from services.notify.directory import load_directory

    return load_directory({"people": [{"id": "li.na", "name": "李娜", "email": email}]})


def test_config_cache_reads_the_revision_once_per_change_not_per_lookup(db):
    """Lookups while nothing changed read nothing; this replica's own write is seen at
    once; another replica's is seen after its signal (``invalidate``), with one read."""
    from nameko import config

    from services.notify.store import NotifyStore

    with config.patch({"CONFIG_MAX_STALENESS_SECONDS": 3600}):  # no periodic read in this test
        mine, other = NotifyStore(db), NotifyStore(db)
    other.apply_directory(person("a@x.cn"))
    assert mine.recipient("person", "li.na")["email"] == "a@x.cn"
    loads = []
    mine.config.load = lambda original=mine.config.load: loads.append(1) or original()
    reads = mine.config.revision_reads
    for _ in range(20):  # messages while nothing changes: no read at all
        assert mine.recipient("person", "li.na")["email"] == "a@x.cn"
    assert mine.config.revision_reads == reads and loads == []
    other.apply_directory(person("b@x.cn"))
    assert mine.recipient("person", "li.na")["email"] == "a@x.cn"  # no signal yet: bounded staleness
    mine.config.invalidate()  # what the other replica's signal does here (config_signal.py)
    for _ in range(5):
        assert mine.recipient("person", "li.na")["email"] == "b@x.cn"
    assert mine.config.revision_reads == reads + 1 and loads == [1]  # one read and one load per change
    mine.apply_directory(person("c@x.cn"))  # a write through this replica: seen by its next lookup
    assert mine.recipient("person", "li.na")["email"] == "c@x.cn"
    mine.recipient("person", "li.na")["email"] = "changed by a caller"
    assert mine.recipient("person", "li.na")["email"] == "c@x.cn"  # callers get copies


def test_config_cache_sees_a_change_whose_signal_was_lost_within_the_staleness_bound(db):
    from nameko import config

    from services.notify.store import NotifyStore

    with config.patch({"CONFIG_MAX_STALENESS_SECONDS": 0.5}):
        mine, other = NotifyStore(db), NotifyStore(db)
    other.apply_directory(person("a@x.cn"))
    assert mine.recipient("person", "li.na")["email"] == "a@x.cn"
    reads = mine.config.revision_reads
    other.apply_directory(person("b@x.cn"))  # no signal reaches ``mine``
    changed = time.monotonic()
    while mine.recipient("person", "li.na")["email"] != "b@x.cn":
        assert time.monotonic() - changed < 0.5 + 0.3, "not seen within CONFIG_MAX_STALENESS_SECONDS"
        eventlet.sleep(0.01)
    lookups = 0
    until = time.monotonic() + 1.5
    while time.monotonic() < until:  # a lookup every 10 ms: reads once per period, not per lookup
        mine.recipient("person", "li.na")
        lookups += 1
        eventlet.sleep(0.01)
    assert lookups > 50 and mine.config.revision_reads - reads <= 1 + 1.5 / 0.5 + 1


@pytest.mark.parametrize("value", [-1, "soon", "nan"])
def test_config_max_staleness_must_be_a_number_of_seconds(db, value):
    from nameko import config

    from services.notify.store import NotifyStore

    with config.patch({"CONFIG_MAX_STALENESS_SECONDS": value}), pytest.raises(ValueError) as caught:
        NotifyStore(db)
    assert "CONFIG_MAX_STALENESS_SECONDS" in str(caught.value)


def test_config_cache_never_lets_an_older_load_replace_a_newer_one(db):
    """A load that started before a change must not win over one that started after it."""
    import eventlet.event

    from services.common.mongo import ConfigCache

    gate, calls = eventlet.event.Event(), []

    def load():
        calls.append(1)
        if len(calls) == 1:
            gate.wait()  # the first load is slow: it finishes last
            return "old"
        return "new"

    cache = ConfigCache(db, load)
    slow = eventlet.spawn(cache.get)
    while not calls:
        eventlet.sleep(0.01)
    cache.bump()  # the directory changed while the first load ran
    assert cache.get() == "new"
    gate.send()
    assert slow.wait() == "new" and cache.get() == "new"


def test_config_cache_answers_a_lookup_after_a_change_from_a_read_that_started_after_it(db):
    """A lookup after a change never answers from the value before it while a reload runs."""
    import eventlet.event

    from services.common.mongo import ConfigCache

    gate, calls = eventlet.event.Event(), []

    def load():
        calls.append(1)
        if len(calls) == 2:
            gate.wait()  # the reload after the change is slow
        return "v0" if len(calls) == 1 else "v1"

    cache = ConfigCache(db, load)
    assert cache.get() == "v0"
    cache.bump()  # another request changed the directory
    slow = eventlet.spawn(cache.get)  # a timer's worker reloads first, slowly
    while len(calls) < 2:
        eventlet.sleep(0.01)
    assert cache.get() == "v1"  # the message's own lookup does not take the old value meanwhile
    gate.send()
    assert slow.wait() == "v1"


def test_rate_tokens_taken_at_once_are_each_counted_and_none_lost_to_a_race(mongo_client, db_prefix):
    """A batch's deliveries to one webhook take tokens concurrently: exactly the burst goes
    now, the rest are told how long to wait, and no sender gives up on a lost race."""
    from services.notify.store import NotifyStore

    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    now = 1_000.0
    pool = eventlet.GreenPool(20)
    waits = list(pool.imap(lambda _: store.take_token("webhook|h", 1.0, 5, now), range(20)))
    assert sorted(waits)[:5] == [0.0] * 5 and all(w > 0 for w in sorted(waits)[5:])
    assert store.db.rate_buckets.find_one({"_id": "webhook|h"})["tat"] == now + 5.0
    assert store.take_token("webhook|h", 1.0, 5, now + 1.0) == 0.0  # one interval later, one more
    assert store.take_token("webhook|h", 1.0, 5, now + 1.0) == 1.0


def test_tokens_for_a_batch_are_taken_at_once_when_they_fit_and_one_by_one_when_not(mongo_client, db_prefix):
    from services.notify.store import NotifyStore

    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    now = 1_000.0
    assert store.take_tokens("webhook|b", 4, 1.0, 10, now) == (4, 0.0)  # one move of four
    assert store.db.rate_buckets.find_one({"_id": "webhook|b"})["tat"] == now + 4.0
    granted, wait = store.take_tokens("webhook|b", 8, 1.0, 10, now)  # 6 of 8 fit: one by one
    assert granted == 6 and wait > 0
    assert store.db.rate_buckets.find_one({"_id": "webhook|b"})["tat"] == now + 10.0
    assert store.take_tokens("webhook|b", 3, 1.0, 10, now) == (0, 1.0)
    # racing batches of mixed sizes never get more than the burst between them
    pool = eventlet.GreenPool(12)
    got = list(pool.imap(lambda n: store.take_tokens("webhook|r", n, 1.0, 20, now)[0], [1, 3, 5, 7] * 3))
    assert sum(got) == 20


def test_inbox_documents_are_found_by_id_and_older_ones_by_their_fields(db):
    """Claims are read and written by ``_id`` (the key); documents written before keys
    became ids (ObjectId ``_id``) are still honoured: done stays done, an expired
    lease is taken over and marked done in place."""
    box = Inbox(db.inbox, ("source", "event_id"))
    db.inbox.create_indexes([box.index()])
    new = {"source": "app", "event_id": "e1"}
    assert box.claim_many([new]).fresh == [0]
    box.done_many([new])
    assert db.inbox.find_one({"_id": box.key_id(new)})["state"] == "done"
    db.inbox.insert_many(
        [
            {"source": "app", "event_id": "old-done", "state": "done", "lease_until": 0},
            {"source": "app", "event_id": "old-dead", "state": "processing", "lease_until": 1.0},
        ]
    )
    old_done, old_dead = ({"source": "app", "event_id": e} for e in ("old-done", "old-dead"))
    claim = box.claim_many([new, old_done, old_dead])
    assert (claim.fresh, claim.done, claim.busy) == ([2], [0, 1], [])
    box.done_many([old_dead])
    assert db.inbox.find_one({"event_id": "old-dead"})["state"] == "done"
    assert db.inbox.count_documents({}) == 3  # no second document for an older key
    assert box.claim(old_dead) is False
