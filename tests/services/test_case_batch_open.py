"""A batch of alerts whose rules name their owner (a person or a team) opens its cases
already assigned: the same cases, audit, loads, escalation steps and messages as the
one-at-a-time intake with the ``assign`` transition, in a few writes for the batch."""

from datetime import UTC, datetime

import pymongo
import pytest

from contracts.messages import MAX_TAKEN_IN, schema_of
from services.cases import intake, messages
from services.cases.lifecycle import open_key
from services.cases.store import CaseStore
from services.common.mongo import jsonable
from tests.commands import CommandLog
from tests.conftest import MONGO_URI
from tests.services.cases_desk import make_desk
from tests.services.test_cases import alert, sent

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
VOLATILE = ("updated_at", "seq")  # set by the server / by the clock of the write


@pytest.fixture
def desks(db_prefix):
    listener = CommandLog()
    client = pymongo.MongoClient(MONGO_URI, tz_aware=True, event_listeners=[listener])
    batched = make_desk(client[f"{db_prefix}batched"], AT)
    single = make_desk(client[f"{db_prefix}single"], AT)
    yield batched, single, listener
    client.close()


def owned(n, owner):
    return alert(n, customer=f"C{n}", owner=owner)


def plain(doc):
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def stored(worker):
    db = worker.store.db
    return (
        [plain(c) for c in db.cases.find({}, sort=[("_id", 1)])],
        [plain(a) for a in db.case_audit.find({}, sort=[("_id", 1)])],
        [plain(a) for a in db.agent_load.find({}, sort=[("_id", 1)])],
        [plain(s) for s in db.escalation_steps.find({}, sort=[("_id", 1)])],
        sorted(db.open_keys.find({}), key=lambda k: k["_id"]),
    )


def test_a_batch_opens_owned_cases_assigned_as_the_assign_transition_would(desks):
    batched, single, listener = desks
    owners = [
        {"kind": "person", "id": "li.na"},
        {"kind": "team", "id": "cx-care"},
        {"kind": "person", "id": "li.na"},
        {"kind": "person", "id": "wang.lei"},
    ]
    alerts = [owned(n, owner) for n, owner in enumerate(owners, 1)]
    del listener.commands[:]
    batched.handle_alert_raised(alerts)
    writes = listener.writes()
    for a in alerts:  # the one-at-a-time path: intake, then the assignment transition
        intake.take_in(single.context(), a, *single_terms(single, a))

    assert stored(batched) == stored(single)
    for kind in ("case_opened", "case_assigned", "notification_requested"):
        assert sent(batched, kind) == sent(single, kind), kind
    cases = batched.store.db.cases
    assert {c["status"] for c in cases.find()} == {"assigned"}
    load = batched.store.db.agent_load.find_one({"_id": "li.na"})["load"]
    assert load == 2 * cases.find_one()["load_weight"]
    # the batch of four: inbox claim and done, open keys, cases, audit, loads, steps
    assert sorted(writes) == sorted(
        [
            ("insert", "alert_inbox"),
            ("update", "alert_inbox"),
            ("insert", "open_keys"),
            ("insert", "cases"),
            ("insert", "case_audit"),
            ("update", "agent_load"),
            ("insert", "escalation_steps"),
        ]
    )


def single_terms(worker, a):
    ctx = worker.context()
    return open_key(a, intake.open_key_topic()), intake.opening_terms(ctx, a, worker.now()), worker.now()


def test_a_redelivered_batch_changes_nothing_and_restores_lost_audit_entries(desks):
    batched, _single, _listener = desks
    alerts = [owned(n, {"kind": "person", "id": "li.na"}) for n in (1, 2)]
    batched.handle_alert_raised(alerts)
    before = stored(batched)
    batched.store.db.case_audit.delete_many({"action": "assigned"})  # died before its audit
    batched.store.db.alert_inbox.delete_many({})  # the inbox did not record them as done either
    batched.handle_alert_raised(alerts)
    assert stored(batched) == before  # the audit is back; loads and steps charged once
    assert len(sent(batched, "case_opened")) == 4  # announced again; consumers key on case ids
    assert {m["case_id"] for m in sent(batched, "case_opened")} == {c["_id"] for c in before[0]}


def test_a_strategy_owned_alert_in_the_batch_still_takes_its_pick(desks):
    batched, _single, _listener = desks
    alerts = [
        owned(1, {"kind": "person", "id": "li.na"}),
        owned(2, {"kind": "strategy", "id": "care-balanced"}),
    ]
    batched.handle_alert_raised(alerts)
    cases = {c["alert_id"]: c for c in batched.store.db.cases.find()}
    picked = cases[alerts[1]["alert_id"]]
    assert picked["status"] == "assigned" and picked["assignee"]["kind"] == "person"
    assert "strategy care-balanced (least_loaded)" in picked["assignment"]["reason"]
    assert CaseStore(batched.store.db).trail.case_audit(picked["_id"])[-1]["action"] == "assigned"


def test_a_batch_tells_profiles_its_alerts_and_the_cases_it_opened_in_one_message(desks):
    batched, _single, _listener = desks
    alerts = [owned(n, {"kind": "person", "id": "li.na"}) for n in range(1, 4)]
    alerts.append(alert(4, customer="C1", owner={"kind": "person", "id": "li.na"}))  # C1's case: attaches
    batched.handle_alert_raised(alerts)
    [taken] = sent(batched, "alerts_taken_in")
    # as profiles read it
    loaded = schema_of("alerts_taken_in").load({"schema_version": 1, **jsonable(taken)})
    assert [a["alert_id"] for a in loaded["alerts"]] == [a["alert_id"] for a in alerts]
    assert [a["customer"]["id"] for a in loaded["alerts"]] == ["C1", "C2", "C3", "C1"]
    assert set(loaded["alerts"][0]) == {"alert_id", "raised_at", "level", "rule", "customer", "event"}
    # the cases opened, exactly as their own case_opened says (the attached alert opened none)
    assert taken["cases_opened"] == sent(batched, "case_opened") and len(taken["cases_opened"]) == 3


def test_a_big_batch_is_told_in_parts_each_case_with_its_alert():
    alerts = [
        {
            "alert_id": f"AL-{n}",
            "raised_at": AT,
            "level": "P2",
            "rule": {"id": "r", "version": 1, "name": "r"},
            "customer": {"id": f"C{n}", "name": "n"},
            "event": {"occurred_at": AT, "event_id": f"e{n}"},
        }
        for n in range(MAX_TAKEN_IN + 5)
    ]
    opened = [{"case_id": f"CASE-{n}", "alert_id": f"AL-{n}"} for n in (3, MAX_TAKEN_IN + 1)]
    first, second = messages.taken_in(alerts, opened, AT)
    assert len(first["alerts"]) == MAX_TAKEN_IN and len(second["alerts"]) == 5
    assert [c["case_id"] for c in first["cases_opened"]] == ["CASE-3"]
    assert [c["case_id"] for c in second["cases_opened"]] == [f"CASE-{MAX_TAKEN_IN + 1}"]
    assert first["alerts"][0]["customer"] == {"id": "C0"}
    assert first["alerts"][0]["event"] == {"occurred_at": AT}
