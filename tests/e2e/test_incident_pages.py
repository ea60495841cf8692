"""The incident pages on the whole running stack, from what the real producers write: a
store's NPS collapsing over 12 feedback events makes the alerts service raise one group
alert (a group rule), the cases service opens one incident and links the store's
customer cases; an owner finds it in the console, reads its group and children, and
resolves it with its children from the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.conftest import wait_until
from tests.e2e.gateway_stack import RULES, feedback, gateway  # noqa: F401 - the fixture

STORE_COLLAPSE = {
    "id": "store-collapse",
    "name": "门店 NPS 崩盘",
    "level": "P2",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"field": "attributes.store", "op": "exists"},
    "group": {
        "by": ["attributes.store"],
        "window": "1h",
        "score_below": {"score": "nps", "below": 0, "min_responses": 10},
    },
}


def test_an_owner_resolves_a_real_incident_with_its_children_from_the_console(gateway):  # noqa: F811
    gateway.rpc.alerts.apply_rules({"rules": [*RULES["rules"], STORE_COLLAPSE]})
    now = datetime.now(UTC).isoformat()  # the 1 h window holds them all
    events = [
        feedback(
            f"sc-{n}",
            nps=1,
            customer=f"S{n}",
            text="排队太久",
            attributes={"store": "SH-01"},
            occurred_at=now,
        )
        for n in range(12)
    ]
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    [incident] = wait_until(lambda: gateway.rpc.cases.list_incidents(), timeout=30, message="one incident")
    wait_until(
        lambda: gateway.rpc.cases.list_incidents()[0]["child_counts"]["total"] >= 10,
        timeout=30,
        message="children",
    )
    assert len(gateway.rpc.cases.list_incidents()) == 1  # one incident, not one per event

    owner = gateway.login("owner")
    listing = owner.get(gateway.url + "/incidents?status=active").text
    assert "门店 NPS 崩盘" in listing and f"/incidents/{incident['_id']}" in listing
    page = owner.get(gateway.url + f"/incidents/{incident['_id']}").text
    assert "attributes.store = SH-01" in page and "群体评分低于阈值" in page
    children = re.findall(r'href="/cases/(CASE-[0-9A-F]+)"', page.split('id="children"')[1])
    assert len(children) >= 10
    assert gateway.login("agent").get(gateway.url + "/incidents").status_code == 403

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = owner.post(
        gateway.url + f"/incidents/{incident['_id']}/resolve",
        data={"csrf_token": token, "resolve_children": "on"},
        allow_redirects=False,
    )
    assert refused.status_code == 400 and "form.root_cause" in refused.text
    done = owner.post(
        gateway.url + f"/incidents/{incident['_id']}/resolve",
        data={
            "csrf_token": token,
            "root_cause": "process_gap",
            "summary": "加开收银台",
            "resolve_children": "on",
        },
        allow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=resolved")
    after = owner.get(gateway.url + done.headers["Location"]).text
    assert "事件已解决" in after and "流程缺失" in after
    for case_id in children:
        assert gateway.rpc.cases.get_case(case_id)["status"] == "resolved"
    # a customer case's incident link goes to its own page
    assert owner.get(gateway.url + f"/incidents/{children[0]}", allow_redirects=False).status_code == 303


CHARGE_STORM = {
    "id": "charge-storm",
    "name": "乱收费风暴 / Charge storm",
    "level": "P2",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"field": "tags", "op": "contains_any", "value": ["billing-dispute"]},
    "throttle": {"max_alerts": 3, "per": "1d"},
}


def test_a_storm_incident_page_shows_its_rule_and_every_match_in_both_languages(gateway):  # noqa: F811
    gateway.rpc.alerts.apply_rules({"rules": [*RULES["rules"], CHARGE_STORM]})
    events = [
        feedback(f"storm-{n}", nps=9, customer=f"ST{n}", text="账单扣错了", tags=["billing-dispute"])
        for n in range(20)
    ]
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    [incident] = wait_until(lambda: gateway.rpc.cases.list_incidents(), timeout=60, message="one incident")
    wait_until(
        lambda: gateway.rpc.cases.list_incidents()[0]["child_counts"]["total"] == 3,
        timeout=60,
        message="the rule's 3 cases linked",
    )
    storm_id = incident["alert_id"]
    wait_until(
        lambda: gateway.rpc.alerts.storm_counts([storm_id])[storm_id]["suppressed"] == 17,
        message="17 refused matches counted",
    )
    page = gateway.login("owner").get(gateway.url + f"/incidents/{incident['_id']}").text
    storm = page.split('id="incident-storm"')[1].split("</section>")[0]
    assert "预警风暴：规则的限流拒绝了匹配" in page and "乱收费风暴 / Charge storm (charge-storm)" in storm
    assert re.search(r'id="storm-cases">3<', storm) and re.search(r'id="storm-suppressed">17<', storm)
    assert re.search(r'id="storm-total">20<', storm) and "匹配总数（工单 + 被抑制）" in storm
    assert 'id="incident-observed"' not in page  # its figures are labelled, not raw keys
    english = gateway.login("admin").get(gateway.url + f"/incidents/{incident['_id']}").text
    assert "Matches in all (cases + refused)" in english and "an alert storm" in english
