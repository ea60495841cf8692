"""Follow-up (回访) in a cases worker on the real store, with a controlled clock: due in
business hours, the owner's task and its SLA, answers applied once, an unhappy answer on a
case that cannot be reopened still tells the owner."""

from datetime import UTC, datetime, timedelta

import pytest
from nameko import config

from services.common.errors import BadRequest
from tests.services.cases_desk import make_desk
from tests.services.test_cases import alert, sent

pytestmark = pytest.mark.service

FRIDAY_5PM = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
THURSDAY_0930 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # 24 business hours later


def policy(by="owner", **extra):
    rule = {"name": "all", "by": by, "channels": ["sms"], "calendar": "shanghai-office", **extra}
    return {"id": "default", "rules": [rule]}


@pytest.fixture
def desk(mongo_client, db_prefix):
    with config.patch({"SURVEY_SECRET": "service-test-secret"}):
        yield make_desk(mongo_client[f"{db_prefix}cases"], FRIDAY_5PM, escalation=False)


def resolved(desk, n=1) -> str:
    desk.handle_alert_raised([alert(n, customer=f"C{n}")])
    [case] = desk.list_cases(customer=f"C{n}")
    request = {"case_id": case["_id"], "by": "li.na", "root_cause": "delivery_delay"}
    desk.resolve({**request, "first_contact_resolution": False})
    return case["_id"]


def test_an_owner_follow_up_is_due_in_business_hours_and_its_task_has_its_own_sla(desk):
    assert desk.apply_followup_policy(policy(task_sla_business_hours=2)) == {
        "id": "default",
        "version": 1,
        "changed": True,
    }
    assert desk.apply_followup_policy(policy(task_sla_business_hours=2))["changed"] is False
    case_id = resolved(desk)
    fu = desk.get_followup(case_id)
    assert fu["state"] == "pending" and fu["due_at"] == THURSDAY_0930.isoformat()
    desk.dispatch.reset_mock()
    desk.now.at = THURSDAY_0930 - timedelta(minutes=1)
    assert desk.sweep_followups() == 0  # not yet: the weekend and three working days count
    desk.now.at = THURSDAY_0930 + timedelta(minutes=1)
    assert desk.sweep_followups() == 1
    [told] = sent(desk, "notification_requested")
    assert (
        told["recipient"] == {"kind": "person", "id": "li.na"}
        and told["context"]["update"] == "followup_task"
    )
    assert sent(desk, "customer_message_requested") == []  # by owner: nothing goes to the customer
    [task] = desk.list_followups({"assignees": ["li.na"]})
    assert task["task"]["due_at"] == (THURSDAY_0930 + timedelta(hours=2, minutes=1)).isoformat()
    assert task["overdue"] is False and desk.list_followups({"overdue": True}) == []
    desk.now.at = THURSDAY_0930 + timedelta(hours=3)  # past the task's 2 business hours
    assert [t["case_id"] for t in desk.list_followups({"overdue": True})] == [case_id]
    done = desk.followup_done({"case_id": case_id, "by": "li.na", "note": "电话未接通"})
    assert (
        done["state"] == "done" and done["task"]["on_time"] is False and done["task"]["note"] == "电话未接通"
    )
    with pytest.raises(BadRequest, match="has no open follow-up task"):
        desk.followup_done({"case_id": case_id, "by": "li.na"})


def test_an_answer_is_applied_once_and_an_unhappy_one_on_a_closed_case_still_tells_the_owner(desk):
    desk.apply_followup_policy(policy(by="automatic", after_business_hours=1))
    case_id = resolved(desk)
    desk.now.at = FRIDAY_5PM + timedelta(days=3)  # Monday
    assert desk.sweep_followups() == 1
    [request] = sent(desk, "customer_message_requested")
    assert request["not_after"] > request["requested_at"]
    desk.close({"case_id": case_id, "by": "lead"})
    fu = desk.store.followups.get(f"{case_id}:fu0")
    event = {
        "event_id": f"followup-{fu['nonce']}",
        "source": "followup-survey",
        "occurred_at": desk.now(),
        "customer": {"id": "C1"},
        "channel": "web",
        "scores": {"csat": 1},
        "case_id": case_id,
        "attributes": {"followup_nonce": fu["nonce"]},
    }
    desk.dispatch.reset_mock()
    desk.handle_followup_answer(event)
    desk.handle_followup_answer(event)  # a redelivery
    case = desk.get_case(case_id)
    assert case["status"] == "closed"  # a closed case is not reopened ...
    [told] = sent(desk, "notification_requested")  # ... and its owner is told, once
    assert told["context"]["update"] == "followup_unhappy" and "CSAT 1: unhappy" in told["context"]["reason"]
    assert [a["action"] for a in case["audit"]].count("followup_answered") == 1
    wrong = {**event, "attributes": {"followup_nonce": "forged"}, "event_id": "followup-forged"}
    desk.handle_followup_answer(wrong)  # no follow-up has that nonce: nothing happens
    assert desk.get_followup(case_id)["answer"]["score"] == 1


