"""A batch of feedback on the real store: its new alerts cost O(1) commands (one insert
of the dedup claims, one of the alerts), and the stored state and outcomes equal
those of the same events one at a time, redelivery included."""

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from services.alerts.engine import Engine
from services.alerts.store import AlertStore
from tests.commands import CommandLog
from tests.conftest import MONGO_URI
from tests.unit.test_alerts_batches import EVENTS, event, outcome_view, rules

NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
def counted(db):
    """An AlertStore on the test's database whose client counts its commands."""
    commands = CommandLog(on=False)
    client = MongoClient(MONGO_URI, tz_aware=True, event_listeners=[commands])
    store = AlertStore(client[db.name])
    store.ensure_indexes()
    yield store, commands
    client.close()


def low_nps(**extra) -> dict:
    [r] = [r for r in rules() if r["id"] == "low"]
    return {**r, "dedup": {"cooldown": "24h"}, **extra}


def detractor(n: int, customer: str, minutes: int = 0) -> dict:
    return event(n, 0, minutes, 2, "delivery") | {"customer": {"id": customer}}


def settle_commands(commands: CommandLog) -> dict:
    return {k: n for k, n in commands.counts().items() if k[1] in ("dedup", "alerts")}


def test_a_batchs_new_alerts_cost_one_claim_insert_and_one_alert_insert(counted):
    store, commands = counted
    batch = [detractor(n, f"C{n}") for n in range(12)]
    commands.on = True
    outcomes = Engine(store.state).process_many([low_nps()], batch, NOW)
    commands.on = False
    assert [o.outcome for o in outcomes] == ["raised"] * 12 and all(o.fresh for o in outcomes)
    assert settle_commands(commands) == {("insert", "dedup"): 1, ("insert", "alerts"): 1}
    assert store.db.alerts.count_documents({}) == 12


def test_a_storm_inside_a_batch_is_one_alert_written_once(counted):
    """One customer's repeats in one batch: one claim, one alert holding them all,
    no update of it; the next batch's repeats attach to it in the store."""
    store, commands = counted
    commands.on = True
    outcomes = Engine(store.state).process_many([low_nps()], [detractor(n, "C1", n) for n in range(6)], NOW)
    commands.on = False
    assert [o.outcome for o in outcomes] == ["raised"] + ["attached"] * 5
    assert settle_commands(commands) == {("insert", "dedup"): 1, ("insert", "alerts"): 1}
    [alert] = store.db.alerts.find()
    assert alert["count"] == 6 and alert["last_seen"]["event_id"] == "e5" and len(alert["hits"]) == 6
    later = Engine(store.state).process_many([low_nps()], [detractor(n, "C1", n) for n in range(6, 9)], NOW)
    assert [o.outcome for o in later] == ["attached"] * 3
    assert store.alerts.get_alert(alert["_id"])["count"] == 9


def test_a_redelivered_batch_writes_no_second_alert_and_counts_nothing_twice(counted):
    store, commands = counted
    batch = [detractor(n, f"C{n % 4}", n) for n in range(10)]  # 4 alerts, 6 repeats
    first = Engine(store.state).process_many([low_nps()], batch, NOW)
    before = sorted(store.db.alerts.find(), key=lambda a: a["_id"])
    commands.on = True
    again = Engine(store.state).process_many([low_nps()], batch, NOW)
    commands.on = False
    assert [(o.outcome, o.alert_id) for o in again] == [(o.outcome, o.alert_id) for o in first]
    assert [o.fresh for o in again if o.outcome == "raised"] == [False] * 4  # announced from the store
    assert sorted(store.db.alerts.find(), key=lambda a: a["_id"]) == before
    assert commands.counts()[("insert", "alerts")] == 1  # tried once for the lot


def test_a_crash_after_the_claims_is_finished_by_the_redelivery(store_pair):
    """The claims landed, the alerts did not (the worker died in between): the
    redelivered batch stores each alert once, holding every repeat."""
    store, _ = store_pair
    batch = [detractor(n, f"C{n % 3}", n) for n in range(9)]
    engine = Engine(store.state)

    def dies(alerts):
        raise ConnectionError("worker died")

    store.state.save_alerts = dies
    with pytest.raises(ConnectionError):
        engine.process_many([low_nps()], batch, NOW)
    assert store.db.dedup.count_documents({}) == 3 and store.db.alerts.count_documents({}) == 0
    del store.state.save_alerts  # the worker restarted
    outcomes = engine.process_many([low_nps()], batch, NOW)
    assert [o.outcome for o in outcomes] == ["raised"] * 3 + ["attached"] * 6
    assert sorted(a["count"] for a in store.db.alerts.find()) == [3, 3, 3]


@pytest.fixture
def store_pair(mongo_client, db_prefix):
    """Two empty alert stores: one for the batch, one for the events one at a time."""
    stores = [AlertStore(mongo_client[f"{db_prefix}{name}"]) for name in ("batch", "serial")]
    for store in stores:
        store.ensure_indexes()
    return stores


def stored_view(store: AlertStore) -> dict:
    """What settling wrote; the clock's stamps (suppressed ``at``) left out."""

    def rows(name, drop=()):
        return sorted(
            ({k: v for k, v in d.items() if k not in drop} for d in store.db[name].find()),
            key=lambda d: str(d["_id"]),
        )

    return {
        "alerts": rows("alerts"),
        "dedup": rows("dedup"),
        "throttle": rows("throttle"),
        "suppressed": rows("suppressed", drop=("at", "at_ts")),
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=EVENTS, before=st.integers(0, 14), repeats=st.lists(st.integers(0, 13), max_size=3))
def test_a_batch_on_the_store_writes_what_one_at_a_time_writes(mongo_client, specs, before, repeats):
    """Same scenario as the in-memory property (tests/unit/test_alerts_batches.py), on
    the real store: the documents written (alerts with their hits, dedup claims,
    throttle slots, suppressed matches) are identical, after the batch and after its
    redelivery."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    stores = [AlertStore(mongo_client[f"{prefix}{name}"]) for name in ("batch", "serial")]
    try:
        for store in stores:
            store.ensure_indexes()
        batched, serial = (Engine(s.state) for s in stores)
        events = [event(n, *spec) for n, spec in enumerate(specs)]
        earlier, batch = events[:before], events[before:]
        batch += [batch[i] for i in repeats if i < len(batch)]
        for e in earlier:
            batched.process(rules(), e, NOW)
            serial.process(rules(), e, NOW)
        for _delivery in range(2):
            one_by_one = [o for e in batch for o in serial.process(rules(), e, NOW)]
            assert outcome_view(batched.process_many(rules(), batch, NOW)) == outcome_view(one_by_one)
            assert stored_view(stores[0]) == stored_view(stores[1])
    finally:
        for store in stores:
            mongo_client.drop_database(store.db.name)
