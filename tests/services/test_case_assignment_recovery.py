"""Assignment after a crash: a redelivered alert takes its round-robin turn and its
least-loaded charge once; agent loads that drifted are recounted from the open cases,
by the service's timer and by ``cxctl cases agents recount``, and a recount running
beside live assignments changes nothing."""

import time

import pytest
import yaml
from click.testing import CliRunner
from greenlet import GreenletExit
from nameko import config
from nameko.testing.services import entrypoint_hook, replace_dependencies

from cxctl.main import cli
from services.cases import assignment, intake
from services.cases.assignment import pick_key
from services.cases.service import CasesService
from services.cases.store import CaseStore
from tests.conftest import wait_until
from tests.services.cases_desk import make_desk
from tests.services.test_cases import T0, alert, by_strategy
from tests.unit.test_assignment import SAMPLE as AGENTS_SAMPLE

SETTLE = 120.0  # LOAD_SETTLE_SECONDS's default


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


def killed_once(store, method):
    """The worker is killed inside ``method`` once: GreenletExit, as when nameko kills
    a worker, so no ``except Exception`` clean-up runs (the charge is not refunded)."""
    real = getattr(store, method)

    def killed(*args, **kwargs):
        setattr(store, method, real)
        raise GreenletExit()

    setattr(store, method, killed)


def before_once(store, method, first):
    """Run ``first()`` when ``method`` is next called, then the method itself."""
    real = getattr(store, method)
    seen = []

    def hooked(*args, **kwargs):
        setattr(store, method, real)
        seen.append(first())
        return real(*args, **kwargs)

    setattr(store, method, hooked)
    return seen


def test_a_redelivered_alert_takes_its_round_robin_turn_once(desk):
    crash_once(desk.store.cases, "transition")
    with pytest.raises(RuntimeError):
        desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])
    assert desk.list_cases()[0]["status"] == "open"  # opened, not yet assigned
    desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])  # the broker redelivers
    desk.handle_alert_raised([by_strategy(2, sid="logistics-rotation")])
    desk.handle_alert_raised([by_strategy(3, sid="logistics-rotation")])
    owners = {c["customer"]["id"]: c["assignee"]["id"] for c in desk.list_cases()}
    assert owners == {"C1": "li.na", "C2": "zhao.min", "C3": "li.na"}  # the rotation did not skip
    turns = desk.store.db.turns.find_one({"_id": "logistics-rotation"})
    assert turns["turn"] == 3 and turns["picks"] == {}  # advanced once per alert; picks used up


def test_a_pick_left_by_a_crash_after_the_assignment_does_not_pin_the_case(desk):
    """The worker died after storing the assignment, before dropping its pick: the
    case's next strategy assignment (a later revision) takes a new turn."""
    crash_once(desk.store.loads, "forget_pick")
    with pytest.raises(RuntimeError):
        desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])
    desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])  # redelivered: announced again
    [case] = desk.list_cases()
    assert case["assignee"]["id"] == "li.na"  # turn 0
    strategy = {"kind": "strategy", "id": "logistics-rotation"}
    moved = desk.reassign(
        {"case_id": case["_id"], "assignee": strategy, "by": "wang.fang", "reason": "rotate"}
    )
    assert moved["assignee"]["id"] == "zhao.min"  # turn 1, not turn 0 again ("li.na already owns")
    assert desk.store.db.turns.find_one({"_id": "logistics-rotation"})["turn"] == 2


def loads(worker):
    return {a["id"]: a["load"] for a in worker.list_agents()["agents"]}


def charges(worker):
    return {d["_id"]: d["charges"] for d in worker.store.db.agent_load.find() if d.get("charges")}


def test_a_redelivered_alert_charges_its_least_loaded_pick_once(desk):
    killed_once(desk.store.cases, "transition")  # charged, then killed before the case was stored
    with pytest.raises(GreenletExit):
        desk.handle_alert_raised([by_strategy(1, level="P2")])
    assert desk.list_cases()[0]["status"] == "open"
    assert sorted(loads(desk).values())[-1] == 4  # one agent charged, nobody assigned
    desk.handle_alert_raised([by_strategy(1, level="P2")])  # the broker redelivers
    [case] = desk.list_cases()
    owner = case["assignee"]["id"]
    assert {a: n for a, n in loads(desk).items() if n} == {owner: 4}  # the first charge, not a second
    assert charges(desk) == {}  # settled: the case carries the load now


