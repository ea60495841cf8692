"""Erasing a customer reaches every service: profiles announces customer_erased on the
real broker, alerts, cases and notify anonymise their own collections in the real store
(ids, counts, statuses kept), and a second erasure changes nothing more."""

import json

from services.common.erasure import MARK
from tests.conftest import wait_until
from tests.e2e.test_pipeline import db_of, feedback, publish, stack  # noqa: F401 - the stack fixture


def personal(doc) -> bool:
    text = json.dumps(doc, ensure_ascii=False, default=str)
    return "王芳" in text or "快递三天" in text or "13800138000" in text


def test_erasure_anonymises_alerts_cases_and_notify_and_is_idempotent(stack, cx_config, mongo_client):  # noqa: F811
    publish(cx_config["AMQP_URI"], feedback(event_id="x-1"), feedback(event_id="x-2", nps=1))
    [case] = wait_until(stack.cases.list_cases, message="the case")
    wait_until(lambda: stack.alerts.list_alerts()[0]["count"] == 2, message="the repeat attached")
    wait_until(lambda: stack.profiles.get_profile("C42")["open_cases"], message="the profile")
    stack.cases.comment(
        {"case_id": case["_id"], "by": "li.na", "text": "已致电王芳，约明天回访", "visibility": "internal"}
    )
    alerts_db, cases_db = db_of(mongo_client, "alerts"), db_of(mongo_client, "cases")
    notify_db = db_of(mongo_client, "notify")
    # the owner's email about the case, sent: its log entry keeps the context it was rendered from
    [delivery] = wait_until(
        lambda: list(notify_db.deliveries.find({"case_id": case["_id"], "status": "delivered"})),
        message="the delivered email",
    )
    assert (
        personal(alerts_db.alerts.find_one()) and personal(cases_db.cases.find_one()) and personal(delivery)
    )

    out = stack.profiles.erase_customer("C42", by="dpo", request_ref="DSR-7")
    assert out["customer_ids"] == ["C42"]

    def anonymised():
        docs = [*alerts_db.alerts.find(), *cases_db.cases.find(), *cases_db.case_comments.find()]
        docs += notify_db.deliveries.find()
        return docs if not any(personal(d) for d in docs) else None

    wait_until(anonymised, message="alerts, cases and notify anonymised")
    [alert] = alerts_db.alerts.find()
    assert alert["customer"]["id"] == "C42" and alert["count"] == 2 and alert["rule"]["id"] == "nps-detractor"
    assert "text" not in alert["event"] and alert["event"]["channel"] == "wechat"
    stored = cases_db.cases.find_one({"_id": case["_id"]})
    assert stored["title"] == "NPS 贬损者 · C42" and stored["_id"] == case["_id"]
    assert stored["milestones"] and stored["alerts"]
    assert stored["customer"] == {"id": "C42", "tier": "standard"}
    [comment] = cases_db.case_comments.find({"case_id": case["_id"]})
    assert comment["text"] == "已致电[erased 已删除]，约明天回访"
    sent = notify_db.deliveries.find_one({"_id": delivery["_id"]})
    keep = ("notification_id", "channel", "recipient", "status", "attempts", "created_at", "message_id")
    assert {k: sent[k] for k in keep} == {k: delivery[k] for k in keep}
    assert sent["context"]["customer"] == {"id": "C42", "tier": "standard"}
    assert (
        sent["context"]["title"] == "NPS 贬损者 · [erased 已删除]" and "text" not in sent["context"]["event"]
    )
    marks = (alert[MARK], stored[MARK], sent[MARK])

    # A repeated request is announced again: it anonymises what arrived since (a probe
    # document in each service's store) and changes nothing already anonymised.
    probe = {"_id": "probe", "customer": {"id": "C42", "name": "王芳"}, "event": {"text": "快递三天"}}
    alerts_db.alerts.insert_one(probe)
    cases_db.cases.insert_one({**probe, "rule": {"name": "r"}})
    context = {"customer": probe["customer"], "event": probe["event"], "title": "r · 王芳"}
    notify_db.deliveries.insert_one({"_id": "probe", "attempts": 0, "context": context})
    stack.profiles.erase_customer("C42", by="dpo", request_ref="DSR-7")
    wait_until(anonymised, message="the probes anonymised")
    again = (
        alerts_db.alerts.find_one({"_id": alert["_id"]}),
        cases_db.cases.find_one({"_id": case["_id"]}),
        notify_db.deliveries.find_one({"_id": delivery["_id"]}),
    )
    assert tuple(doc[MARK] for doc in again) == marks
    assert again == (alert, stored, sent)
