"""cases.simulate_alert: the dry run predicts what intake then does (owner, SLA,
escalation, notifications) and writes nothing, not even a round-robin turn."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import BadRequest
from services.common.messaging import serialize
from services.common.mongo import jsonable
from tests.services.cases_desk import make_desk
from tests.services.test_cases import T0, alert, by_strategy, sent


@pytest.fixture
def desk(mongo_client, db_prefix):
    return make_desk(mongo_client[f"{db_prefix}cases"], T0)  # Monday 10:00 in Shanghai


def snapshot(worker):
    """Every document of every collection of the cases database."""
    db = worker.store.db
    return {
        name: sorted(repr(sorted(d.items())) for d in db[name].find())
        for name in sorted(db.list_collection_names())
    }


def dry(worker, payload, now=None):
    before = snapshot(worker)
    outcome = worker.simulate_alert(jsonable(payload), now)
    assert snapshot(worker) == before  # nothing written, counters and loads included
    return outcome


def test_round_robin_prediction_moves_no_turn_and_matches_intake(desk):
    desk.handle_alert_raised([by_strategy(1, sid="logistics-rotation")])  # takes turn 0 (li.na)
    counts = {name: len(docs) for name, docs in snapshot(desk).items()}
    assert counts["turns"] == 1 and counts["cases"] == 1 and counts["agent_load"] >= 1
    for _ in range(2):  # asking twice gives the same answer: the turn did not move
        out = dry(desk, by_strategy(2, sid="logistics-rotation"))
        assert out["action"] == "open" and out["case_id"] is None
        assert out["assignee"] == {"kind": "person", "id": "zhao.min"} and out["team"] == "logistics"
    lines = out["assignment"]["explanation"]
    assert out["assignment"]["strategy"] == "logistics-rotation"
    assert "li.na: on shift, delivery, billing, senior, load 4" in lines
    assert "zhao.min: on shift, delivery, lead, load 0" in lines
    assert lines[-1] == "round robin turn 1 over [li.na, zhao.min] → zhao.min"

    desk.dispatch.reset_mock()
    desk.handle_alert_raised([by_strategy(2, sid="logistics-rotation")])
    [case] = desk.list_cases(customer="C2")
    assert case["assignee"] == out["assignee"]
    [real] = sent(desk, "notification_requested")
    assert out["notifications"] == [serialize("notification_requested", real)]  # what intake dispatched


def test_least_loaded_explains_shift_skills_vip_and_loads(desk):
    desk.handle_alert_raised([by_strategy(1, level="P1", touchpoint="billing")])  # emma.wu +8
    out = dry(desk, by_strategy(2, touchpoint="billing", tier="vip"))
    lines = out["assignment"]["explanation"]
    assert "sun.yu: off shift, delivery, junior, load 0" in lines
    assert "4 of 5 cx-care agents on shift" in lines
    assert "2 skilled in billing" in lines and "2 senior or above for vip customer" in lines
    assert lines[-1] == "least loaded of [emma.wu=8, li.na=0] → li.na (+4 for P2)"
    desk.handle_alert_raised([by_strategy(2, touchpoint="billing", tier="vip")])
    assert desk.list_cases(customer="C2")[0]["assignee"] == out["assignee"]


def test_sla_and_escalation_are_the_ones_the_case_gets(desk):
    a = alert(1)
    out = dry(desk, a)
    assert out["assignment"]["explanation"] == ["owner of rule detractor: person li.na (no strategy)"]
    sla = out["sla"]
    assert (sla["policy"], sla["version"], sla["calendar"]) == ("default", 1, "shanghai-office")
    desk.handle_alert_raised([a])
    case = desk.get_case(desk.list_cases()[0]["_id"])
    clocks = case["sla"]["clocks"]
    assert sla["ack_due"] == clocks["acknowledge"]["due"] and sla["resolve_due"] == clocks["resolve"]["due"]
    assert sla["warn_at"]["acknowledge"] == clocks["acknowledge"]["warn_at"]
    steps = out["escalation"]
    assert [(s["round"], s["step"], s["notify"]) for s in steps][:5] == [
        (1, 1, "owner"), (1, 2, "team_lead"), (1, 3, "department_head"), (1, 4, "on_call"), (2, 1, "owner"),
    ]  # fmt: skip
    assert len(steps) == 8  # P2 repeats once
    stored = [
        datetime.fromtimestamp(s["due_epoch"], UTC).isoformat()
        for s in desk.store.schedule.case_steps(case["_id"])
    ]
    assert [s["due"] for s in steps[:4]] == stored
    assert [s["targets"] for s in steps[:4]] == [
        [{"kind": "person", "id": "li.na"}], [{"kind": "person", "id": "wang.lei"}],
        [{"kind": "person", "id": "zhao.min"}], [{"kind": "team", "id": "cx-care"}],
    ]  # fmt: skip
    # 10:00 + 240 min = 14:00 Shanghai is inside the hours; + 180 min = 13:00 waits for 13:30
    assert steps[2]["due"] == (T0 + timedelta(minutes=180)).isoformat()
    assert steps[2]["fires_at"] == (T0 + timedelta(minutes=210)).isoformat()
    # round 2 starts when round 1's last step fires (14:00), its first step 45 min later
    assert steps[4]["due"] == (T0 + timedelta(minutes=240 + 45)).isoformat()


def test_attach_reopen_and_redelivery_are_predicted(desk):
    first = alert(1)
    desk.handle_alert_raised([first])
    [case] = desk.list_cases()
    again = dry(desk, first)
    assert (again["action"], again["case_id"], again["notifications"]) == ("open", case["_id"], [])
    attach = dry(desk, alert(2))
    assert (attach["action"], attach["case_id"], attach["assignee"]["id"]) == ("attach", case["_id"], "li.na")
    assert attach["notifications"] == [] and len(attach["escalation"]) == 4  # its pending steps
    assert attach["case_key"] == case["open_key"]

    desk.resolve(
        {"case_id": case["_id"], "by": "li.na", "root_cause": "other", "first_contact_resolution": True}
    )
    desk.now.advance(hours=1)
    reopen = dry(desk, alert(3))
    assert (reopen["action"], reopen["case_id"]) == ("reopen", case["_id"])
    assert reopen["sla"]["ack_due"] == (T0 + timedelta(hours=2)).isoformat()  # fresh clocks from 11:00
    desk.dispatch.reset_mock()
    desk.handle_alert_raised([alert(3)])
    [real] = sent(desk, "notification_requested")
    assert reopen["notifications"] == [serialize("notification_requested", real)]
    later = dry(desk, alert(4), now=(T0 + timedelta(days=30)).isoformat())
    assert later["action"] == "attach"  # the reopened case is active again


def test_bad_payloads_name_the_field(desk):
    bad = jsonable(alert(1))
    del bad["level"]
    with pytest.raises(BadRequest, match="alert.level: Missing data"):
        desk.simulate_alert(bad)
    with pytest.raises(BadRequest, match="now: Not a valid datetime"):
        desk.simulate_alert(jsonable(alert(1)), "tomorrow")
    with pytest.raises(BadRequest, match="alert: must be"):
        desk.simulate_alert("AL-1")
    unknown = dry(desk, by_strategy(5, sid="nobody"))
    assert (
        unknown["assignee"] is None and "unknown strategy nobody" in unknown["assignment"]["explanation"][0]
    )
