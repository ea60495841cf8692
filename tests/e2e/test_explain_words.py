"""The words behind the text analysis, end to end: an alert's explain, the case view
(API and page) and the profile (API and page) name what drove sentiment, category and
aspects (real broker and store; the producers' own output)."""

from __future__ import annotations

from nameko import config

from cxctl.broker import wait_queues_idle
from services.alerts.explain import render_tree
from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway, profile_or_none  # noqa: F401

RULE = {
    "id": "negative-delivery",
    "name": "物流差评 / negative about delivery",
    "level": "P2",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {
        "all": [
            {"field": "sentiment", "op": "eq", "value": "negative"},
            {"field": "category", "op": "eq", "value": "complaint"},
            {"field": "aspects", "op": "contains_any", "value": ["delivery"]},
        ]
    },
}
TEXT = "快递太慢了，很不满意，我要投诉"


def test_explain_the_case_view_and_the_profile_name_the_words_behind_the_analysis(gateway):  # noqa: F811
    gateway.rpc.alerts.apply_rules({"rules": [RULE]})
    r = gateway.api(
        "integration", "POST", "/api/v1/feedback", json=feedback("why-1", nps=8, customer="W1", text=TEXT)
    )
    assert r.status_code == 202, r.text
    wait_queues_idle(config["AMQP_URI"], quiet=6, timeout=30)
    [alert] = [a for a in gateway.rpc.alerts.list_alerts(customer_id="W1") if a["rule"]["id"] == RULE["id"]]

    explained = gateway.rpc.alerts.explain_alert(alert["_id"])
    lines = render_tree(explained["tree"])  # what cxctl alerts explain prints
    assert any(
        "sentiment eq negative" in line and "drivers " in line and "不满意" in line and "negated 满意" in line
        for line in lines
    )
    assert any("category eq complaint" in line and "cues 投诉" in line for line in lines)
    assert any("aspects contains_any" in line and "delivery: 快递" in line for line in lines)

    case = wait_until(
        lambda: next((c for c in gateway.rpc.cases.list_cases() if c["customer"]["id"] == "W1"), None),
        message="the case",
    )
    view = gateway.api("owner", "GET", f"/api/v1/cases/{case['_id']}").json()
    assert view["analysis"]["category_cues"] == ["投诉"] and "不满意" in view["analysis"]["drivers"]
    assert view["analysis"]["aspect_terms"]["delivery"] == ["快递"] and view["analysis"]["negated"] == [
        "满意"
    ]
    because = {step["field"]: step.get("because") for step in view["trace"]}
    assert because["category"]["cues"] == ["投诉"] and because["aspects"]["terms"]["delivery"] == ["快递"]
    page = gateway.login("owner").get(gateway.url + f"/cases/{case['_id']}").text
    assert '<small class="because">依据: 投诉</small>' in page
    assert '<small class="because">依据: 快递' in page

    profile = wait_until(lambda: profile_or_none(gateway, "W1"), message="the profile")
    [entry] = [e for e in profile["timeline"] if e["kind"] == "feedback"]
    why = entry["insight"]["why"]
    assert why["cues"] == ["投诉"] and "不满意" in why["drivers"] and why["terms"]["delivery"] == ["快递"]
    profile_page = gateway.login("admin").get(gateway.url + "/customers/W1").text
    [insight] = [
        line
        for line in profile_page.splitlines()
        if '<small class="insight muted">negative · complaint · because: 投诉, ' in line
    ]
    assert "不满意" in insight
    assert "Delivery: 快递" in profile_page
