"""customer_erased handlers' store side on the real store: what is removed, what stays,
merged ids included, and a second run changes nothing."""

import json
from datetime import UTC, datetime

from services.alerts.store import anonymise_customer as anonymise_alerts
from services.cases.store import anonymise_customer as anonymise_cases
from services.common.erasure import MARK, redact
from services.notify.delivery import Pipeline, Policy
from services.notify.digest import build_context, digest_request
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.store import NotifyStore, scrub_delivery
from services.notify.store import anonymise_customer as anonymise_notify
from tests.services.cases_desk import make_desk
from tests.services.test_cases import alert, sent


def test_alerts_side_covers_alerts_suppressed_deadlines_and_merged_ids(db):
    event = {"customer": {"id": "OLD", "name": "王芳", "phone": "138", "email": "f@x.cn"}, "text": "差评"}
    db.alerts.insert_one(
        {"_id": "a1", "customer": {"id": "C1", "name": "王芳"}, "event": {"text": "差"}, "count": 3}
    )
    db.suppressed.insert_one(
        {"_id": "s1", "customer": {"id": "OLD", "name": "王芳"}, "event": {"tags": ["x"]}}
    )
    db.deadlines.insert_one({"_id": "d1", "customer": "OLD", "event": event, "state": "waiting"})
    db.alerts.insert_one({"_id": "a2", "customer": {"id": "C2", "name": "李雷"}, "event": {"text": "好"}})
    db.history.insert_one(
        {"_id": "h1", "at": 1.0, "event": {**event, "customer": {"id": "C1", "name": "王芳"}}}
    )
    db.dead_letters.insert_one({"_id": "x", "preview": '{"customer": {"id": "C1", "name": "王芳"}}'})
    first = anonymise_alerts(db, ["C1", "OLD"])
    assert first == {"alerts": 1, "suppressed": 1, "deadlines": 1, "history": 1, "dead_letters": 1}
    assert db.history.find_one({"_id": "h1"})["event"] == {"customer": {"id": "C1"}}
    a1, d1 = db.alerts.find_one({"_id": "a1"}), db.deadlines.find_one({"_id": "d1"})
    assert a1["customer"] == {"id": "C1"} and a1["event"] == {} and a1["count"] == 3 and MARK in a1
    assert d1["event"] == {"customer": {"id": "OLD"}} and d1["state"] == "waiting"
    assert db.alerts.find_one({"_id": "a2"})["customer"]["name"] == "李雷"  # someone else
    assert anonymise_alerts(db, ["C1", "OLD"]) == {
        "alerts": 0,
        "suppressed": 0,
        "deadlines": 0,
        "history": 0,
        "dead_letters": 0,
    }


def test_cases_side_rebuilds_titles_and_redacts_comments(db):
    db.cases.insert_one(
        {
            "_id": "K1",
            "title": "差评 · 王芳",
            "customer": {"id": "C1", "name": "王芳"},
            "rule": {"name": "差评"},
            "event": {"text": "太差", "channel": "app"},
            "status": "assigned",
        }
    )
    db.case_comments.insert_one({"_id": "m1", "case_id": "K1", "text": "王芳说王芳的快递丢了"})
    assert anonymise_cases(db, ["C1"]) == {"cases": 1, "comments": 1, "dead_letters": 0}
    k1 = db.cases.find_one({"_id": "K1"})
    assert k1["title"] == "差评 · C1" and k1["event"] == {"channel": "app"} and k1["status"] == "assigned"
    assert db.case_comments.find_one()["text"] == "[erased 已删除]说[erased 已删除]的快递丢了"
    assert anonymise_cases(db, ["C1"]) == {"cases": 0, "comments": 0, "dead_letters": 0}


def test_redact_prefers_longer_names_and_ignores_blanks():
    assert redact("王芳芳和王芳", ["王芳", "王芳芳", "", " "]) == "[erased 已删除]和[erased 已删除]"


# -- notify: the delivery log, waiting deliveries and digests, built by the real services ------

PERSONAL = ("王芳", "13800138000", "快递三天")


def notify_with_deliveries(mongo_client, db_prefix):
    """The requests the cases service dispatched for two customers' cases, and the digest
    of their owner built from the cases it lists, each stored by notify's pipeline."""
    desk = make_desk(
        mongo_client[f"{db_prefix}cases"], datetime(2026, 11, 23, 2, 0, tzinfo=UTC), escalation=False
    )
    for n, customer, name, text in (
        (1, "C1", "王芳", "王芳：快递三天都没到，电话 13800138000"),
        (2, "C2", "李雷", "还行"),
    ):
        raised = alert(n, customer=customer)
        raised["customer"]["name"] = name
        raised["event"].update(text=text, tags=["物流"])
        desk.handle_alert_raised([raised])
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    person = {
        "id": "li.na",
        "name": "李娜",
        "email": "li.na@example.com",
        "digest": {"frequency": "daily", "at": "09:00"},
    }
    store.apply_directory(load_directory({"people": [person]}))
    pipeline = Pipeline(store, {}, Renderer(), lambda *a: None, Policy())
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    ids = {}
    for request in sent(desk, "notification_requested"):
        [ids[request["context"]["customer"]["id"]]] = pipeline.request(request, now.timestamp())
    context = build_context(
        person, desk.list_cases(assignee="li.na", limit=500), "daily", now, "http://console"
    )
    [ids["digest"]] = pipeline.request(digest_request(person, context, now), now.timestamp())
    return store, ids, now.timestamp()


