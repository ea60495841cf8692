"""Pre-breach warnings on a controlled clock: once per clock, at the warning time,
inside business hours except on P1, never after acknowledgement."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.services.cases_desk import make_desk
from tests.services.test_cases import alert, sent

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args):
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def desk(mongo_client, db_prefix):
    return make_desk(mongo_client[f"{db_prefix}cases"], local(2026, 11, 23, 10, 0), escalation=False)


def warnings(worker):
    return [
        (n["recipient"]["id"], n["context"]["sla"]["kind"], n["context"]["sla"]["remaining_minutes"])
        for n in sent(worker, "notification_requested")
        if n["kind"] == "sla_warning"
    ]


def test_the_owner_is_warned_once_at_80_percent_of_the_acknowledge_budget(desk):
    desk.handle_alert_raised([alert(1)])  # P2: acknowledge in 60 business minutes → warn at 10:48
    desk.now.at = local(2026, 11, 23, 10, 47)
    assert desk.sweep_sla_warnings() == 0
    desk.now.at = local(2026, 11, 23, 10, 50)
    assert desk.sweep_sla_warnings() == 1 and desk.sweep_sla_warnings() == 0
    assert warnings(desk) == [("li.na", "response", 10)]
    [case] = desk.list_cases()
    assert desk.get_case(case["_id"])["audit"][-1]["action"] == "sla_warning"
    desk.now.at = local(2026, 11, 23, 11, 5)  # breached now: no longer "at risk", no second warning
    assert desk.sweep_sla_warnings() == 0


def test_acknowledged_cases_get_no_response_warning(desk):
    desk.handle_alert_raised([alert(1)])
    [case] = desk.list_cases()
    desk.acknowledge({"case_id": case["_id"], "by": "li.na"})
    desk.now.at = local(2026, 11, 23, 10, 50)
    assert desk.sweep_sla_warnings() == 0


def test_outside_business_hours_the_warning_waits_except_on_p1(desk):
    desk.now.at = local(2026, 11, 23, 11, 12)  # 48 business minutes later is 12:00, lunch starts
    desk.handle_alert_raised([alert(1)])
    desk.now.at = local(2026, 11, 23, 11, 55)
    p1 = alert(2, customer="C2")
    p1["level"] = "P1"  # 24x7: acknowledge in 15 min → warn at 12:07
    desk.handle_alert_raised([p1])
    desk.now.at = local(2026, 11, 23, 12, 8)  # lunch: P2 waits, P1 goes out
    assert desk.sweep_sla_warnings() == 1
    assert [w[1] for w in warnings(desk)] == ["response"] and len(warnings(desk)) == 1
    desk.now.at = local(2026, 11, 23, 13, 31)  # back at work: the P2 owner is warned
    assert desk.sweep_sla_warnings() == 1
    assert len(warnings(desk)) == 2


def test_the_resolve_clock_warns_too_and_a_reopen_warns_afresh(desk):
    desk.handle_alert_raised([alert(1)])
    [case] = desk.list_cases()
    desk.start({"case_id": case["_id"], "by": "li.na"})
    # resolve in 480 business minutes, warn at 384: Monday 10:00 + 384 → 17:54
    desk.now.at = local(2026, 11, 23, 17, 55)
    assert desk.sweep_sla_warnings() == 1 and warnings(desk)[-1][1] == "resolution"
    desk.resolve(
        {"case_id": case["_id"], "by": "li.na", "root_cause": "other", "first_contact_resolution": False}
    )
    desk.reopen({"case_id": case["_id"], "by": "li.na", "reason": "again"})
    desk.now.at = local(2026, 11, 24, 9, 45)  # the fresh acknowledge clock: 48 business min → 09:43
    assert desk.sweep_sla_warnings() == 1 and warnings(desk)[-1][1] == "response"
