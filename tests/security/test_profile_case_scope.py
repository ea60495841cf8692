"""Every answer that names a case names only cases the caller may open.

The cases service's ``visible_to`` rule decides which cases a user may open
(``GET /api/v1/cases/<id>`` answers 404 for the others); the customer profile
(its open cases and its timeline), the profile search and the console's
profile page follow the same rule, for each role the gateway knows (agent,
owner, admin), over real HTTP with cases opened by the real pipeline.
"""

from __future__ import annotations

import json
import re

from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway, profile_or_none  # noqa: F401 - the fixture

CUSTOMER = "C77"


def two_cases_of_one_customer(gw) -> tuple[dict, dict]:
    """One case for the agent's team (rule nps-detractor), one for wang.lei (rule refund),
    the second acknowledged by its owner, so the timeline holds a milestone too."""
    r = gw.api(
        "integration",
        "POST",
        "/api/v1/feedback",
        json=[
            feedback("vis-team", nps=2, customer=CUSTOMER, text="还行"),
            feedback("vis-other", nps=9, customer=CUSTOMER, text="我要退款，别再拖了"),
        ],
    )
    assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
    cases = wait_until(lambda: len(rows := gw.rpc.cases.list_cases(customer=CUSTOMER)) == 2 and rows)
    by_rule = {c["rule"]["id"]: c for c in cases}
    team, other = by_rule["nps-detractor"], by_rule["refund"]
    gw.rpc.cases.acknowledge({"case_id": other["_id"], "by": "wang.lei"})

    def recorded():
        profile = profile_or_none(gw, CUSTOMER) or {}
        named = [(e["kind"], e.get("case_id")) for e in profile.get("timeline", [])]
        ready = len(profile.get("open_cases", [])) == 2 and ("case_milestone", other["_id"]) in named
        return ready and ("case_opened", team["_id"]) in named and profile

    wait_until(recorded, message="both cases and the milestone in the profile")
    return team, other


def named_cases(document) -> set[str]:
    """Every case id an answer names, wherever it is (open cases, timeline, links)."""
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    return set(re.findall(r"CASE-[A-Za-z0-9]+", text))


def test_profiles_and_search_name_only_cases_the_caller_may_open(gateway):  # noqa: F811
    team, other = two_cases_of_one_customer(gateway)
    both = {team["_id"], other["_id"]}
    assert other["title"] != team["title"]
    expected = {"agent": {team["_id"]}, "owner": both, "admin": both}
    for role, visible in expected.items():
        # the case routes are the reference: what they open is what the role may see
        opens = {cid for cid in both if gateway.api(role, "GET", f"/api/v1/cases/{cid}").status_code == 200}
        assert opens == visible, role
        profile = gateway.api(role, "GET", f"/api/v1/profiles/{CUSTOMER}").json()
        assert {c["case_id"] for c in profile["open_cases"]} == visible, role
        timeline = {e["case_id"] for e in profile["timeline"] if e.get("case_id")}
        assert timeline == visible, role
        assert named_cases(profile) == visible, role
        hidden = both - visible
        if hidden:
            assert other["title"] not in json.dumps(profile, ensure_ascii=False)
            assert [e["kind"] for e in profile["timeline"]].count("feedback") == 2  # the rest stays
        found = gateway.api(role, "GET", "/api/v1/profiles?name=王芳&phone=13800138000").json()
        assert [p["_id"] for p in found["items"]] == [CUSTOMER]
        assert named_cases(found) <= visible, role
        page = gateway.login(role).get(gateway.url + f"/customers/{CUSTOMER}").text
        assert named_cases(page) == visible, role
        links = set(re.findall(r'href="/cases/([^"]+)"', page))
        assert links == visible, role
        if hidden:
            assert other["title"] not in page
    # the same rule as the case routes: a collaborator may open the case, and sees it named
    gateway.rpc.cases.add_collaborator(
        {"case_id": other["_id"], "person": "chen.jie", "role": "refunds", "by": "wang.lei"}
    )
    assert gateway.api("agent", "GET", f"/api/v1/cases/{other['_id']}").status_code == 200
    profile = gateway.api("agent", "GET", f"/api/v1/profiles/{CUSTOMER}").json()
    assert {c["case_id"] for c in profile["open_cases"]} == both
