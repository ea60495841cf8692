"""What the sweep does with a claimed escalation step, decided without a store or a
broker (``escalation.decide_step``): cancel, defer to business hours, wait for an
owner, skip, or fire, with the next round when a round ends."""

from datetime import timedelta

import pytest

from services.cases import escalation
from tests.unit.case_samples import LI_NA, MONDAY_10, NEXT_MONDAY_9, SATURDAY_10, case

RETRY_S = 5.0


def steps_of(found, round_no=0):
    tag = escalation.run_tag(found["_id"], found.get("reopen_count", 0))
    return escalation.round_steps(tag, found["_id"], found["escalation"], round_no, MONDAY_10.timestamp())


def never_asked(owner):
    raise AssertionError("the team lead is asked only for a step that resolves a recipient")


def lead(name):
    asked = []

    def team_lead(owner):
        asked.append(owner)
        return name

    team_lead.asked = asked
    return team_lead


def decide(step, found, now=MONDAY_10, team_lead=never_asked):
    return escalation.decide_step(step, found, now, team_lead=team_lead, retry_s=RETRY_S)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: None,  # the case is gone
        lambda c: {**c, "status": "resolved"},
        lambda c: {**c, "status": "closed"},
        lambda c: {**c, "acknowledged": {"at": MONDAY_10, "by": "li.na"}},  # P2 stops on acknowledge
        lambda c: {**c, "escalation": None},
    ],
)
def test_a_step_of_a_case_that_no_longer_escalates_is_cancelled(change):
    found = case()
    assert decide(steps_of(found)[0], change(found)) == escalation.Cancel()


def test_an_acknowledged_case_whose_chain_stops_on_resolve_still_escalates():
    found = {**case("P3"), "acknowledged": {"at": MONDAY_10, "by": "li.na"}}
    assert isinstance(decide(steps_of(found)[0], found, team_lead=lead(None)), escalation.Fire)


def test_outside_business_hours_a_step_waits_for_the_next_working_minute():
    found = case(opened=SATURDAY_10)
    assert decide(steps_of(found)[0], found, SATURDAY_10) == escalation.Defer(NEXT_MONDAY_9.timestamp())


@pytest.mark.parametrize("found", [case("P1", opened=SATURDAY_10), case(opened=SATURDAY_10, with_sla=False)])
def test_p1_and_cases_without_an_sla_escalate_at_any_hour(found):
    decision = decide(steps_of(found)[0], found, SATURDAY_10, lead("wang.lei"))
    assert decision == escalation.Fire(LI_NA, "round 1, step 1: owner → person li.na")


@pytest.mark.parametrize("index", [0, 1])  # owner, team_lead: both found through the owner
def test_a_step_whose_target_comes_from_an_owner_waits_while_the_case_has_none(index):
    found = case(assignee=None)
    step = steps_of(found)[index]
    decision = decide(step, found, team_lead=lead(None))
    target = step["step"]["notify"]
    assert decision == escalation.Wait(
        MONDAY_10.timestamp() + RETRY_S, f"round 1, step {index + 1}: {target}: waiting for an owner"
    )


def test_a_step_nobody_can_take_is_skipped_and_the_chain_goes_on():
    found = case()
    team_lead = lead(None)  # the owner's team has no lead
    decision = decide(steps_of(found)[1], found, team_lead=team_lead)
    assert decision == escalation.Skip("round 1, step 2: team_lead: nobody to notify")
    assert team_lead.asked == [LI_NA]


def test_each_target_is_resolved_from_the_case_and_its_snapshot():
    found = case()
    steps = steps_of(found)
    fired = [decide(step, found, team_lead=lead("wang.lei")) for step in steps]
    assert [d.target for d in fired] == [
        LI_NA,
        {"kind": "person", "id": "wang.lei"},
        {"kind": "person", "id": "zhao.min"},  # the snapshot's department head
        {"kind": "team", "id": "cx-care"},  # the on-call group
    ]
    assert fired[1].why == "round 1, step 2: team_lead → person wang.lei"


def test_the_last_step_of_a_round_brings_the_next_round_while_the_chain_repeats():
    found = case()  # P2: repeat 1, so two rounds
    now = MONDAY_10 + timedelta(hours=4)
    first, last = steps_of(found)[0], steps_of(found)[-1]
    assert decide(first, found, now, lead("wang.lei")).next_round == []
    following = decide(last, found, now, lead("wang.lei")).next_round
    assert following == escalation.round_steps(
        escalation.run_tag(found["_id"], 0), found["_id"], found["escalation"], 1, now.timestamp()
    )
    assert [s["round"] for s in following] == [1, 1, 1, 1]
    assert decide(steps_of(found, 1)[-1], found, now, lead("wang.lei")).next_round == []  # repeat used up


def test_a_skipped_last_step_still_brings_the_next_round():
    found = case()
    last = steps_of(found)[-1]
    last = {**last, "step": {**last["step"], "notify": "team_lead"}}  # a team without a lead
    decision = decide(last, found, team_lead=lead(None))
    assert isinstance(decision, escalation.Skip) and [s["round"] for s in decision.next_round] == [1] * 4
