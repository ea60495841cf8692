"""The gateway over HTTP against the running services (real broker and store)."""

from __future__ import annotations

import json
from urllib.parse import quote

import requests
from nameko import config

from services.gateway.gate import SESSION_COOKIE
from services.gateway.routes import BY_NAME, ROLES, ROUTES
from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, feedback, gateway, profile_or_none, seed_cases  # noqa: F401


def test_agent_sees_what_the_cases_service_visibility_rule_allows(gateway):  # noqa: F811
    team_case, other_case = seed_cases(gateway)
    r = gateway.api("agent", "GET", "/api/v1/cases")
    assert [c["_id"] for c in r.json()["items"]] == [team_case]
    assert gateway.api("agent", "GET", f"/api/v1/cases/{other_case}").status_code == 404
    assert gateway.api("owner", "GET", f"/api/v1/cases/{other_case}").status_code == 200
    assert gateway.api("agent", "GET", "/api/v1/cases?scope=mine").json()["items"] == []
    assert [c["_id"] for c in gateway.api("agent", "GET", "/api/v1/cases?scope=team").json()["items"]] == [
        team_case
    ]
    owner_all = gateway.api("owner", "GET", "/api/v1/cases").json()["items"]
    assert {c["_id"] for c in owner_all} == {team_case, other_case}
    page = gateway.login("agent").get(gateway.url + f"/cases/{other_case}")
    assert page.status_code == 404
    # the cases service's rule: a collaborator (协作人) sees the case too
    gateway.rpc.cases.add_collaborator(
        {"case_id": other_case, "person": "chen.jie", "role": "logistics", "by": "wang.lei"}
    )
    assert gateway.api("agent", "GET", f"/api/v1/cases/{other_case}").status_code == 200
    page = gateway.login("agent").get(gateway.url + f"/cases/{other_case}").text
    assert 'id="case-collaborators">chen.jie (logistics)' in page
    listed = gateway.api("agent", "GET", "/api/v1/cases").json()["items"]
    assert {c["_id"] for c in listed} == {team_case, other_case}


def test_feedback_over_http_is_processed_once_and_invalid_items_are_not_published(gateway):  # noqa: F811
    event = feedback("dup-1", nps=3, customer="C9")
    for _ in range(2):
        r = gateway.api("integration", "POST", "/api/v1/feedback", json=event)
        assert r.status_code == 202
        assert r.json()["results"] == [
            {"index": 0, "status": "accepted", "source": "survey-app", "event_id": "dup-1"}
        ]
    batch = [event, feedback("bad-1", nps=11, customer="C10"), {"customer": {"id": {"$gt": ""}}}, "text"]
    r = gateway.api("integration", "POST", "/api/v1/feedback", json=batch)
    body = r.json()
    assert r.status_code == 202 and body["accepted"] == 1 and body["rejected"] == 3
    assert [x["status"] for x in body["results"]] == ["accepted", "rejected", "rejected", "rejected"]
    assert {
        "field": "scores.nps",
        "message": "Must be greater than or equal to 0 and less than or equal to 10.",
    } in body["results"][1]["errors"]
    assert any(e["field"] == "customer.id" for e in body["results"][2]["errors"])

    # three posts of one event: one alert, one feedback in the profile (checked through the services)
    profile = wait_until(lambda: profile_or_none(gateway, "C9"), message="the profile")
    from cxctl.broker import wait_queues_idle  # the queues drain before we count

    wait_queues_idle(config["AMQP_URI"], quiet=6, timeout=30)
    assert gateway.rpc.profiles.get_profile("C9")["feedback_count"] == 1
    assert len(gateway.rpc.alerts.list_alerts(customer_id="C9")) == 1
    assert profile["_id"] == "C9"
    assert profile_or_none(gateway, "C10") is None  # the invalid item never reached the broker
    assert gateway.rpc.alerts.stats()["dead_letters"] == {}


