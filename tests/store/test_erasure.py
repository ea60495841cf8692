"""customer_erased handlers' store side on the real store: what is removed, what stays,
merged ids included, and a second run changes nothing."""

from services.alerts.store import anonymise_customer as anonymise_alerts
from services.cases.store import anonymise_customer as anonymise_cases
from services.common.erasure import MARK, redact


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