def test_invalid_policies_are_refused_naming_the_field(desk):
    with pytest.raises(BadRequest) as info:
        desk.apply_followup_policy({"rules": [{"name": "x", "by": "team", "channels": ["pigeon"]}]})
    assert info.value.errors == ["rules.0.channels.0: Must be one of: sms, email, wechat_oa."]
    with pytest.raises(BadRequest, match="rules.0.calendar: unknown calendar 'mars'"):
        desk.apply_followup_policy(policy(calendar="mars"))


def test_without_a_survey_secret_an_automatic_follow_up_becomes_the_owners_task(desk):
    desk.apply_followup_policy(policy(by="automatic", after_business_hours=1))
    case_id = resolved(desk)
    desk.now.at = FRIDAY_5PM + timedelta(days=3)
    with config.patch({"SURVEY_SECRET": ""}):
        assert desk.sweep_followups() == 1
    assert sent(desk, "customer_message_requested") == []
    [task] = desk.list_followups({"assignees": ["li.na"]})
    assert task["case_id"] == case_id and "SURVEY_SECRET is not set" in task["task"]["reason"]


def test_playbook_metrics_read_the_follow_up_answers(desk):
    """A playbook used on two cases: one customer answered the follow-up with CSAT 4 to the
    agent, the other with NPS 10 (1 + 4 × 10/10 = 5): the playbook's post-resolution CSAT is
    their mean (cases.playbook_metrics over the real follow-up records)."""
    from pathlib import Path

    import yaml

    book = yaml.safe_load(
        (Path(__file__).parents[2] / "samples" / "playbooks.yaml").read_text(encoding="utf-8")
    )
    desk.save_playbook({"by": "admin", "playbook": book["playbooks"][0]})
    desk.apply_followup_policy(policy())
    ids = []
    for n in (1, 2):
        desk.handle_alert_raised([alert(n, customer=f"C{n}")])
        [case] = desk.list_cases(customer=f"C{n}")
        desk.use_playbook({"case_id": case["_id"], "playbook_id": "late-delivery", "by": "li.na"})
        ids.append(resolved(desk, n))
    desk.now.at = THURSDAY_0930 + timedelta(minutes=1)
    assert desk.sweep_followups() == 2
    desk.followup_done({"case_id": ids[0], "by": "li.na", "score": 4, "scale": "csat"})
    desk.followup_done({"case_id": ids[1], "by": "li.na", "score": 10, "scale": "nps"})
    since = (FRIDAY_5PM - timedelta(days=1)).isoformat()
    [row] = desk.playbook_metrics({"since": since})["playbooks"]
    assert row["playbook_id"] == "late-delivery" and row["csat_answers"] == 2
    assert row["post_resolution_csat"] == 4.5 and row["resolved"] == 2


def outcome(case_id: str, status: str, at: datetime, **extra) -> dict:
    return {
        "message_id": f"{case_id}:fu0:survey", "purpose": "followup_survey", "customer_id": "C1",
        "case_id": case_id, "status": status, "channel": "sms", "reason": None, "error_code": None,
        "finished_at": at, **extra,
    }  # fmt: skip


def test_a_delivery_receipt_replaces_sent_once_and_an_undelivered_survey_is_the_owners_task(desk):
    desk.apply_followup_policy(policy(by="automatic", after_business_hours=1))
    first, second = resolved(desk, 1), resolved(desk, 2)
    desk.now.at = FRIDAY_5PM + timedelta(days=3)
    assert desk.sweep_followups() == 2
    now = desk.now()
    # delivered after sent; sent redelivered after it changes nothing
    desk.handle_customer_message_outcome(outcome(first, "sent", now))
    desk.handle_customer_message_outcome(outcome(first, "delivered", now, error_code="DELIVERED"))
    desk.handle_customer_message_outcome(outcome(first, "sent", now))
    fu = desk.get_followup(first)
    assert fu["state"] == "sent" and fu["message"]["outcome"]["status"] == "delivered"
    assert fu["message"]["outcome"]["error_code"] == "DELIVERED"
    # undelivered before its sent: it stands, and the owner gets the task, once
    bad = outcome(second, "undelivered", now, reason="MK:0001 用户停机", error_code="MK:0001")
    desk.handle_customer_message_outcome(bad)
    desk.handle_customer_message_outcome(bad)
    desk.handle_customer_message_outcome(outcome(second, "sent", now))
    fu = desk.get_followup(second)
    assert fu["message"]["outcome"]["status"] == "undelivered" and fu["state"] == "task"
    assert "the survey was undelivered (MK:0001 用户停机)" in fu["task"]["reason"]
    actions = [a["action"] for a in desk.get_case(second)["audit"]]
    assert actions.count("followup_message_undelivered") == 1 and "followup_task_opened" in actions
    # an SMS reply that answers nothing, on the follow-up that is a task now: audited, no second task
    assert desk.followup_reply_unreadable(
        {"case_id": second, "text": "打电话", "reason": "no score", "via": "sms"}
    ) == {"task": False, "followup_id": f"{second}:fu0"}
    assert "followup_sms_reply_unreadable" in [a["action"] for a in desk.get_case(second)["audit"]]