def lose_a_charge(worker):
    """What a worker that died between charging a pick and storing the case leaves:
    the store's charge step alone (as ``_pick`` runs it), for a case left unassigned."""
    worker.handle_alert_raised([alert(99, customer="C99", owner={"kind": "team", "id": "cx-care"})])
    case = worker.store.cases.get_case(worker.list_cases(customer="C99")[0]["_id"])
    strategy = worker.store.policies.strategy("care-balanced")
    pool = assignment.candidates(strategy, worker.store.policies.agents(), case).pool
    weight = assignment.weight(strategy, case["level"])
    return worker.store.loads.charge_least_loaded(
        pool, weight, assignment.least_loaded_pick, pick_key(case), worker.now().timestamp()
    )


def test_recount_drops_a_charge_lost_in_a_crash_once_it_settled(desk):
    for n in range(1, 3):
        desk.handle_alert_raised([by_strategy(n, level="P2")])
    desk.now.advance(seconds=SETTLE + 1)
    before = loads(desk)
    lost = lose_a_charge(desk)
    assert loads(desk)[lost.agent] == before[lost.agent] + 4

    # within LOAD_SETTLE_SECONDS the charge may be an assignment under way: left alone
    result = desk.recount_loads()
    assert result["loads_changed"] == {} and lost.agent in result["busy"]
    assert loads(desk)[lost.agent] == before[lost.agent] + 4

    desk.now.advance(seconds=SETTLE + 1)  # no case took it: lost
    result = desk.recount_loads()
    assert result["loads_changed"] == {lost.agent: [before[lost.agent] + 4, before[lost.agent]]}
    assert result["charges_dropped"] == 1 and result["busy"] == []
    assert loads(desk) == before and charges(desk) == {}
    assert desk.recount_loads() == {"cases_fixed": 0, "loads_changed": {}, "charges_dropped": 0, "busy": []}


def test_recount_repairs_loads_that_drifted_in_a_crash(desk):
    for n in range(1, 4):
        desk.handle_alert_raised([by_strategy(n, level="P2")])  # care-balanced: 4 each
    before = loads(desk)
    assert sum(before.values()) == 12
    db = desk.store.db
    # a worker resolved a case and died before releasing its owner's load
    case = desk.list_cases(customer="C1")[0]
    desk.resolve({"case_id": case["_id"], "by": "x", "root_cause": "other", "first_contact_resolution": True})
    owner = case["assignee"]["id"]
    db.cases.update_one({"_id": case["_id"]}, {"$set": {"load_holder": owner}})
    db.agent_load.update_one({"_id": owner}, {"$inc": {"load": 4}})
    # and a case assigned by hand lost its charge altogether
    db.cases.update_one({"_id": desk.list_cases(customer="C2")[0]["_id"]}, {"$set": {"load_holder": ""}})

    desk.now.advance(seconds=SETTLE + 1)
    result = desk.recount_loads()
    assert result["cases_fixed"] == 2
    expected = {**before, owner: before[owner] - 4}
    assert loads(desk) == expected
    assert desk.recount_loads() == {"cases_fixed": 0, "loads_changed": {}, "charges_dropped": 0, "busy": []}


NOTHING = {"cases_fixed": 0, "loads_changed": {}, "charges_dropped": 0}


def changed_nothing(result):
    return {k: result[k] for k in NOTHING} == NOTHING


def test_a_recount_between_a_charge_and_its_assignment_changes_nothing(desk):
    """The recount runs after a pick was charged and before the case is stored (it
    sees the load, not the case): it must not take the charge back."""
    desk.handle_alert_raised([by_strategy(1, level="P2")])
    desk.now.advance(seconds=SETTLE + 1)
    seen = before_once(desk.store.cases, "transition", desk.recount_loads)
    desk.handle_alert_raised([by_strategy(2, level="P2")])
    [result] = seen
    assert changed_nothing(result) and result["busy"]
    owners = {c["assignee"]["id"] for c in desk.list_cases()}
    assert {a: n for a, n in loads(desk).items() if n} == {o: 4 for o in owners}


