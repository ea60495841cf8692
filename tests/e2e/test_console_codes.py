"""No enum code leaks into a zh-CN console page.

The whole stack runs; cases are opened from real feedback (several channels,
touchpoints and tiers), then worked through every action (assign, reassign,
collaborator, comments, acknowledge, start, wait for the customer, resume,
resolve, reopen, resolve again, close) so the audit trail, the resolution, the
SLA clocks and the customer's timeline hold the codes the services really write.
The codes to look for come from that data (what ``get_case`` and ``get_profile``
answer) and from the services' own enums, never from the console's catalogue;
each page's visible text (tags and attributes removed) must show none of them
as a word.
"""

from __future__ import annotations

import html
import re

from contracts.messages import CASE_STATUSES
from services.cases.lifecycle import AUDIT_ACTIONS
from services.gateway.actions import root_causes
from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, feedback, gateway  # noqa: F401 - the fixture

EVENTS = [
    feedback("codes-1", nps=1, customer="K1", text="快递太慢了"),
    {
        **feedback("codes-2", nps=2, customer="K2", text="安装师傅迟到"),
        "channel": "phone",
        "touchpoint": "installation",
    },
    {
        **feedback("codes-3", nps=3, customer="K3", text="账单扣错了"),
        "channel": "app",
        "touchpoint": "billing",
        "customer": {"id": "K3", "name": "李雷", "tier": "vip"},
    },
    {
        **feedback("codes-4", nps=9, customer="K4", text="我要退款"),
        "channel": "web",
        "touchpoint": "after_sales",
    },
]
ACTIONS = [
    ("reassign", {"assignee_kind": "person", "assignee_id": "chen.jie", "reason": "熟悉客户"}),
    ("add_collaborator", {"person": "wang.lei", "role": "物流"}),
    ("comment", {"text": "已联系快递", "visibility": "internal"}),
    ("comment", {"text": "已致电客户", "visibility": "customer"}),
    ("acknowledge", {}),
    ("start", {}),
    ("pending_customer", {"reason": "等客户回电"}),
    ("resume", {}),
    ("resolve", {"root_cause": "delivery_delay", "summary": "补发", "first_contact_resolution": "on"}),
    ("reopen", {"reason": "客户说还没收到"}),
    ("resolve", {"root_cause": "process_gap", "summary": "流程已改"}),
    ("close", {"reason": "结案"}),
]
WORD = r"(?<![A-Za-z0-9_.:-]){}(?![A-Za-z0-9_-])"


def visible_text(page: str) -> str:
    """What a reader sees: no script/style, no tags or attributes, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def leaks(page: str, codes: set[str]) -> set[str]:
    text = visible_text(page)
    return {code for code in codes if re.search(WORD.format(re.escape(code)), text)}


def codes_in_data(gw, case_ids: list[str], customers: list[str]) -> set[str]:
    """The codes the services wrote for these cases and customers, plus their enums."""
    codes = set(CASE_STATUSES) | set(AUDIT_ACTIONS.values()) | set(root_causes())
    codes |= {"acknowledge", "resolve", "running", "paused", "stopped", "ok", "warning", "breached"}
    for case_id in case_ids:
        case = gw.rpc.cases.get_case(case_id)
        codes |= {a["action"] for a in case["audit"]}
        codes |= {case["event"]["channel"], case["event"].get("touchpoint"), case["customer"].get("tier")}
        if case.get("assignee"):
            codes.add(f"{case['assignee']['kind']}:{case['assignee']['id']}")
        codes |= {f"team:{case['team']}"} if case.get("team") else set()
    for customer in customers:
        profile = gw.rpc.profiles.get_profile(customer)
        codes |= {e["kind"] for e in profile["timeline"]}
        codes |= {e.get("channel") for e in profile["timeline"]} | {profile["identity"].get("tier")}
    return {c for c in codes if c}


def test_no_code_leaks_into_a_chinese_page(gateway):  # noqa: F811
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=EVENTS).status_code == 202
    cases = wait_until(
        lambda: len(gateway.rpc.cases.list_cases()) == len(EVENTS) and gateway.rpc.cases.list_cases()
    )
    by_customer = {c["customer"]["id"]: c["_id"] for c in cases}
    worked = by_customer["K1"]
    owner = gateway.login("owner")  # zh-CN, may close
    token = csrf_of(owner.get(gateway.url + "/cases").text)
    for action, form in ACTIONS:
        r = owner.post(f"{gateway.url}/cases/{worked}/{action}", data={**form, "csrf_token": token})
        assert r.status_code == 200 and 'id="action-done"' in r.text, (action, visible_text(r.text)[-400:])
    wait_until(lambda: len(gateway.rpc.profiles.get_profile("K1")["timeline"]) >= 4, message="the timeline")
    codes = codes_in_data(gateway, list(by_customer.values()), list(by_customer))
    assert {
        "commented",
        "reopened",
        "closed",
        "delivery_delay",
        "vip",
        "case_milestone",
    } <= codes  # real data

    pages = {
        "queue": "/cases",
        "queue (all)": "/cases?view=all",
        "queue (mine)": "/cases?view=mine",
        "rules": "/rules",
        **{f"case {c}": f"/cases/{i}" for c, i in by_customer.items()},
        **{f"profile {c}": f"/customers/{c}" for c in by_customer},
    }
    found = {}
    for name, path in pages.items():
        r = owner.get(gateway.url + path)
        assert r.status_code == 200, name
        found.update({f"{name}: {code}": path for code in leaks(r.text, codes)})
    bulk = owner.post(
        gateway.url + "/cases/bulk",
        data={"csrf_token": token, "action": "acknowledge", "case_id": [by_customer["K2"], worked]},
    )
    found.update({f"bulk: {code}": "/cases/bulk" for code in leaks(bulk.text, codes)})
    assert found == {}
    # the same page in English shows the words the codes stand for
    english = gateway.login("admin").get(gateway.url + f"/cases/{worked}").text
    assert "process gap" in visible_text(english) and "reopened" in visible_text(english)


def test_the_scan_finds_a_code_that_leaks():
    page = '<td title="reopened">重新打开</td><td>delivery_delay</td><p lang="en">team:cx-care</p>'
    assert leaks(page, {"reopened", "delivery_delay", "team:cx-care", "vip"}) == {
        "delivery_delay",
        "team:cx-care",
    }
