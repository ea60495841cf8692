"""Profiles end to end: feedback and case milestones through the real broker into the real store."""

import json
from datetime import datetime, timedelta

from nameko.standalone.events import event_dispatcher

from services.common.messaging import serialize
from tests.conftest import wait_until
from tests.e2e.test_pipeline import feedback, publish, stack  # noqa: F401 - the stack fixture

NOW = "2026-11-23T12:00:00+00:00"


def test_feedback_and_case_milestones_make_rolling_scores_and_a_journey(stack, cx_config):  # noqa: F811
    events = [
        feedback(event_id="p-1", nps=9, occurred_at="2026-10-10T10:00:00+08:00"),
        feedback(event_id="p-2", nps=7, occurred_at="2026-10-15T10:00:00+08:00"),
        feedback(event_id="p-3", nps=2, occurred_at="2026-11-20T10:00:00+08:00"),
    ]
    publish(cx_config["AMQP_URI"], *events, events[2])  # one resent
    [case] = wait_until(stack.cases.list_cases, message="the detractor's case")

    def has_open_case():
        p = stack.profiles.get_profile("C42", now=NOW)
        return p if p["feedback_count"] == 3 and p["open_cases"] else None

    wait_until(has_open_case, message="the case on the profile")
    dispatch = event_dispatcher()
    # milestones follow the case's opening (the cases service stamps it with its clock)
    opened = datetime.fromisoformat(case["opened_at"])
    for frm, to, after in (("assigned", "in_progress", 1), ("in_progress", "resolved", 2)):
        change = {
            "case_id": case["_id"],
            "customer_id": "C42",
            "level": case["level"],
            "from_status": frm,
            "to_status": to,
            "changed_at": opened + timedelta(minutes=after),
            "changed_by": "li.na",
            "resolution": {"root_cause": "logistics", "first_contact_resolution": False}
            if to == "resolved"
            else None,
        }
        dispatch("cases", "case_status_changed", serialize("case_status_changed", change))
        dispatch("cases", "case_status_changed", serialize("case_status_changed", change))  # a redelivery

    def resolved():
        p = stack.profiles.get_profile("C42", now=NOW)
        # the cases service adds its own open→assigned milestone; ours are by li.na
        milestones = [
            e for e in p["timeline"] if e["kind"] == "case_milestone" and e["changed_by"] == "li.na"
        ]
        return p if len(milestones) == 2 and not p["open_cases"] else None

    profile = wait_until(resolved, message="the milestones on the profile")
    nps = profile["scores"]["nps"]
    assert nps["last"]["value"] == 2 and (nps["count_30d"], nps["avg_30d"]) == (1, 2.0)
    assert (nps["count_90d"], nps["avg_90d"]) == (3, 6.0)
    assert nps["trend"]["delta"] == -6.0 and nps["trend"]["better"] is False
    assert profile["contacts_by_channel"] == {"wechat": {"count": 3, "last_at": "2026-11-20T02:00:00+00:00"}}
    kinds = sorted(e["kind"] for e in profile["timeline"])
    assert kinds == [
        "alert",
        "case_milestone",
        "case_milestone",
        "case_milestone",
        "case_opened",
        "feedback",
        "feedback",
        "feedback",
    ]
    [resolved_entry] = [e for e in profile["timeline"] if e.get("to_status") == "resolved"]
    assert resolved_entry["resolution"]["root_cause"] == "logistics"
    fatigue = stack.profiles.contact_fatigue("C42", days=7, now=NOW)
    assert fatigue["contacts"] == 1
    assert json.dumps(stack.profiles.export_customer("C42"), ensure_ascii=False).count("case_milestone") == 3
