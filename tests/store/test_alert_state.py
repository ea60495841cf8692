"""The alerts engine on the real store: windows, dedup, throttle, replays and races."""

import uuid
from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.alerts.engine import Engine
from services.alerts.rules import load_rules
from services.alerts.store import AlertStore
from services.common.mongo import make_client
from tests.conftest import MONGO_URI

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
def store(db):
    s = AlertStore(db)
    s.ensure_indexes()
    return s


def rule(when, rule_id=None, **extra):
    doc = {
        "id": rule_id or f"r-{uuid.uuid4().hex[:8]}",
        "name": "R",
        "level": "P2",
        "owner": {"kind": "person", "id": "li.na"},
        "channels": ["email"],
        "when": when,
        **extra,
    }
    return dict(load_rules([doc])[0], version=1)


def ev(n, customer="C1", hours=0.0, **extra):
    return {
        "source": "app",
        "event_id": f"e{n}",
        "occurred_at": T0 + timedelta(hours=hours),
        "customer": {"id": customer},
        "channel": "app",
        **extra,
    }


LOW_NPS = {"field": "scores.nps", "op": "lte", "value": 6}
COMPLAINTS = {
    "window": {
        "count": {
            "at_least": 3,
            "within": "7d",
            "where": {"field": "text", "op": "contains_any", "value": ["投诉"]},
        }
    }
}


def test_count_window_on_stored_state_survives_replays(store):
    r = rule(COMPLAINTS)
    engine = Engine(store.state)
    for n, day in ((1, 0), (2, 2)):
        assert engine.process([r], ev(n, hours=24 * day, text="我要投诉"), NOW) == []
        assert engine.process([r], ev(n, hours=24 * day, text="我要投诉"), NOW) == []  # redelivered
    [o] = engine.process([r], ev(3, hours=24 * 5, text="再投诉一次"), NOW)
    assert o.outcome == "raised" and o.trace[0]["actual"]["count"] == 3
    assert sum(len(w["entries"]) for w in store.db.windows.find()) == 3  # one document, three events
    # A fresh engine (a restarted worker) reads the same state: the next one attaches.
    [o2] = Engine(store.state).process([r], ev(4, hours=24 * 5.5, text="投诉"), NOW)
    assert o2.outcome == "attached" and store.alerts.get_alert(o.alert_id)["count"] == 2


def test_score_drop_on_stored_state(store):
    r = rule({"window": {"score_drop": {"score": "nps", "by": 5, "within": "30d"}}})
    engine = Engine(store.state)
    engine.process([r], ev(1, scores={"nps": 9}), NOW)
    engine.process([r], ev(2, hours=48, scores={"nps": 10}), NOW)
    [o] = engine.process([r], ev(3, hours=96, scores={"nps": 3}), NOW)
    assert o.trace[0]["actual"] == {
        "score": "nps",
        "current": 3,
        "within": "30d",
        "previous_events": 2,
        "average": 9.5,
        "drop": 6.5,
    }
    # replaying the dropped score does not count it as its own history
    assert [x.outcome for x in engine.process([r], ev(3, hours=96, scores={"nps": 3}), NOW)] == ["raised"]


def test_first_contact_on_stored_state(store):
    r = rule({"field": "is_first_contact", "op": "eq", "value": True}, dedup={"cooldown": "1s"})
    engine = Engine(store.state)
    assert [o.outcome for o in engine.process([r], ev(1), NOW)] == ["raised"]
    assert engine.process([r], ev(2, hours=1), NOW) == []
    assert [o.outcome for o in engine.process([r], ev(1), NOW)] == ["raised"]  # replay: still first
    assert (
        store.state.register_customer("C1", "app\x1fe3") is False
        and store.state.first_event("C1") == "app\x1fe1"
    )


def test_throttle_and_suppressed_counts(store):
    r = rule(LOW_NPS, throttle={"max_alerts": 2, "per": "1h"})
    engine = Engine(store.state)
    outs = [engine.process([r], ev(n, customer=f"C{n}", scores={"nps": 1}), NOW)[0].outcome for n in range(4)]
    assert outs == ["raised", "raised", "suppressed", "suppressed"]
    assert engine.process([r], ev(3, customer="C3", scores={"nps": 1}), NOW)[0].outcome == "suppressed"
    assert store.alerts.suppressed_counts() == {r["id"]: 2}
    assert store.stats()["suppressed_by_rule"] == {r["id"]: 2}
    assert len(store.alerts.list_suppressed(r["id"])) == 2


