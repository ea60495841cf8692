"""What the cases service announces, built without a broker (``messages.py``); every
payload keeps its contract."""

from datetime import timedelta

from services.cases import assignment, escalation, messages
from services.common.messaging import serialize
from tests.unit.case_samples import LI_NA, MONDAY_10, case

CONSOLE = "http://console/"


def opened_assigned():
    return assignment.assigned_at_open(case(assignee=None), LI_NA, "owner of rule detractor", MONDAY_10)


def test_case_opened_carries_the_assignment_made_at_opening_only():
    opened = opened_assigned()
    message = messages.case_opened(opened)
    assert message["status"] == "assigned"
    assert message["assignment"] == {
        "assignee": LI_NA,
        "at": MONDAY_10,
        "by": "system",
        "reason": "owner of rule detractor",
    }
    serialize("case_opened", message)
    unassigned = messages.case_opened(case(assignee=None))
    assert (unassigned["status"], unassigned["assignment"]) == ("open", None)
    # a redelivery after a person handed it over announces the opening as it was: open
    handed = {**opened, "assignment": {**opened["assignment"], "by": "wang.fang", "previous": LI_NA}}
    assert messages.case_opened(handed)["status"] == "open"


def test_a_status_change_tells_alerts_only_when_the_customer_got_a_response():
    found = {**case(), "resolution": {"root_cause": "x", "first_contact_resolution": True, "summary": "s"}}
    started = messages.status_changed(found, "assigned", "in_progress", MONDAY_10, "li.na", "")
    assert [kind for kind, _ in started] == ["case_status_changed", "customer_responded"]
    assert started[0][1]["reason"] is None and started[0][1]["resolution"] is None
    assert started[1][1] == {
        "case_id": found["_id"],
        "customer_id": "C1",
        "status": "in_progress",
        "responded_at": MONDAY_10,
    }
    reopened = messages.status_changed(found, "resolved", "reopened", MONDAY_10, "system", "again")
    assert [kind for kind, _ in reopened] == ["case_status_changed"]
    resolved = messages.status_changed(found, "in_progress", "resolved", MONDAY_10, "li.na", "done")
    assert resolved[0][1]["resolution"] == found["resolution"]
    for kind, payload in started + resolved:
        serialize(kind, payload)


def test_notification_ids_are_deterministic_per_occasion_and_recipient():
    opened = opened_assigned()
    first = messages.notification(
        opened, LI_NA, "case_assigned", messages.assignment_tag(opened), now=MONDAY_10, console_url=CONSOLE
    )
    again = messages.notification(
        opened,
        LI_NA,
        "case_assigned",
        messages.assignment_tag(opened),
        now=MONDAY_10 + timedelta(seconds=5),
        console_url=CONSOLE,
    )
    assert first["notification_id"] == again["notification_id"] == f"{opened['_id']}:assigned:r1:person:li.na"
    assert first["context"]["case_url"] == f"http://console/cases/{opened['_id']}"
    serialize("notification_requested", first)
    long_tag = "x" * 300
    assert len(messages.notification_id(opened, long_tag, LI_NA)) == 200
    assert messages.update_tag(opened, "reopened") == "reopened:r1"
    assert messages.update_tag(opened, "reopened", rev=7) == "reopened:r7"


def test_an_escalation_step_is_notified_under_the_step_s_own_id():
    found = case()
    tag = escalation.run_tag(found["_id"], 0)
    [step, *_] = escalation.round_steps(tag, found["_id"], found["escalation"], 0, MONDAY_10.timestamp())
    message = messages.escalation_step(step, found, LI_NA, now=MONDAY_10, console_url=CONSOLE)
    assert message["notification_id"] == step["_id"] and message["kind"] == "escalation_step"
    assert message["context"]["escalation"] == {
        "round": 1,
        "step": 1,
        "target": "owner",
        "after_minutes": 45.0,
        "acknowledged": False,
    }
    serialize("notification_requested", message)