def mentions(doc, *words) -> bool:
    text = json.dumps(doc, ensure_ascii=False, default=str)
    return any(w in text for w in words)


def test_notify_side_scrubs_case_notifications_digests_attempts_and_dead_letters(mongo_client, db_prefix):
    store, ids, now = notify_with_deliveries(mongo_client, db_prefix)
    db = store.db
    # a failed attempt whose vendor answer echoed the message, recorded through the store
    claimed = store.claim_due(now, 60.0, [ids["C1"]])
    echo = "HTTP 400: rejected 'NPS 贬损者 · 王芳'"
    attempt = {"delivery_id": ids["C1"], "attempt": 1, "status": "retry", "error": echo}
    store.settle(
        claimed, {"status": "scheduled", "attempts": 1, "last_error": echo, "next_attempt_at": now}, attempt
    )
    db.delivery_attempts.insert_one({"_id": "old#0", "delivery_id": ids["C1"], "attempt": 0, "error": echo})
    db.dead_letters.insert_one({"_id": "dl", "preview": '{"customer": {"id": "C1", "name": "王芳"}}'})
    before = {d["_id"]: d for d in db.deliveries.find()}
    assert mentions(before[ids["C1"]], *PERSONAL) and mentions(before[ids["digest"]], "王芳")

    assert anonymise_notify(db, ["C1", "OLD"]) == {"deliveries": 2, "attempts": 1, "dead_letters": 1}
    after = {d["_id"]: d for d in db.deliveries.find()}
    for collection in ("deliveries", "delivery_attempts", "dead_letters"):
        assert not any(mentions(d, *PERSONAL) for d in db[collection].find()), collection
    mine = after[ids["C1"]]
    keep = (
        "notification_id",
        "kind",
        "level",
        "case_id",
        "channel",
        "recipient",
        "status",
        "attempts",
        "created_at",
    )
    assert {k: mine[k] for k in keep} == {k: before[ids["C1"]][k] for k in keep}
    assert (
        mine["context"]["customer"] == {"id": "C1"}
        and mine["context"]["title"] == "NPS 贬损者 · [erased 已删除]"
    )
    assert mine["context"]["event"]["channel"] == "app" and "text" not in mine["context"]["event"]
    assert "trace" not in mine["context"] and "tags" not in mine["context"]["event"]
    assert (
        mine["last_error"]
        == mine["attempt_log"]["a1"]["error"]
        == "HTTP 400: rejected 'NPS 贬损者 · [erased 已删除]'"
    )
    assert MARK in mine and mine["erasures"] == 1
    assert after[ids["C2"]] == before[ids["C2"]]  # someone else's notification
    rows = {r["customer"]["id"]: r for r in after[ids["digest"]]["context"]["open_cases"]}
    assert rows["C1"]["title"] == "NPS 贬损者 · [erased 已删除]" and rows["C1"]["customer"] == {"id": "C1"}
    assert rows["C2"]["title"] == "NPS 贬损者 · 李雷" and rows["C2"]["customer"]["name"] == "李雷"
    # the waiting delivery is still sent, without the data
    rendered = Renderer().render(
        "case_assigned", "email", "zh-CN", mine["context"], {"id": "li.na", "name": "李娜"}
    )
    assert not rendered.fallback and rendered.subject == "【P2·高】NPS 贬损者 · [erased 已删除]"
    assert "客户：C1" in rendered.text and not mentions(rendered, *PERSONAL)

    assert anonymise_notify(db, ["C1", "OLD"]) == {"deliveries": 0, "attempts": 0, "dead_letters": 0}
    assert {d["_id"]: d for d in db.deliveries.find()} == after


def test_notify_erasures_of_two_customers_of_one_digest_both_hold(mongo_client, db_prefix):
    """Two erasures scrub the same digest at once: the one that read it before the other
    wrote does not write the other customer's name back; it reads again."""
    store, ids, _ = notify_with_deliveries(mongo_client, db_prefix)
    stale = store.db.deliveries.find_one({"_id": ids["digest"]})
    assert anonymise_notify(store.db, ["C2"])["deliveries"] == 2
    assert scrub_delivery(store.db, stale, {"C1"}) == 1
    digest = store.db.deliveries.find_one({"_id": ids["digest"]})
    assert not mentions(digest, "王芳", "李雷") and digest["erasures"] == 2
