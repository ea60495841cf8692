"""Whether to warn a case's owner of an at-risk SLA clock, decided without a store or a
broker (``sla.decide_warning``): no owner, already sent, after hours, or warn now."""

from datetime import timedelta

import pytest

from services.cases import sla
from tests.unit.case_samples import MONDAY_10, NEXT_MONDAY_9, SATURDAY_10, case


def never_asked():
    raise AssertionError("whether it was sent is asked only when there is an owner")


def test_a_case_without_an_owner_warns_nobody_and_reads_nothing():
    found = case(assignee=None)
    assert sla.decide_warning(found, "acknowledge", MONDAY_10, never_asked) == sla.WarningDecision("no_owner")


def test_a_warning_already_sent_is_not_sent_again():
    found = case()
    assert sla.decide_warning(found, "acknowledge", MONDAY_10, lambda: True).outcome == "already_sent"


def test_outside_business_hours_the_warning_waits_for_the_next_working_minute():
    found = case(opened=SATURDAY_10 - timedelta(days=1))  # Friday 10:00
    decision = sla.decide_warning(found, "resolve", SATURDAY_10, lambda: False)
    assert decision == sla.WarningDecision("after_hours")
    assert sla.business_hours(found)(SATURDAY_10) == NEXT_MONDAY_9


def test_p1_warns_at_any_hour():
    found = case("P1", opened=SATURDAY_10)
    now = SATURDAY_10 + timedelta(minutes=13)  # P1: 15 minutes to acknowledge, 24x7
    decision = sla.decide_warning(found, "acknowledge", now, lambda: False)
    due = found["sla"]["clocks"]["acknowledge"]["due"]
    assert decision == sla.WarningDecision(
        "warn", {"kind": "response", "due_at": due, "remaining_minutes": 2}
    )
    assert sla.business_hours(found) is None


@pytest.mark.parametrize("clock, kind", [("acknowledge", "response"), ("resolve", "resolution")])
def test_inside_business_hours_the_owner_is_warned_with_the_time_left(clock, kind):
    found = case()  # P2 on the office calendar: 60 working minutes to acknowledge, 480 to resolve
    now = MONDAY_10 + timedelta(minutes=50)
    decision = sla.decide_warning(found, clock, now, lambda: False)
    due = found["sla"]["clocks"][clock]["due"]
    left = round((due - now).total_seconds() / 60)
    assert decision == sla.WarningDecision("warn", {"kind": kind, "due_at": due, "remaining_minutes": left})
    # wall-clock minutes: acknowledge due 11:00; resolve due Tuesday 10:30 (390 worked on Monday)
    assert (clock, left) in (("acknowledge", 10), ("resolve", 23 * 60 + 40))


def test_each_reopen_warns_again_under_a_new_tag():
    found = case()
    assert sla.warning_tag(found, "acknowledge") == "sla-warning:acknowledge:o0"
    assert sla.warning_tag({**found, "reopen_count": 2}, "resolve") == "sla-warning:resolve:o2"
