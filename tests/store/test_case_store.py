"""The case store on the real MongoDB: one open case per key under concurrency,
revision-conditional transitions."""

from datetime import UTC, datetime, timedelta

import eventlet

from services.cases.lifecycle import InvalidTransition, new_case, open_key
from services.cases.store import CaseStore

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def alert(n, customer="C1", rule="r1"):
    return {
        "alert_id": f"AL-{customer}-{rule}-{n}",
        "level": "P2",
        "rule": {"id": rule, "version": 1, "name": "rule"},
        "owner": {"kind": "person", "id": "li.na"},
        "channels": ["email"],
        "customer": {"id": customer, "name": "张三"},
        "event": {"source": "app", "event_id": f"e{n}", "channel": "app", "occurred_at": NOW},
        "trace": [],
    }


def test_concurrent_alerts_for_one_customer_and_topic_open_one_case(db):
    store = CaseStore(db)
    store.ensure_indexes()
    alerts = [alert(n) for n in range(12)] + [alert(n, customer="C2") for n in range(4)]
    pool = eventlet.GreenPool(16)
    results = list(pool.imap(lambda a: store.cases.intake(a, open_key(a), NOW, 3600), alerts))
    outcomes = sorted(o for o, _ in results)
    assert outcomes.count("opened") == 2 and outcomes.count("attached") == 14
    cases = {c["customer"]["id"]: c for c in db.cases.find()}
    assert set(cases) == {"C1", "C2"}
    assert len(cases["C1"]["alerts"]) == 12 and len(cases["C2"]["alerts"]) == 4
    assert db.case_audit.count_documents({"action": "alert_attached"}) == 14


def test_intake_is_idempotent_for_a_redelivered_alert(db):
    store = CaseStore(db)
    store.ensure_indexes()
    a = alert(1)
    assert store.cases.intake(a, open_key(a), NOW, 3600)[0] == "opened"
    assert store.cases.intake(a, open_key(a), NOW, 3600)[0] == "opened"
    b = alert(2)
    store.cases.intake(b, open_key(b), NOW, 3600)
    store.cases.intake(b, open_key(b), NOW, 3600)
    assert db.cases.count_documents({}) == 1
    assert db.case_audit.count_documents({"action": "alert_attached"}) == 1


def test_concurrent_transitions_from_one_state_let_exactly_one_win(db):
    store = CaseStore(db)
    store.ensure_indexes()
    a = alert(1)
    _, case = store.cases.intake(a, open_key(a), NOW, 3600)
    store.cases.transition(case["_id"], "assign", by="x", why="", now=NOW)
    store.cases.transition(case["_id"], "start", by="x", why="", now=NOW)

    def resolve_then_close(n):
        try:
            store.cases.transition(case["_id"], "resolve", by=f"agent{n}", why="", now=NOW)
            return "won"
        except InvalidTransition:
            return "rejected"

    results = list(eventlet.GreenPool(10).imap(resolve_then_close, range(10)))
    assert results.count("won") == 1 and results.count("rejected") == 9
    assert db.case_audit.count_documents({"action": "resolved"}) == 1
    assert store.cases.get_case(case["_id"])["rev"] == 3


def test_a_resolved_key_reopens_inside_the_window_and_is_taken_over_after_it(db):
    store = CaseStore(db)
    store.ensure_indexes()
    a = alert(1)
    _, case = store.cases.intake(a, open_key(a), NOW, 3600)
    store.cases.transition(case["_id"], "assign", by="x", why="", now=NOW)
    _, after = store.cases.transition(case["_id"], "resolve", by="x", why="", now=NOW)
    store.cases.sync_key(after, NOW)
    b = alert(2)
    outcome, same = store.cases.intake(b, open_key(b), NOW + timedelta(minutes=59), 3600)
    assert outcome == "reopen" and same["_id"] == case["_id"]
    c = alert(3)
    outcome, new = store.cases.intake(c, open_key(c), NOW + timedelta(minutes=61), 3600)
    assert outcome == "opened" and new["_id"] != case["_id"]
    assert db.open_keys.find_one({"_id": open_key(a)})["case_id"] == new["_id"]


POOL = [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]