def test_bad_input_is_a_400_naming_the_field(gateway):  # noqa: F811
    def errors(path):
        r = gateway.api("owner", "GET", path)
        assert r.status_code == 400, (path, r.text)
        return {e["field"] for e in r.json()["error"]["errors"]}

    assert errors("/api/v1/alerts?limit=0") == {"query.limit"}
    assert errors("/api/v1/alerts?level=P9&offset=-1") == {"query.level", "query.offset"}
    assert errors("/api/v1/cases?scope=everything") == {"query.scope"}
    r = gateway.api(
        "integration", "POST", "/api/v1/feedback", data="{oops", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["field"] == "body"
    r = gateway.api(
        "integration", "POST", "/api/v1/feedback", data="x", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    r = gateway.api("integration", "POST", "/api/v1/feedback", json=feedback(scores={"nps": "9"}))
    assert r.status_code == 400 and r.json()["error"]["errors"] == [
        {"field": "scores.nps", "message": "Not a valid integer."}
    ]
    assert gateway.api("owner", "GET", "/api/v1/alerts/AL-nope").status_code == 404
    assert errors("/api/v1/cases/CASE%20one") == {"path.case_id"}
    assert errors("/api/v1/profiles/C%0042") == {"path.customer_id"}
    assert gateway.api(None, "GET", "/api/v1/alerts").status_code == 401
    r = gateway.api(None, "GET", "/api/v1/alerts", headers={"Authorization": "Bearer cxt_forged"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "unknown or revoked API token"


def test_mongodb_operators_in_input_are_rejected_or_literal(gateway):  # noqa: F811
    seed_cases(gateway)
    # operator syntax in a query string: an unknown parameter, rejected
    r = gateway.api("owner", "GET", "/api/v1/alerts?customer_id[$gt]=")
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["field"] == "query.customer_id[$gt]"
    r = gateway.api("owner", "GET", "/api/v1/alerts?customer_id=%7B%22%24gt%22%3A%22%22%7D")
    assert r.status_code == 400  # not an id
    # an operator as a path segment is a literal id: nothing matches
    r = gateway.api("owner", "GET", "/api/v1/profiles/" + quote('{"$gt": ""}', safe=""))
    assert r.status_code == 404
    # an operator object in a JSON body fails the contract
    r = gateway.api("integration", "POST", "/api/v1/feedback", json=feedback(customer={"id": {"$gt": ""}}))
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["field"] == "customer.id"
    # a login form's operator text is a literal user name
    s = requests.Session()
    token = csrf_of(s.get(gateway.url + "/login").text)
    r = s.post(
        gateway.url + "/login", data={"username": '{"$gt": ""}', "password": "x" * 12, "csrf_token": token}
    )
    assert r.status_code == 401


def test_csrf_is_required_on_every_form_and_cookie_api_call(gateway):  # noqa: F811
    # login without the pre-login session's token
    r = requests.post(
        gateway.url + "/login",
        data={"username": "root", "password": "admin-password-1"},
        allow_redirects=False,
    )
    assert r.status_code == 403
    s = gateway.login("admin")
    assert s.last_login.status_code == 303
    cookie = s.last_login.cookies.get(SESSION_COOKIE)
    header = s.last_login.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    token = csrf_of(s.get(gateway.url + "/cases").text)
    assert (
        s.post(gateway.url + "/language", data={"language": "en"}, allow_redirects=False).status_code == 403
    )
    r = s.post(
        gateway.url + "/language", data={"language": "en", "csrf_token": "forged"}, allow_redirects=False
    )
    assert r.status_code == 403
    r = s.post(gateway.url + "/language", data={"language": "en", "csrf_token": token}, allow_redirects=False)
    assert r.status_code == 303
    assert "Case queue" in s.get(gateway.url + "/cases").text
    # switched on a page a form post showed (POST-only): back to the page above it
    r = s.post(
        gateway.url + "/language",
        data={"language": "en", "csrf_token": token},
        headers={"Referer": gateway.url + "/cases/C-404/assign"},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["Location"] == "/cases/C-404"
    # the API with the session cookie: reads are fine, writes need X-CSRF-Token
    jar = {SESSION_COOKIE: cookie}
    assert requests.get(gateway.url + "/api/v1/me", cookies=jar).json()["via"] == "session"
    r = requests.post(gateway.url + "/api/v1/feedback", json=feedback("csrf"), cookies=jar)
    assert r.status_code == 403
    r = requests.post(
        gateway.url + "/api/v1/feedback", json=feedback("csrf"), cookies=jar, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 202
    # logout ends the session for good
    assert (
        s.post(gateway.url + "/logout", data={"csrf_token": token}, allow_redirects=False).status_code == 303
    )
    assert requests.get(gateway.url + "/api/v1/me", cookies=jar).status_code == 401


def test_cxctl_manages_users_and_tokens(gateway):  # noqa: F811
    from click.testing import CliRunner

    from cxctl.main import cli

    def run(*args, **kwargs):
        result = CliRunner().invoke(cli, ["--amqp-uri", config["AMQP_URI"], "users", *args], **kwargs)
        assert result.exit_code == 0, result.output
        return result.output

    out = run(
        "add", "li.na", "--role", "agent", "--team", "cx-care", "--password-stdin", input="a-long-password\n"
    )
    assert out.strip() == "li.na: agent"
    assert "li.na" in run("list")
    token = run("token", "li.na", "--name", "laptop").strip()
    assert (
        gateway.api(None, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["id"]
        == "li.na"
    )
    assert run("revoke", "li.na").strip() == "revoked 1 token(s)"
    assert (
        gateway.api(None, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    result = CliRunner().invoke(
        cli,
        ["--amqp-uri", config["AMQP_URI"], "users", "add", "x", "--role", "agent", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 1 and "password:" in result.output


def test_integrations_cannot_use_the_console(gateway):  # noqa: F811
    r = gateway.api("integration", "GET", "/cases")
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    s = gateway.login("integration", password=gateway.tokens["integration"])
    assert s.last_login.status_code == 401


def test_every_list_is_paginated_with_a_next_link(gateway):  # noqa: F811
    r = gateway.api(
        "integration",
        "POST",
        "/api/v1/feedback",
        json=[feedback(f"page-{n}", nps=1, customer=f"P{n}") for n in range(5)],
    )
    assert r.json()["accepted"] == 5
    wait_until(lambda: len(gateway.rpc.cases.list_cases()) == 5, message="five cases")
    for path in ("/api/v1/alerts", "/api/v1/cases", "/api/v1/rules", "/api/v1/notifications"):
        seen, url, pages = [], f"{path}?limit=2", 0
        while url:
            body = gateway.api("admin", "GET", url).json()
            assert body["limit"] == 2 and len(body["items"]) <= 2
            seen += [item.get("_id") for item in body["items"]]
            url, pages = body["next"], pages + 1
        assert len(seen) == len(set(seen)), path
        total = {"/api/v1/rules": 2}.get(path)
        if total:
            assert len(seen) == total
        if path in ("/api/v1/alerts", "/api/v1/cases"):
            assert len(seen) == 5 and pages == 3
    # the agent's scope is applied while paging
    agent = gateway.api("agent", "GET", "/api/v1/cases?limit=2").json()
    assert agent["next"] and len(agent["items"]) == 2


def test_openapi_served_is_the_checked_in_document(gateway):  # noqa: F811
    from services.gateway.openapi import OPENAPI_FILE

    served = gateway.api("integration", "GET", "/api/v1/openapi.json").json()
    assert served == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    assert set(served["paths"]) == {r.openapi_path for r in ROUTES if r.kind == "api"}
    assert BY_NAME["openapi.get"].roles == ROLES


def test_console_pages_render_the_services_data(gateway):  # noqa: F811
    team_case, other_case = seed_cases(gateway)
    s = gateway.login("owner")
    rules = s.get(gateway.url + "/rules").text
    assert "NPS 贬损者" in rules and "团队：cx-care" in rules and "预警规则" in rules
    queue = s.get(gateway.url + "/cases?level=P2").text
    assert "退款" in queue and team_case not in queue  # the P3 case is filtered out
    case = s.get(gateway.url + f"/cases/{team_case}").text
    assert "触发原因" in case and "NPS为 2（条件：≤ 6）" in case  # the trigger as a sentence
    assert "创建工单" in case and "已分配" in case and ">opened<" not in case  # audit events translated
    assert 'id="case-aspects"' not in case  # 还行 is about no known aspect
    refund = s.get(gateway.url + f"/cases/{other_case}").text
    assert 'id="case-aspects"' in refund and "售后" in refund  # 我要退款: after-sales
    assert gateway.api("owner", "GET", f"/api/v1/cases/{other_case}").json()["aspects"] == ["after_sales"]
    profile = s.get(gateway.url + "/customers/C42").text
    assert "体验档案" in profile and "王芳" in profile and "nps-detractor × 1" in profile
    missing = s.get(gateway.url + "/customers/NOBODY")
    assert missing.status_code == 404 and "尚无该客户的体验档案" in missing.text
    nope = s.get(gateway.url + "/cases/CASE-NOPE")
    assert nope.status_code == 404 and "找不到该内容" in nope.text
    bad = s.get(gateway.url + "/cases?level=P9")
    assert bad.status_code == 400 and "query.level" in bad.text
    assert s.get(gateway.url + "/static/console.js").headers["Content-Type"].startswith("text/javascript")
    assert s.get(gateway.url + "/static/..%2Fservice.py").status_code == 404


def test_case_actions_over_the_api_and_the_case_page(gateway):  # noqa: F811
    team_case, other_case = seed_cases(gateway)

    def act(role, case_id, action, body=None):
        return gateway.api(role, "POST", f"/api/v1/cases/{case_id}/{action}", json=body)

    # validation names the field; `by` comes from the login, never the body
    r = act("agent", team_case, "reassign", {"assignee": {"kind": "robot", "id": "x"}, "by": "someone"})
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["error"]["errors"]} == {
        "body.assignee.kind",
        "body.by",
        "body.reason",
    }
    r = act(
        "agent", team_case, "reassign", {"assignee": {"kind": "person", "id": "chen.jie"}, "reason": "我来"}
    )
    assert r.status_code == 200 and r.json()["assignee"] == {"kind": "person", "id": "chen.jie"}
    case = gateway.api("agent", "GET", f"/api/v1/cases/{team_case}").json()
    assert any(a["actor"] == "chen.jie" and a["why"] == "我来" for a in case["audit"])
    assert act("agent", team_case, "acknowledge").status_code == 200  # no body at all
    r = act("agent", team_case, "acknowledge", {})
    assert r.status_code == 422 and "already acknowledged" in r.json()["error"]["message"]
    assert act("agent", team_case, "resume", {}).status_code == 409  # not pending
    r = act("agent", team_case, "resolve", {"root_cause": "aliens", "first_contact_resolution": True})
    assert r.status_code == 422 and r.json()["error"]["errors"][0]["field"] == "root_cause"
    r = act("agent", team_case, "resolve", {"root_cause": "delivery_delay", "first_contact_resolution": True})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert act("agent", team_case, "close", {}).status_code == 403  # owners and admins close
    assert act("agent", other_case, "acknowledge", {}).status_code == 404  # not visible to the agent
    assert act("owner", team_case, "close", {"reason": "done"}).json()["status"] == "closed"

    # the same from the case page's forms (CSRF-protected), errors shown on the page
    s = gateway.login("owner")
    page = s.get(gateway.url + f"/cases/{other_case}").text
    assert 'id="form-reassign"' in page and 'id="form-close"' not in page
    assert 'class="countdown" data-deadline=' in page
    token = csrf_of(page)
    r = s.post(
        gateway.url + f"/cases/{other_case}/reassign",
        data={"assignee_kind": "team", "assignee_id": "cx-care", "reason": "", "csrf_token": token},
        allow_redirects=False,
    )
    assert r.status_code == 400 and 'data-field="body.reason"' in r.text and 'id="action-error"' in r.text
    assert "原因：必填" in r.text  # the field and the message in the user's language
    r = s.post(
        gateway.url + f"/cases/{other_case}/reassign",
        data={"assignee_kind": "team", "assignee_id": "cx-care", "reason": "物流问题", "csrf_token": token},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["Location"] == f"/cases/{other_case}?done=reassign"
    assert "操作已完成：转派" in s.get(gateway.url + r.headers["Location"]).text  # the confirmation
    r = s.post(
        gateway.url + f"/cases/{other_case}/comment", data={"text": "已联系快递"}, allow_redirects=False
    )
    assert r.status_code == 403  # no CSRF token
    s.post(gateway.url + f"/cases/{other_case}/comment", data={"text": "已联系快递", "csrf_token": token})
    s.post(
        gateway.url + f"/cases/{other_case}/resolve",
        data={"root_cause": "delivery_delay", "summary": "补发", "csrf_token": token},
    )
    case = gateway.rpc.cases.get_case(other_case)
    assert case["status"] == "resolved" and case["resolution"]["first_contact_resolution"] is False
    assert [c["text"] for c in case["comments"]] == ["已联系快递"]
    page = s.get(gateway.url + f"/cases/{other_case}").text
    assert 'id="form-reopen"' in page and 'id="form-close"' in page and "已联系快递" in page
    assert 'id="case-sla">已停止' in page  # resolved: every clock stopped
    assert 'id="resolution-root-cause">配送延误' in page and 'id="resolution-summary">补发' in page
    r = s.post(gateway.url + f"/cases/{other_case}/resume", data={"csrf_token": token}, allow_redirects=False)
    assert r.status_code == 409 and "action-error" in r.text


def test_metrics_and_the_dashboard_follow_the_cases(gateway):  # noqa: F811
    team_case, _ = seed_cases(gateway)
    before = gateway.api("owner", "GET", "/api/v1/metrics").json()
    assert before["alerts"]["by_level"] == {"P3": 1, "P2": 1} and before["alerts"]["total"] == 2
    assert before["cases"]["overall"]["cases"] == 2 and before["cases"]["overall"]["resolved"] == 0
    assert {g["key"] for g in before["cases"]["by_touchpoint"]} == {"delivery"}
    assert before["scores"]["available"] is True
    assert before["scores"]["total"]["nps"]["count"] == 2
    # the alert figures follow the period chosen, like the cases' (raised now: none in 2999)
    period = "since=2999-01-01T00:00:00%2B00:00&until=2999-12-31T00:00:00%2B00:00"
    later = gateway.api("owner", "GET", f"/api/v1/metrics?{period}").json()
    assert later["alerts"] == {"total": 0, "by_level": {}, "by_rule": {}}
    gateway.api("agent", "POST", f"/api/v1/cases/{team_case}/start", json={})
    r = gateway.api(
        "agent",
        "POST",
        f"/api/v1/cases/{team_case}/resolve",
        json={"root_cause": "delivery_delay", "first_contact_resolution": True},
    )
    assert r.status_code == 200
    after = gateway.api("agent", "GET", "/api/v1/metrics").json()["cases"]["overall"]
    assert after["resolved"] == 1 and after["fcr_rate"] == 1.0 and after["mttr_seconds"] is not None

    s = gateway.login("owner")
    page = s.get(gateway.url + "/dashboard").text
    assert "客户体验看板" in page and 'id="chart-alerts-level"' in page and "<svg" in page
    assert 'id="chart-nps"' in page and 'id="chart-by-team-fcr-rate"' in page
    assert '<td id="overall-resolved">1</td>' in page and "100.0%" in page
    assert "cdn" not in page.lower() and "<script>" not in page
    r = gateway.api("owner", "GET", "/api/v1/metrics?since=2026-11-20T00:00:00&bucket=month")
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"query.since", "query.bucket"}
    r = gateway.api(
        "owner", "GET", "/api/v1/metrics?since=2026-11-20T00:00:00%2B00:00&until=2026-11-19T00:00:00%2B00:00"
    )
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["field"] == "query.until"


def test_queue_filters_by_breach_and_touchpoint_and_counts_down(gateway):  # noqa: F811
    seed_cases(gateway)
    items = gateway.api("owner", "GET", "/api/v1/cases").json()["items"]
    assert [c["level"] for c in items] == ["P2", "P3"]  # urgency first
    assert all(c["deadline"] and c["missed"] is False for c in items)
    newest = gateway.api("owner", "GET", "/api/v1/cases?sort=newest").json()["items"]
    assert [c["_id"] for c in newest] == [c["_id"] for c in items]
    assert len(gateway.api("owner", "GET", "/api/v1/cases?touchpoint=delivery").json()["items"]) == 2
    assert gateway.api("owner", "GET", "/api/v1/cases?touchpoint=store").json()["items"] == []
    assert gateway.api("owner", "GET", "/api/v1/cases?breach=breached").json()["items"] == []
    assert len(gateway.api("owner", "GET", "/api/v1/cases?breach=none").json()["items"]) == 2
    r = gateway.api("owner", "GET", "/api/v1/cases?breach=late&sort=random")
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"query.breach", "query.sort"}
    page = gateway.login("owner").get(gateway.url + "/cases?breach=&touchpoint=delivery").text
    assert page.count('class="countdown" data-deadline=') == 2 and 'data-breached="已超时"' in page


def test_rules_edit_enable_versions_and_dry_run(gateway):  # noqa: F811
    seed_cases(gateway)  # two evaluated events in the alerts service's history
    draft = {
        "id": "late-delivery",
        "name": "物流延迟",
        "level": "P3",
        "owner": {"kind": "team", "id": "cx-care"},
        "channels": ["email"],
        "when": {"all": [{"field": "touchpoint", "op": "eq", "value": "delivery"}]},
    }
    bad = {**draft, "when": {"all": [{"field": "touchpoint", "op": "sounds_like", "value": "x"}]}}
    r = gateway.api("admin", "POST", "/api/v1/rules", json=bad)
    assert r.status_code == 400
    assert any(e["field"].startswith("when.all.0") for e in r.json()["error"]["errors"]), r.text
    assert gateway.api("owner", "POST", "/api/v1/rules", json=draft).status_code == 403
    # dry-run the unsaved draft: both seeded events are at the delivery touchpoint
    r = gateway.api("owner", "POST", "/api/v1/rules/backtest", json={"rule": draft, "since": "30d"})
    assert r.status_code == 200, r.text
    assert r.json()["events"] == 2 and r.json()["alerts"] == 2 and len(r.json()["examples"]) == 2
    r = gateway.api("owner", "POST", "/api/v1/rules/backtest", json={"rule": "", "since": "soon"})
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["field"] == "body.rule"
    assert gateway.api("admin", "POST", "/api/v1/rules", json=draft).status_code == 201
    changed = {**draft, "level": "P2"}
    assert gateway.api("admin", "PUT", "/api/v1/rules/late-delivery", json=changed).json()["version"] == 2
    assert gateway.api("admin", "POST", "/api/v1/rules/late-delivery/disable").json()["changed"] is True
    found = gateway.api("agent", "GET", "/api/v1/rules/late-delivery").json()
    assert [v["version"] for v in found["versions"]] == [1, 2, 3] and found["rule"]["enabled"] is False
    assert "-level: P3" in found["versions"][1]["diff"] and "+level: P2" in found["versions"][1]["diff"]

    # the console: the rule page, the editor's field-path errors, enable, the dry run
    s = gateway.login("admin")
    page = s.get(gateway.url + "/rules/late-delivery").text
    assert 'id="version-3"' in page and "+level: P2" in page and 'id="toggle-enabled"' in page
    token = csrf_of(page)
    r = s.post(gateway.url + "/rules/late-delivery/enabled", data={"enabled": "true", "csrf_token": token})
    assert r.url.endswith("/rules/late-delivery") and 'id="rule-enabled">yes' in r.text
    editor = s.get(gateway.url + "/rules/late-delivery/edit").text
    assert "late-delivery" in editor and "level: P2" in editor
    r = s.post(
        gateway.url + "/rules/late-delivery",
        data={"document": "id: late-delivery\nname: x\nlevel: P7\n", "csrf_token": token},
    )
    assert r.status_code == 400 and 'id="rule-errors"' in r.text and "<code>level</code>" in r.text
    r = s.post(gateway.url + "/rules", data={"document": "[unclosed", "csrf_token": token})
    assert r.status_code == 400 and "<code>document</code>" in r.text
    r = s.post(
        gateway.url + "/rule-editor/dry-run",
        data={"rule_id": "late-delivery", "since": "30d", "csrf_token": token},
    )
    assert r.status_code == 200 and 'id="dry-alerts">2<' in r.text
    owner_page = gateway.login("owner").get(gateway.url + "/rules/late-delivery").text
    assert 'id="dry-run-form"' in owner_page and 'id="toggle-enabled"' not in owner_page


def test_profile_search_over_the_api_and_the_console(gateway):  # noqa: F811
    seed_cases(gateway)
    wait_until(lambda: profile_or_none(gateway, "C77"), message="the second profile")
    found = gateway.api("agent", "GET", "/api/v1/profiles?phone=13800138000").json()
    assert sorted(p["_id"] for p in found["items"]) == ["C42", "C77"]
    one = gateway.api("agent", "GET", "/api/v1/profiles?phone=13800138000&limit=1").json()
    assert len(one["items"]) == 1 and one["next"]
    assert gateway.api("agent", "GET", "/api/v1/profiles").json()["items"] == []  # no key, no listing
    r = gateway.api("agent", "GET", "/api/v1/profiles?name[$ne]=x")
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["field"] == "query.name[$ne]"
    s = gateway.login("agent")
    page = s.get(gateway.url + "/customers?name=王").text
    assert 'href="/customers/C42"' in page and "王芳" in page
    assert 'id="search-empty"' in s.get(gateway.url + "/customers?name=nobody").text