def test_a_crash_between_claim_and_alert_is_finished_by_the_redelivery(store):
    r = rule(LOW_NPS)
    event = ev(1, scores={"nps": 2})
    engine = Engine(store.state)
    # step 1 of _settle happened, then the worker died
    from services.alerts.engine import dedup_key
    from services.alerts.evaluate import alert_id_for

    store.state.claim_dedup(dedup_key(r, event, engine.facts(event)), alert_id_for(r["id"], event), 0, 10**12)
    [o] = engine.process([r], event, NOW)
    assert o.outcome == "raised" and store.alerts.get_alert(o.alert_id)["count"] == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hours=st.lists(st.floats(min_value=0, max_value=23), min_size=1, max_size=8),
    replays=st.lists(st.integers(min_value=0, max_value=7), max_size=4),
)
def test_property_identical_events_in_a_cooldown_make_one_alert_on_the_real_store(store, hours, replays):
    r = rule(LOW_NPS, dedup={"cooldown": "24h"})
    engine = Engine(store.state)
    events = [ev(i, hours=h - min(hours), scores={"nps": 3}) for i, h in enumerate(hours)]
    for event in events + [events[i] for i in replays if i < len(events)]:
        engine.process([r], event, NOW)
    [alert] = list(store.db.alerts.find({"rule.id": r["id"]}))
    assert alert["count"] == len(events)


def test_concurrent_near_identical_events_on_two_workers_make_exactly_one_alert(store, db):
    """20 green threads, two 'workers' (two clients), all at once: one alert, every match counted."""
    r = rule(LOW_NPS, dedup={"cooldown": "1d"})
    other_client = make_client(MONGO_URI)
    try:
        workers = [Engine(store.state), Engine(AlertStore(other_client[db.name]).state)]
        start = eventlet.event.Event()

        def run(n):
            start.wait()
            return workers[n % 2].process([r], ev(n, hours=n / 100, scores={"nps": n % 7}), NOW)[0].outcome

        pool = eventlet.GreenPool(20)
        threads = [pool.spawn(run, n) for n in range(20)]
        eventlet.sleep(0)
        start.send()
        outcomes = [t.wait() for t in threads]
        # the same event on both workers at once, too
        twins = [pool.spawn(workers[i].process, [r], ev(0, scores={"nps": 0}), NOW) for i in (0, 1)]
        [t.wait() for t in twins]
    finally:
        other_client.close()
    assert outcomes.count("raised") == 1 and outcomes.count("attached") == 19
    [alert] = list(store.db.alerts.find({"rule.id": r["id"]}))
    assert alert["count"] == 20


NO_RESPONSE = {
    "window": {"no_response": {"after": {"field": "is_detractor", "op": "eq", "value": True}, "within": "2h"}}
}


def test_due_deadlines_are_claimed_once_across_workers_and_answered_ones_never_fire(store, db):
    r = rule(NO_RESPONSE, dedup={"cooldown": "1s"})
    engine = Engine(store.state)
    for n in range(6):
        engine.process([r], ev(n, customer=f"C{n}", scores={"nps": 1}), NOW)
    engine.process([r], ev(0, customer="C0", scores={"nps": 1}), NOW)  # replay
    assert store.db.deadlines.count_documents({}) == 6
    assert engine.respond("C5", T0 + timedelta(minutes=30)) == 1
    other_client = make_client(MONGO_URI)
    try:
        workers = [Engine(store.state), Engine(AlertStore(other_client[db.name]).state)]
        pool = eventlet.GreenPool(4)
        at = T0 + timedelta(hours=3)
        runs = [pool.spawn(workers[i % 2].fire_due, [r], at, 2) for i in range(4)]
        outcomes = [o for t in runs for o in t.wait()]
        outcomes += workers[0].fire_due([r], at)  # whatever the small batches left
    finally:
        other_client.close()
    assert sorted(o.outcome for o in outcomes) == ["raised"] * 5
    assert store.db.alerts.count_documents({"rule.id": r["id"]}) == 5
    assert store.db.deadlines.count_documents({"state": "fired"}) == 5


