"""Playbooks through the cases service (worker_factory, real store): saved as versions,
suggested for a case opened from a real alert, used (recorded, sent once), measured."""

from datetime import timedelta

import pytest

from services.common.errors import BadRequest, NotFound
from tests.services.test_cases import T0, alert, cases, sent  # noqa: F401 - the fixture
from tests.unit.test_playbooks import SAMPLES

ADMIN = {"by": "admin", "why": "first version"}


def delivery_alert(n=1, customer="C1"):
    out = alert(n, customer=customer)
    out["event"]["text"] = "快递一直不送到，物流太慢了"
    return out


@pytest.fixture
def library(cases):  # noqa: F811
    for playbook in SAMPLES["playbooks"]:
        assert cases.save_playbook({**ADMIN, "playbook": playbook})["version"] == 1
    return cases


def test_saving_versions_a_playbook_and_keeps_who_when_why(library):
    late = next(p for p in SAMPLES["playbooks"] if p["id"] == "late-delivery")
    assert library.save_playbook({**ADMIN, "playbook": late}) == {
        "id": "late-delivery",
        "version": 1,
        "changed": False,
    }
    changed = {**late, "steps": [*late["steps"], {"zh-CN": "回访", "en": "Follow up"}]}
    library.now.advance(hours=1)
    saved = library.save_playbook({"by": "chen", "why": "add a follow-up step", "playbook": changed})
    assert saved == {"id": "late-delivery", "version": 2, "changed": True}
    shown = library.get_playbook("late-delivery")
    assert shown["version"] == 2 and len(shown["steps"]) == 4
    assert [(v["version"], v["by"], v["why"]) for v in shown["versions"]] == [
        (2, "chen", "add a follow-up step"),
        (1, "admin", "first version"),
    ]
    assert [p["id"] for p in library.list_playbooks()] == [
        "billing-correction",
        "late-delivery",
        "staff-attitude",
    ]
    with pytest.raises(NotFound):
        library.get_playbook("nope")


def test_an_invalid_playbook_or_request_is_refused_naming_the_field(library):
    with pytest.raises(BadRequest) as caught:
        library.save_playbook({"by": "admin", "playbook": {"id": "x", "match": {"aspects": ["nope"]}}})
    assert any(e.startswith("playbook.match.aspects: unknown aspect") for e in caught.value.errors)
    with pytest.raises(BadRequest, match="by: Missing data"):
        library.save_playbook({"playbook": SAMPLES["playbooks"][0]})
    library.handle_alert_raised([delivery_alert()])
    [case] = library.list_cases()
    with pytest.raises(BadRequest, match="language: Must be one of"):
        library.use_playbook(
            {"case_id": case["_id"], "playbook_id": "late-delivery", "by": "li.na", "language": "fr"}
        )
    with pytest.raises(NotFound):
        library.use_playbook({"case_id": case["_id"], "playbook_id": "nope", "by": "li.na"})
    with pytest.raises(BadRequest, match="limit: must be an integer"):
        library.suggest_playbooks(case["_id"], limit=0)


def test_a_delivery_complaint_gets_the_delivery_playbook_first_with_its_reply_filled(library):
    library.handle_alert_raised([delivery_alert()])
    [case] = library.list_cases()
    found = library.suggest_playbooks(case["_id"])
    assert found["aspects"] == ["delivery", "waiting_time"]
    assert [s["id"] for s in found["suggestions"]] == ["late-delivery"]
    [late] = found["suggestions"]
    assert late["reasons"] == [
        {"by": "aspect", "value": "delivery"},
        {"by": "aspect", "value": "waiting_time"},
    ]
    assert late["reply"]["zh-CN"].startswith("张三您好") and case["_id"] in late["reply"]["en"]
    # an agent may not see a case of another team: as if it did not exist
    with pytest.raises(NotFound):
        library.suggest_playbooks(
            case["_id"], visible_to={"user_id": "x", "role": "agent", "teams": ["other"]}
        )


def test_using_a_playbook_records_it_and_sends_the_reply_once(library):
    library.handle_alert_raised([delivery_alert()])
    [case] = library.list_cases()
    request = {
        "case_id": case["_id"],
        "playbook_id": "late-delivery",
        "by": "li.na",
        "send": True,
        "use_id": "u-1",
    }
    first = library.use_playbook(request)
    again = library.use_playbook(request)  # a retry: recorded once, the same message again
    assert first == again and first["version"] == 1 and first["channels"] == ["sms", "email"]
    messages = sent(library, "customer_message_requested")  # each checked against the contract
    assert len(messages) == 2 and messages[0] == messages[1]
    assert messages[0]["message_id"] == "playbook:u-1" and messages[0]["purpose"] == "playbook_reply"
    assert messages[0]["customer_id"] == "C1" and messages[0]["case_id"] == case["_id"]
    assert messages[0]["context"]["reply_text"].startswith("张三您好，关于您反馈的配送延误")
    # filled but not sent: an internal draft, nothing announced
    library.use_playbook(
        {"case_id": case["_id"], "playbook_id": "billing-correction", "by": "li.na", "language": "en"}
    )
    assert len(sent(library, "customer_message_requested")) == 2
    shown = library.get_case(case["_id"])
    assert [(c["visibility"], c["playbook"]["id"]) for c in shown["comments"]] == [
        ("customer", "late-delivery"),
        ("internal", "billing-correction"),
    ]
    assert shown["comments"][1]["text"].startswith("Hello 张三, we checked your bill")
    used = [a for a in shown["audit"] if a["action"] == "playbook_used"]
    assert [(a["detail"]["playbook_id"], a["detail"]["sent"]) for a in used] == [
        ("late-delivery", True),
        ("billing-correction", False),
    ]
    assert [u["playbook_id"] for u in library.suggest_playbooks(case["_id"])["used"]] == [
        "late-delivery",
        "billing-correction",
    ]


def resolve(worker, case_id, by="li.na"):
    worker.resolve(
        {"case_id": case_id, "by": by, "root_cause": "delivery_delay", "first_contact_resolution": False}
    )


def test_metrics_per_playbook_show_resolution_time_and_reopens(library):
    library.handle_alert_raised([delivery_alert(1, "C1"), delivery_alert(2, "C2"), delivery_alert(3, "C3")])
    ids = {c["customer"]["id"]: c["_id"] for c in library.list_cases()}
    for customer in ("C1", "C2"):
        library.use_playbook({"case_id": ids[customer], "playbook_id": "late-delivery", "by": "li.na"})
    library.use_playbook({"case_id": ids["C3"], "playbook_id": "billing-correction", "by": "li.na"})
    library.now.advance(hours=3)
    for customer in ("C1", "C2", "C3"):
        resolve(library, ids[customer])
    library.reopen({"case_id": ids["C2"], "by": "li.na", "reason": "still missing"})
    library.now.advance(hours=1)
    out = library.playbook_metrics({"since": (T0 - timedelta(days=1)).isoformat()})
    rows = {r["playbook_id"]: r for r in out["playbooks"]}
    late = rows["late-delivery"]
    assert (late["uses"], late["cases"], late["resolved"], late["sent"]) == (2, 2, 2, 0)
    assert late["mean_resolution_hours"] == 3.0 and late["reopen_rate"] == 0.5
    assert late["post_resolution_csat"] is None and late["csat_answers"] == 0
    assert rows["billing-correction"]["reopen_rate"] == 0.0
    with pytest.raises(BadRequest, match="group_by"):
        library.playbook_metrics({"since": T0.isoformat(), "group_by": "team"})
