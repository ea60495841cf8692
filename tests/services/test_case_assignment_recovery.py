"""Assignment after a crash: a redelivered alert takes its round-robin turn once;
agent loads that drifted are recounted from the open cases."""

import pytest

from tests.services.cases_desk import make_desk
from tests.services.test_cases import T0, by_strategy


@pytest.fixture
def desk(mongo_client, db_prefix):
    return make_desk(mongo_client[f"{db_prefix}cases"], T0, escalation=False)


def crash_once(store, method):
    """The worker dies inside ``method`` once (after the round-robin pick was taken)."""
    real = getattr(store, method)

    def dying(*args, **kwargs):
        setattr(store, method, real)
        raise RuntimeError("worker killed")

    setattr(store, method, dying)


def test_a_redelivered_alert_takes_its_round_robin_turn_once(desk):
    crash_once(desk.store, "transition")
    with pytest.raises(RuntimeError):
        desk.handle_alert_raised(by_strategy(1, sid="logistics-rotation"))
    assert desk.list_cases()[0]["status"] == "open"  # opened, not yet assigned
    desk.handle_alert_raised(by_strategy(1, sid="logistics-rotation"))  # the broker redelivers
    desk.handle_alert_raised(by_strategy(2, sid="logistics-rotation"))
    desk.handle_alert_raised(by_strategy(3, sid="logistics-rotation"))
    owners = {c["customer"]["id"]: c["assignee"]["id"] for c in desk.list_cases()}
    assert owners == {"C1": "li.na", "C2": "zhao.min", "C3": "li.na"}  # the rotation did not skip
    assert desk.store.db.turns.find_one({"_id": "logistics-rotation"})["picks"] == {}  # picks used up


def loads(worker):
    return {a["id"]: a["load"] for a in worker.list_agents()["agents"]}


def test_recount_repairs_loads_that_drifted_in_a_crash(desk):
    for n in range(1, 4):
        desk.handle_alert_raised(by_strategy(n, level="P2"))  # care-balanced: 4 each
    before = loads(desk)
    assert sum(before.values()) == 12
    db = desk.store.db
    # a worker charged chen.jie and died before the case was assigned
    db.agent_load.update_one({"_id": "chen.jie"}, {"$inc": {"load": 4}})
    # another resolved a case and died before releasing its owner's load
    case = desk.list_cases(customer="C1")[0]
    desk.resolve({"case_id": case["_id"], "by": "x", "root_cause": "other", "first_contact_resolution": True})
    owner = case["assignee"]["id"]
    db.cases.update_one({"_id": case["_id"]}, {"$set": {"load_holder": owner}})
    db.agent_load.update_one({"_id": owner}, {"$inc": {"load": 4}})
    # and a case assigned by hand lost its charge altogether
    db.cases.update_one({"_id": desk.list_cases(customer="C2")[0]["_id"]}, {"$set": {"load_holder": ""}})

    result = desk.recount_loads()
    assert result["cases_fixed"] == 2
    expected = {**before, owner: before[owner] - 4}
    assert loads(desk) == expected
    assert desk.recount_loads() == {"cases_fixed": 0, "loads_changed": {}}  # nothing left to fix


def broker_dies_once(desk) -> list:
    """The first ``notification_requested`` publish fails as a lost broker connection;
    returns the list that records the rest (and a "failed" marker)."""
    sent = []

    def dispatch(name, payload):
        if name == "notification_requested" and "failed" not in sent:
            sent.append("failed")
            raise ConnectionError("broker connection lost")
        sent.append((name, payload))

    desk.dispatch.side_effect = dispatch
    return sent


def published(sent):
    return [x for x in sent if isinstance(x, tuple)]


def test_an_assignment_whose_announcement_died_is_announced_again_on_redelivery(desk):
    """The broker (or store) went away after the assignment was stored and before
    its notification was published: the redelivered alert must not find the case
    assigned and stay silent, or the owner never hears of it."""
    sent = broker_dies_once(desk)
    with pytest.raises(ConnectionError):
        desk.handle_alert_raised(by_strategy(1, sid="logistics-rotation"))
    case = desk.list_cases()[0]
    assert case["status"] == "assigned"  # stored before the publish failed
    first = [p for name, p in published(sent) if name == "case_status_changed"]

    desk.now.advance(seconds=30)  # the redelivery comes later: the replay keeps the first times
    desk.handle_alert_raised(by_strategy(1, sid="logistics-rotation"))  # the broker redelivers
    notes = [p for name, p in published(sent) if name == "notification_requested"]
    assert len(notes) == 1
    assert notes[0]["kind"] == "case_assigned"
    assert notes[0]["recipient"] == case["assignee"]
    owner = case["assignee"]["id"]
    assert notes[0]["notification_id"] == f"{case['_id']}:assigned:r{case['rev']}:person:{owner}"
    # the replayed status change carries the stored time, so profiles drop the copy
    changes = [p for name, p in published(sent) if name == "case_status_changed"]
    assert len(changes) == len(first) + 1
    assert {c["changed_at"] for c in changes} == {first[0]["changed_at"]}

    desk.handle_alert_raised(by_strategy(1, sid="logistics-rotation"))  # done now: nothing more
    assert len([p for name, p in published(sent) if name == "notification_requested"]) == 1


def test_a_case_reassigned_by_hand_is_not_announced_again(desk):
    desk.handle_alert_raised(by_strategy(1, sid="logistics-rotation"))
    case = desk.list_cases()[0]
    desk.reassign({"case_id": case["_id"], "assignee": {"kind": "person", "id": "zhao.min"},
                   "by": "wang.fang", "reason": "speaks the customer's dialect"})  # fmt: skip
    desk.dispatch.reset_mock()
    desk._replay_assignment_on_open(desk.store.get_case(case["_id"]))
    assert desk.dispatch.call_count == 0


def test_a_reopen_whose_announcement_died_is_announced_again_on_redelivery(desk):
    from tests.services.test_cases import alert

    desk.handle_alert_raised(alert(1))
    [case] = desk.list_cases()
    done = {"root_cause": "other", "first_contact_resolution": True}
    desk.resolve({"case_id": case["_id"], "by": "li.na", **done})
    desk.now.advance(hours=2)
    sent = broker_dies_once(desk)
    with pytest.raises(ConnectionError):
        desk.handle_alert_raised(alert(2))
    assert desk.get_case(case["_id"])["status"] == "reopened"
    desk.now.advance(seconds=30)  # the redelivery comes later: the replay keeps the first times
    desk.handle_alert_raised(alert(2))
    again = desk.get_case(case["_id"])
    notes = [p for name, p in published(sent) if name == "notification_requested"]
    assert [(n["kind"], n["context"]["update"]) for n in notes] == [("case_update", "reopened")]
    assert notes[0]["notification_id"].startswith(f"{case['_id']}:reopened:r{again['rev']}:")
    changes = [p for name, p in published(sent) if name == "case_status_changed"]
    assert {(c["from_status"], c["to_status"]) for c in changes} == {("resolved", "reopened")}
    assert len({c["changed_at"] for c in changes}) == 1  # profiles drop the copy
    assert len(again["alerts"]) == 2

    desk.handle_alert_raised(alert(3))  # a later alert only attaches: no replay
    assert len([p for name, p in published(sent) if name == "notification_requested"]) == 1