def test_rule_index_follows_changes_made_by_another_replica(db):
    """Another replica's change applies once its signal arrived (``invalidate``, what
    services/common/config_signal.py does on receipt), with no rules_meta read per event."""
    from nameko import config

    with config.patch({"CONFIG_MAX_STALENESS_SECONDS": 3600}):  # no periodic read in this test
        mine, other = AlertStore(db), AlertStore(db)
    mine.ensure_indexes()
    mine, other = mine.rules, other.rules  # the rules of each replica's store
    first = rule(LOW_NPS, rule_id="low-nps")
    mine.write_version(first, "t", "created", None)
    index = other.rule_index()
    assert [r["id"] for r in index.rules] == ["low-nps"]
    reads = other.rule_cache.revision_reads
    assert all(other.rule_index() is index for _ in range(10))  # unchanged rules: the cached index
    assert other.rule_cache.revision_reads == reads  # and no revision read
    mine.write_version(rule(COMPLAINTS, rule_id="complaints"), "t", "created", None)
    assert [r["id"] for r in mine.rule_index().rules] == ["complaints", "low-nps"]  # the writer: at once
    assert other.rule_index() is index  # the signal has not arrived
    other.rule_cache.invalidate()
    assert [r["id"] for r in other.rule_index().rules] == ["complaints", "low-nps"]
    mine.soft_delete(dict(first, enabled=False), "t")
    other.rule_cache.invalidate()
    assert [r["id"] for r in other.rule_index().rules] == ["complaints"]
    assert other.rule_cache.revision_reads == reads + 2


def test_throttle_slots_are_never_overfilled_by_concurrent_alerts_and_a_replay_keeps_its_slot(store, db):
    other_client = make_client(MONGO_URI)
    try:
        stores = [store.state, AlertStore(other_client[db.name]).state]
        pool = eventlet.GreenPool(12)
        runs = [pool.spawn(stores[n % 2].take_throttle_slot, "r:1", 3, f"A{n}") for n in range(12)]
        won = [n for n, run in enumerate(runs) if run.wait()]
    finally:
        other_client.close()
    assert len(won) == 3
    assert all(store.state.take_throttle_slot("r:1", 3, f"A{n}") for n in won)  # replays keep theirs
    assert not store.state.take_throttle_slot("r:1", 3, "A99")
    assert store.db.throttle.find_one({"_id": "r:1"})["n"] == 3


def test_window_entries_expire_and_are_dropped_by_reads_in_batches(store):
    from services.alerts.state_store import PRUNE_AT

    for n in range(PRUNE_AT + 1):
        store.state.record_hit("w", "C1", f"e{n}", 1000.0 + n, 3600)
    [doc] = store.db.windows.find()
    # a day and a window later: all but the last have expired
    past = {f"entries.{k}.expires": 0 for k, v in doc["entries"].items() if v["key"] != f"e{PRUNE_AT}"}
    store.db.windows.update_one({"_id": doc["_id"]}, {"$set": past})
    assert store.state.hit_times("w", "C1", 0, 10**10) == {f"e{PRUNE_AT}": 1000.0 + PRUNE_AT}
    [doc] = store.db.windows.find()
    assert [v["key"] for v in doc["entries"].values()] == [f"e{PRUNE_AT}"]  # dropped by that read


def test_concurrent_hits_for_one_customer_complete_a_count_window_exactly_once(store, db):
    """Three complaints at once (green threads, two workers, no partition lanes) for a
    "3 in 7 days" window: exactly one of them sees the window complete, as if serial."""
    r = rule(COMPLAINTS)
    other_client = make_client(MONGO_URI)
    try:
        workers = [Engine(store.state), Engine(AlertStore(other_client[db.name]).state)]
        pool = eventlet.GreenPool(12)
        for customer in ("C1", "C2", "C3", "C4"):
            start = eventlet.event.Event()

            def run(n, customer=customer, start=start):
                start.wait()
                event = ev(n, customer=customer, hours=n, text="我要投诉")
                return [o.outcome for o in workers[n % 2].process([r], event, NOW)]

            threads = [pool.spawn(run, n) for n in range(3)]
            eventlet.sleep(0)
            start.send()
            outcomes = sorted(o for t in threads for o in t.wait())
            assert outcomes == ["raised"], customer
    finally:
        other_client.close()