def test_round_robin_turns_are_atomic_under_green_threads(db):
    store = CaseStore(db)
    turns = list(eventlet.GreenPool(20).imap(lambda n: store.loads.next_turn("rr", f"case-{n}"), range(40)))
    assert sorted(turns) == list(range(40))
    # the same pick asked again (a redelivered alert), even concurrently, gets its turn back
    again = list(eventlet.GreenPool(10).imap(lambda _: store.loads.next_turn("rr", "case-7"), range(10)))
    assert again == [turns[7]] * 10 and store.loads.peek_turn("rr", "case-7") == turns[7]
    store.loads.forget_pick("rr", "case-7")  # once the assignment is stored, a new pick takes a new turn
    assert store.loads.peek_turn("rr", "case-7") == 40 and store.loads.next_turn("rr", "case-7") == 40


def test_least_loaded_charges_are_atomic_under_green_threads(db):
    from services.cases.assignment import least_loaded_pick

    store = CaseStore(db)
    picks = list(
        eventlet.GreenPool(20).imap(
            lambda n: store.loads.charge_least_loaded(POOL, 3, least_loaded_pick, f"case-{n}@r0", 1.0).agent,
            range(40),
        )
    )
    assert {a: picks.count(a) for a in "abcd"} == {"a": 10, "b": 10, "c": 10, "d": 10}
    assert store.loads.loads(["a", "b", "c", "d"]) == {"a": 30, "b": 30, "c": 30, "d": 30}


def test_a_least_loaded_pick_is_charged_once_however_often_it_is_asked_for(db):
    """A redelivered alert asks again for the pick its first attempt charged: it gets
    that charge back (renewed), even when the copies run at once; settling or
    refunding it happens once."""
    from services.cases.assignment import least_loaded_pick

    store = CaseStore(db)
    first = store.loads.charge_least_loaded(POOL, 4, least_loaded_pick, "case-1@r0", 1.0)
    again = list(
        eventlet.GreenPool(10).imap(
            lambda _: store.loads.charge_least_loaded(POOL, 4, least_loaded_pick, "case-1@r0", 2.0), range(10)
        )
    )
    assert again == [first] * 10
    assert store.loads.loads(["a", "b", "c", "d"]) == {"a": 4, "b": 0, "c": 0, "d": 0}
    doc = db.agent_load.find_one({"_id": first.agent})
    assert list(doc["charges"].values()) == [{"weight": 4, "epoch": 2.0}]  # in flight again
    store.loads.refund(first)
    store.loads.refund(first)  # a second refund of the same charge gives nothing back
    assert store.loads.loads(["a"]) == {"a": 0}
    second = store.loads.charge_least_loaded(POOL, 4, least_loaded_pick, "case-2@r0", 3.0)
    store.loads.settle(second)
    store.loads.settle(second)
    assert store.loads.loads(["a"]) == {"a": 4} and db.agent_load.find_one({"_id": "a"})["charges"] == {}


def test_a_batch_opens_the_cases_of_free_topics_together_and_leaves_the_rest(db):
    store = CaseStore(db)
    store.ensure_indexes()
    held = alert(1, customer="C1")
    assert store.cases.intake(held, open_key(held), NOW, 3600)[0] == "opened"
    batch = [
        alert(2, customer="C2"),  # a free topic: opened here
        alert(3, customer="C3"),  # a free topic...
        alert(4, customer="C3"),  # ...and a second alert on it in the same batch: left
        alert(5, customer="C1"),  # the topic of an open case: left (intake attaches it)
        held,  # a redelivery of the alert that opened C1's case: left (intake finds it)
    ]
    opened = store.cases.open_many(
        [(open_key(a), {**new_case(a, NOW, open_key(a)), "team": "care"}) for a in batch]
    )
    assert sorted(opened) == [0, 1]
    assert opened[0]["status"] == "open" and opened[0]["team"] == "care"
    assert store.cases.get_case(opened[1]["_id"]) is not None
    assert [store.cases.intake(a, open_key(a), NOW, 3600)[0] for a in batch[2:]] == [
        "attached",
        "attached",
        "opened",
    ]
    assert db.cases.count_documents({}) == 3
    assert (
        store.cases.open_many([(open_key(a), new_case(a, NOW, open_key(a))) for a in batch[:2]]) == {}
    )  # redelivered