def test_a_recount_between_a_release_and_its_load_move_changes_nothing(desk):
    """The recount runs after a resolution was stored and before the owner's load
    is released (it sees the case released, not the load): it must not release it twice."""
    desk.handle_alert_raised([by_strategy(1, level="P2")])
    desk.now.advance(seconds=SETTLE + 1)
    [case] = desk.list_cases()
    seen = before_once(desk.store.loads, "move_load", desk.recount_loads)
    desk.resolve({"case_id": case["_id"], "by": "x", "root_cause": "other", "first_contact_resolution": True})
    [result] = seen
    assert changed_nothing(result) and result["busy"] == [case["assignee"]["id"]]
    assert set(loads(desk).values()) == {0}


def test_a_recount_after_normal_operation_changes_nothing(desk):
    for n in range(1, 7):
        desk.handle_alert_raised([by_strategy(n, level="P2" if n % 2 else "P1")])
        desk.handle_alert_raised([by_strategy(n, sid="logistics-rotation", customer=f"L{n}")])
    for case in desk.list_cases(customer="C2") + desk.list_cases(customer="L3"):
        by = case["assignee"]["id"]
        desk.resolve(
            {"case_id": case["_id"], "by": by, "root_cause": "other", "first_contact_resolution": True}
        )
    case = desk.list_cases(customer="C4")[0]
    desk.reassign({"case_id": case["_id"], "assignee": {"kind": "person", "id": "wang.lei"},
                   "by": "wang.lei", "reason": "escalated"})  # fmt: skip
    before = loads(desk)
    assert sum(before.values()) > 0
    assert changed_nothing(desk.recount_loads())  # right away: everyone busy or right
    desk.now.advance(seconds=SETTLE + 1)
    assert desk.recount_loads() == {**NOTHING, "busy": []}
    assert loads(desk) == before


# the timer and the command, on a running service -------------------------------------


def start_cases(container_factory):
    container = container_factory(CasesService)
    replace_dependencies(container, "dispatch")
    container.start()
    with entrypoint_hook(container, "apply_agents") as apply_agents:
        apply_agents(yaml.safe_load(AGENTS_SAMPLE.read_text(encoding="utf-8")))
    return container


def running_loads(container):
    with entrypoint_hook(container, "list_agents") as list_agents:
        return {a["id"]: a["load"] for a in list_agents()["agents"]}


def charge_alone(store: CaseStore, weight=4):
    """The store's charge step alone (a worker died right after it), on the live service's store."""
    strategy = store.policies.strategy("care-balanced")
    pool = assignment.candidates(strategy, store.policies.agents(), {"event": {}, "customer": {}}).pool
    return store.loads.charge_least_loaded(
        pool, weight, assignment.least_loaded_pick, "CASE-lost@r0", time.time()
    )


def test_the_timer_recounts_a_charge_lost_in_a_crash(cx_config, container_factory, mongo_client, db_prefix):
    with config.patch({"LOAD_RECOUNT_SECONDS": 0.2, "LOAD_SETTLE_SECONDS": 1.0}):
        container = start_cases(container_factory)
        store = CaseStore(mongo_client[f"{db_prefix}cases"])
        lost = charge_alone(store)
        assert running_loads(container)[lost.agent] == 4
        wait_until(
            lambda: running_loads(container)[lost.agent] == 0, timeout=10, message="the timer's recount"
        )
        assert store.db.agent_load.find_one({"_id": lost.agent}).get("charges") in ({}, None)