def test_concurrent_record_hits_each_see_the_window_as_of_their_own_write(store, db):
    """record_hit returns the window in the same atomic update: writers racing on one
    (window, customer) see 1, 2, ... n hits, never another's later one, and none is lost."""
    other_client = make_client(MONGO_URI)
    try:
        stores = [store.state, AlertStore(other_client[db.name]).state]
        start = eventlet.event.Event()

        def run(n):
            start.wait()
            return stores[n % 2].record_hit("w", "C1", f"app\x1fe{n}", 1000.0 + n, 3600)

        pool = eventlet.GreenPool(10)
        threads = [pool.spawn(run, n) for n in range(10)]
        eventlet.sleep(0)
        start.send()
        seen = [t.wait() for t in threads]
    finally:
        other_client.close()
    assert sorted(len(s) for s in seen) == list(range(1, 11))
    assert all(f"app\x1fe{n}" in s for n, s in enumerate(seen))
    assert len(store.state.hit_times("w", "C1", 0, 10**10)) == 10


def test_concurrent_first_alerts_of_a_period_are_not_refused_while_slots_are_free(store, db):
    """Every alert of a period with room for all of them gets a slot, even when they
    race to create the period's bucket (a failed take never reads "full" from a
    bucket another alert has just created)."""
    other_client = make_client(MONGO_URI)
    try:
        stores = [store.state, AlertStore(other_client[db.name]).state]
        for period in range(30):
            start = eventlet.event.Event()

            def take(n, bucket=f"r:{period}", start=start):
                start.wait()
                return stores[n % 2].take_throttle_slot(bucket, 8, f"A{n}")

            pool = eventlet.GreenPool(8)
            runs = [pool.spawn(take, n) for n in range(8)]
            eventlet.sleep(0)
            start.send()
            assert [run.wait() for run in runs] == [True] * 8, period
    finally:
        other_client.close()
    assert [doc["n"] for doc in store.db.throttle.find()] == [8] * 30


class _ReleasedInBetween:
    """The real database; once, right after a failed dedup claim, another worker's
    real release of the open alert lands (an interleaving a race can produce)."""

    def __init__(self, db, release):
        self.db, self.release = db, release

    def __getattr__(self, name):
        return self if name == "dedup" else getattr(self.db, name)

    def __getitem__(self, name):
        return self if name == "dedup" else self.db[name]

    def find_one(self, *args, **kwargs):
        return self.db.dedup.find_one(*args, **kwargs)

    def insert_one(self, *args, **kwargs):
        return self.db.dedup.insert_one(*args, **kwargs)

    def update_one(self, *args, **kwargs):
        result = self.db.dedup.update_one(*args, **kwargs)
        if not result.matched_count and self.release:
            self.release, release = None, self.release
            release()
        return result


def test_a_claim_never_returns_an_owner_released_after_the_claim_failed(store, db):
    """A throttled alert releases its dedup key; a concurrent match whose claim had
    failed just before must then claim the key, not attach to the alert that never was."""
    store.state.claim_dedup("k", "A", 100.0, 10_000.0)
    other = AlertStore(_ReleasedInBetween(db, lambda: store.state.release_dedup("k", "A")))
    assert other.state.claim_dedup("k", "B", 200.0, 10_000.0) == "B"
    assert db.dedup.find_one({"_id": "k"})["alert_id"] == "B"


