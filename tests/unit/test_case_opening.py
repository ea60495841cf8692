"""Assignment at opening and what the assign transition writes, without a store:
``assignment.assigned_at_open`` / ``opening_assignment`` / ``assignment_sets`` /
``pick_key`` and ``lifecycle.load_holder`` / ``with_clocks`` / ``reopened``."""

from datetime import timedelta

import pytest

from services.cases import assignment
from services.cases.lifecycle import load_holder, reopened, with_clocks
from services.common.errors import BadRequest
from tests.unit.case_samples import LI_NA, MONDAY_10, case

CARE = {"kind": "team", "id": "cx-care"}


def fresh(level="P2"):
    return case(level, assignee=None)


def test_a_person_named_by_the_rule_gets_the_case_as_it_opens_with_its_load():
    before = fresh()
    after = assignment.assigned_at_open(before, LI_NA, "owner of rule detractor", MONDAY_10)
    assert (after["status"], after["rev"], after["assignee"], after["assignee_key"]) == (
        "assigned",
        1,
        LI_NA,
        "person:li.na",
    )
    assert after["assignment"] == {
        "at": MONDAY_10,
        "by": "system",
        "reason": "owner of rule detractor",
        "previous": None,
        "previous_team": before["team"],  # with previous: whom the case was visible to (take it)
        "rev": 1,
    }
    assert after["team"] == before["team"] and after["acknowledged"] is None
    assert (after["load_holder"], after["load_weight"]) == ("li.na", 4)  # P2 weighs 4
    assert after["load_moved"] == {"from": "", "epoch": MONDAY_10.timestamp()}
    assert after["sla"]["clocks"]["acknowledge"]["state"] == "running"  # assigning stops no clock
    assert before["status"] == "open" and before["assignee"] is None  # the input is left alone


def test_a_team_named_by_the_rule_carries_no_agent_load():
    after = assignment.assigned_at_open(fresh(), CARE, "owner of rule detractor", MONDAY_10)
    assert after["assignee"] == CARE and after["status"] == "assigned"
    assert (after["load_holder"], after["load_weight"]) == ("", 0) and "load_moved" not in after


def test_the_opening_assignment_is_the_system_s_first_one_while_it_stands():
    opened = assignment.assigned_at_open(fresh(), LI_NA, "owner of rule detractor", MONDAY_10)
    assert assignment.opening_assignment(opened) == opened["assignment"]
    assert assignment.opening_assignment(fresh()) is None  # not assigned
    handed = {**opened["assignment"], "by": "wang.fang", "previous": LI_NA, "rev": 2}
    assert assignment.opening_assignment({**opened, "assignment": handed}) is None
    legacy = {k: v for k, v in opened["assignment"].items() if k != "rev"}
    assert assignment.opening_assignment({**opened, "assignment": legacy}) is None


def test_an_assignment_writes_the_new_owner_the_previous_one_and_the_revision_it_makes():
    owned = case()  # li.na's, at revision 1
    sets = assignment.assignment_sets(
        owned, CARE, by="wang.fang", reason="handoff", now=MONDAY_10, team=None, handoff=True
    )
    assert sets["assignee"] == CARE and sets["assignee_key"] == "team:cx-care"
    assert sets["assignment"] == {
        "at": MONDAY_10,
        "by": "wang.fang",
        "reason": "handoff",
        "previous": LI_NA,
        "previous_team": owned["team"],
        "rev": 2,
    }
    assert sets["team"] == owned["team"] and sets["acknowledged"] is None
    moved = assignment.assignment_sets(owned, CARE, by="x", reason="r", now=MONDAY_10, team="cx-vip")
    assert moved["team"] == "cx-vip"


def test_an_assignment_refuses_a_handoff_of_an_unowned_case_and_the_owner_it_has():
    with pytest.raises(BadRequest, match="no owner yet; use assign"):
        assignment.assignment_sets(fresh(), LI_NA, by="x", reason="r", now=MONDAY_10, team=None, handoff=True)
    with pytest.raises(BadRequest, match="li.na already owns"):
        assignment.assignment_sets(case(), LI_NA, by="x", reason="r", now=MONDAY_10, team=None)


def test_a_pick_is_recorded_under_the_case_at_the_revision_its_assignment_changes():
    opened = fresh()
    assert assignment.pick_key(opened) == f"{opened['_id']}@r0"
    assert assignment.pick_key({**opened, "rev": 3}) == f"{opened['_id']}@r3"


@pytest.mark.parametrize(
    "status, assignee, holder",
    [
        ("assigned", LI_NA, "li.na"),
        ("pending_customer", LI_NA, "li.na"),
        ("assigned", CARE, ""),
        ("resolved", LI_NA, ""),
        ("open", None, ""),
    ],
)
def test_the_load_is_held_by_a_person_owner_while_the_case_is_active(status, assignee, holder):
    assert load_holder({"status": status, "assignee": assignee}) == holder


def test_the_clocks_and_milestones_follow_the_action_in_the_same_update():
    owned = case()
    later = MONDAY_10 + timedelta(minutes=20)
    sets = with_clocks("acknowledge", later, lambda c, to: {"acknowledged": {"at": later, "by": "li.na"}})(
        owned, "assigned"
    )
    assert sets["acknowledged"]["by"] == "li.na"
    assert sets["sla"]["clocks"]["acknowledge"]["state"] == "stopped"
    assert sets["sla"]["clocks"]["acknowledge"]["met"] is True
    assert sets["milestones"]["acknowledged_at"] == later
    assert sets["tally"]["acked"] == 1 and sets["tally"]["ack_ms"] == 20 * 60 * 1000  # the metrics' numbers
    without_sla = {**owned, "sla": None}
    assert set(with_clocks("start", later, None)(without_sla, "in_progress")) == {"milestones", "tally"}


def test_a_reopen_asks_for_a_new_acknowledgement_and_counts():
    resolved = {**case(), "status": "resolved", "reopen_count": 1, "resolution": {"root_cause": "x"}}
    assert reopened(resolved, "reopened") == {
        "acknowledged": None,
        "resolution": None,
        "reopen_count": 2,
        "reopened_by": None,
    }