def test_cxctl_agents_recount_repairs_and_reports(cx_config, container_factory, mongo_client, db_prefix):
    with config.patch({"LOAD_RECOUNT_SECONDS": 3600.0, "LOAD_SETTLE_SECONDS": 3.0}):
        container = start_cases(container_factory)  # the timer ran at start
        store = CaseStore(mongo_client[f"{db_prefix}cases"])
        charged_at = time.monotonic()
        lost = charge_alone(store)

        def run(*args):
            result = CliRunner().invoke(cli, ["--amqp-uri", cx_config["AMQP_URI"], *args])
            assert result.exit_code == 0, result.output
            return result.output

        out = run("cases", "agents", "recount")  # within LOAD_SETTLE_SECONDS: left alone
        assert "loads changed: 0" in out, out
        assert f"left for the next run (load moving right now): {lost.agent}" in out
        assert running_loads(container)[lost.agent] == 4
        time.sleep(max(0.0, charged_at + 3.1 - time.monotonic()))
        out = run("cases", "agents", "recount")
        assert "loads changed: 1; lost charges dropped: 1" in out and f"  {lost.agent}: 4 → 0" in out
        assert running_loads(container)[lost.agent] == 0
        assert '"loads_changed": {}' in run("cases", "agents", "recount", "--json")


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
        desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])
    case = desk.list_cases()[0]
    assert case["status"] == "assigned"  # stored before the publish failed
    first = [p for name, p in published(sent) if name == "case_opened"]

    desk.now.advance(seconds=30)  # the redelivery comes later: the replay keeps the first times
    desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])  # the broker redelivers
    notes = [p for name, p in published(sent) if name == "notification_requested"]
    assert len(notes) == 1
    assert notes[0]["kind"] == "case_assigned"
    assert notes[0]["recipient"] == case["assignee"]
    owner = case["assignee"]["id"]
    assert notes[0]["notification_id"] == f"{case['_id']}:assigned:r{case['rev']}:person:{owner}"
    # the opening's assignment rides on case_opened, replayed with the stored time, so
    # profiles drop the copy; no status change of its own
    opened = [p for name, p in published(sent) if name == "case_opened"]
    assert len(opened) == len(first) + 1 and opened[-1]["status"] == "assigned"
    assert opened[-1]["assignment"]["at"] == desk.store.cases.get_case(case["_id"])["assignment"]["at"]
    assert not [p for name, p in published(sent) if name == "case_status_changed"]

    desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])  # done now: nothing more
    assert len([p for name, p in published(sent) if name == "notification_requested"]) == 1


def test_a_case_reassigned_by_hand_is_not_announced_again(desk):
    desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])
    case = desk.list_cases()[0]
    desk.reassign({"case_id": case["_id"], "assignee": {"kind": "person", "id": "zhao.min"},
                   "by": "wang.fang", "reason": "speaks the customer's dialect"})  # fmt: skip
    desk.dispatch.reset_mock()
    intake.replay_assignment_on_open(desk.context(), desk.store.cases.get_case(case["_id"]))
    assert desk.dispatch.call_count == 0


def test_a_reopen_whose_announcement_died_is_announced_again_on_redelivery(desk):
    from tests.services.test_cases import alert

    desk.handle_alert_raised([alert(1)])
    [case] = desk.list_cases()
    done = {"root_cause": "other", "first_contact_resolution": True}
    desk.resolve({"case_id": case["_id"], "by": "li.na", **done})
    desk.now.advance(hours=2)
    sent = broker_dies_once(desk)
    with pytest.raises(ConnectionError):
        desk.handle_alert_raised([alert(2)])
    assert desk.get_case(case["_id"])["status"] == "reopened"
    desk.now.advance(seconds=30)  # the redelivery comes later: the replay keeps the first times
    desk.handle_alert_raised([alert(2)])
    again = desk.get_case(case["_id"])
    notes = [p for name, p in published(sent) if name == "notification_requested"]
    assert [(n["kind"], n["context"]["update"]) for n in notes] == [("case_update", "reopened")]
    assert notes[0]["notification_id"].startswith(f"{case['_id']}:reopened:r{again['rev']}:")
    changes = [p for name, p in published(sent) if name == "case_status_changed"]
    assert {(c["from_status"], c["to_status"]) for c in changes} == {("resolved", "reopened")}
    assert len({c["changed_at"] for c in changes}) == 1  # profiles drop the copy
    assert len(again["alerts"]) == 2

    desk.handle_alert_raised([alert(3)])  # a later alert only attaches: no replay
    assert len([p for name, p in published(sent) if name == "notification_requested"]) == 1