def test_stats_count_only_the_alerts_and_suppressed_matches_of_the_period(store):
    """Alerts raised by the engine on the real store on three days: the figures follow
    the period, bounds included at the start and excluded at the end."""
    low = rule(LOW_NPS, rule_id="low-nps", throttle={"max_alerts": 1, "per": "1h"})
    urgent = rule(LOW_NPS, rule_id="urgent", level="P1")
    days = [NOW - timedelta(days=10), NOW - timedelta(days=3), NOW]
    engine, started = Engine(store.state), datetime.now(UTC)
    for n, raised_at in enumerate(days):
        for i in (0, 1):  # the second customer's match is throttled on low-nps
            event = ev(2 * n + i, customer=f"C{n}{i}", hours=n, scores={"nps": 1})
            engine.process([low, urgent], event, raised_at)
    everything = store.stats()
    assert everything["by_level"] == {"P2": 3, "P1": 6} and everything["alerts"] == 9
    assert everything["period"] == {"since": None, "until": None}
    recent = store.stats(since=days[1], until=days[2])
    assert recent["alerts"] == 3 and recent["by_level"] == {"P2": 1, "P1": 2}
    assert recent["by_rule"] == {"low-nps": 1, "urgent": 2}
    assert store.stats(since=days[1])["by_rule"] == {"low-nps": 2, "urgent": 4}
    assert store.stats(until=days[1])["by_rule"] == {"low-nps": 1, "urgent": 2}
    assert store.stats(since=NOW + timedelta(seconds=1))["alerts"] == 0
    # suppressed matches are stamped when suppressed (the clock), not when raised
    assert everything["suppressed_by_rule"] == {"low-nps": 3}
    assert store.stats(until=started)["suppressed_by_rule"] == {}
    # alerts and suppressed matches stored before the epoch twins get them at start-up
    store.db.alerts.update_many({}, {"$unset": {"raised_ts": ""}})
    store.db.suppressed.update_many({}, {"$unset": {"at_ts": ""}})
    assert store.stats(since=days[1])["alerts"] == 0
    store.ensure_indexes()
    assert store.stats(since=days[1], until=days[2]) == recent
    assert store.stats(since=started)["suppressed_by_rule"] == {"low-nps": 3}


def test_a_batch_registers_its_customers_at_once_first_events_first(mongo_client, db_prefix):
    from services.alerts.memory import MemoryState
    from services.alerts.store import AlertStore

    store = AlertStore(mongo_client[f"{db_prefix}alerts"])
    store.ensure_indexes()
    assert store.state.register_customer("C0", "e0")
    pairs = [("C1", "e1"), ("C0", "e2"), ("C1", "e3"), ("C2", "e4")]
    assert store.state.register_customers(pairs) == [True, False, False, True]
    assert store.state.first_event("C1") == "e1" and store.state.first_event("C0") == "e0"
    assert store.state.register_customers(pairs) == [False] * 4  # the batch redelivered
    memory = MemoryState()
    memory.register_customer("C0", "e0")
    assert memory.register_customers(pairs) == [True, False, False, True]  # the oracle agrees


def test_the_store_creates_the_indexes_of_every_part(store, db):
    """AlertStore ensures the indexes of each of its parts (rules, alerts, running
    state, history) and the inbox's, the TTLs that expire state among them."""

    def indexed(collection):  # (fields, TTL, unique) of each index but _id's
        found = {
            (tuple(i["key"]), i.get("expireAfterSeconds"), bool(i.get("unique")))
            for i in db[collection].list_indexes()
        }
        return found - {(("_id",), None, False)}

    assert indexed("rule_versions") == {(("rule_id", "version"), None, True)}
    assert {fields for fields, _, _ in indexed("alerts")} == {
        ("raised_at",),
        ("customer.id", "raised_at"),
        ("level",),
        ("rule.id", "raised_at"),
        ("raised_ts",),
    }
    assert indexed("suppressed") == {
        (("rule_id",), None, False),
        (("at_ts",), None, False),
        (("attached_to", "at_ts"), None, False),
    }
    assert (
        indexed("windows")
        == indexed("score_series")
        == indexed("group_buckets")
        == {(("expiry.at",), 0, False)}
    )
    assert indexed("deadlines") == {(("state", "due"), None, False), (("customer", "state"), None, False)}
    assert indexed("history") == {(("at",), None, False), (("expires_at",), 0, False)}
    assert indexed("feedback_inbox") == {(("source", "event_id"), None, True)}
