"""A storm on the real store: matches a rule's throttle refuses are never lost. Each is
kept once and attached to its throttle period's storm alert (services/alerts/storm.py),
stored once whichever worker meets the storm first, whose ``suppressed`` count holds
them exactly, across two workers and redeliveries."""

import uuid
from datetime import UTC, datetime

import eventlet

from services.alerts import queries
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.store import AlertStore
from services.alerts.storm import bucket_of, storm_id
from services.common.mongo import make_client
from tests.conftest import MONGO_URI
from tests.unit.test_alerts_storm import T0, events, rule

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def billing_rule():
    return rule(id=f"charges-{uuid.uuid4().hex[:6]}", level="P1", throttle={"max_alerts": 2, "per": "1h"})


def storm(n):
    return events(n, prefix="s")


def test_a_storm_of_1000_matches_loses_none_across_two_workers(db):
    store = AlertStore(db)
    store.ensure_indexes()
    rule = billing_rule()
    other = make_client(MONGO_URI)
    events = storm(1000)
    batches = [events[i : i + 50] for i in range(0, 1000, 50)]
    try:
        workers = [Engine(store.state), Engine(AlertStore(other[db.name]).state)]
        pool = eventlet.GreenPool(4)
        threads = [pool.spawn(workers[n % 2].process_many, [rule], b, NOW) for n, b in enumerate(batches)]
        outcomes = [o for t in threads for o in t.wait()]
        # a redelivered batch changes nothing
        workers[1].process_many([rule], batches[3], NOW)
    finally:
        other.close()
    assert [o.outcome for o in outcomes].count("raised") == 2
    assert [o.outcome for o in outcomes].count("suppressed") == 998
    assert store.db.suppressed.count_documents({"rule_id": rule["id"]}) == 998
    alerts = list(store.db.alerts.find({"rule.id": rule["id"], "storm": {"$exists": False}}))
    assert len(alerts) == 2 and all(a.get("suppressed", 0) == 0 for a in alerts)
    [storm_alert] = list(store.db.alerts.find({"rule.id": rule["id"], "storm": {"$exists": True}}))
    assert storm_alert["_id"] == storm_id(bucket_of(rule, T0.timestamp()))
    assert store.db.suppressed.count_documents({"attached_to": storm_alert["_id"]}) == 998
    assert storm_alert["suppressed"] == 998
    assert storm_alert["group"]["key"] == {"rule": rule["id"]}
    assert storm_alert["group"]["condition"] == "storm"
    # the storm alert shows them: its count, the latest matches, the period's figures
    explained = queries.explain_alert(store, storm_alert["_id"])
    assert explained["suppressed"]["count"] == 998
    assert len(explained["suppressed"]["latest"]) == 10
    assert all(m["attached_to"] == storm_alert["_id"] for m in explained["suppressed"]["latest"])
    assert "suppressed_hits" not in explained["alert"]
    figures = explained["storm"]
    assert sorted(figures["slot_alerts"]) == sorted(a["_id"] for a in alerts)
    assert (figures["alerts"], figures["alert_matches"], figures["suppressed"]) == (2, 2, 998)
    assert figures["matches"] == 1000  # every match of the storm: none lost


def test_the_in_memory_state_attaches_suppressed_matches_the_same_way():
    state = MemoryState()
    rule = billing_rule()
    outcomes = Engine(state).process_many([rule], storm(30), NOW)
    assert [o.outcome for o in outcomes].count("suppressed") == 28
    [storm_alert] = [a for a in state.alerts.values() if a.get("storm")]
    assert storm_alert["suppressed"] == 28
    assert sum(a.get("suppressed", 0) for a in state.alerts.values()) == 28
