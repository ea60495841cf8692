"""The gateway over HTTP against the running services (real broker and store)."""

from __future__ import annotations

import json
from urllib.parse import quote

import requests
from nameko import config

from services.gateway.gate import SESSION_COOKIE
from services.gateway.routes import BY_NAME, ROLES, ROUTES
from services.gateway.service import GatewayService
from tests.conftest import wait_until
from tests.e2e.gateway_stack import LOGIN_OF, csrf_of, feedback, gateway  # noqa: F401 - the fixture

SUCCESS = {"feedback.ingest": 202, "console.home": 303, "console.logout": 303, "console.language": 303}
SKIPPED = {"console.login_form", "console.login", "console.static"}  # public: tested below


def expected_status(route, role) -> int:
    """What the one table in routes.py promises for ``role`` (None: anonymous)."""
    if role is None:
        return 401 if route.kind == "api" else 303
    if role == "integration" and route.kind == "page":
        return 303  # a token never opens the console: back to the login page
    if role not in route.roles:
        return 403
    return SUCCESS.get(route.name, 200)


def seed_cases(gw):
    """One case for the agent's team, one for another person."""
    r = gw.api(
        "integration",
        "POST",
        "/api/v1/feedback",
        json=[
            feedback("team-case", nps=2, customer="C42", text="还行"),
            feedback("other-case", nps=9, customer="C77", text="我要退款"),
        ],
    )
    assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
    cases = wait_until(lambda: len(gw.rpc.cases.list_cases()) == 2 and gw.rpc.cases.list_cases())
    by_customer = {c["customer"]["id"]: c["_id"] for c in cases}
    wait_until(lambda: _profile(gw, "C42"), message="the profile")
    return by_customer["C42"], by_customer["C77"]


def _profile(gw, customer_id):
    try:
        return gw.rpc.profiles.get_profile(customer_id)
    except Exception:
        return None


def call_route(gw, route, role, session, ids):
    path = route.path
    for name, value in ids.items():
        path = path.replace(f"<{name}>", quote(value, safe=""))
    if route.kind == "api" or role in (None, "integration"):
        kwargs = {"json": feedback("authz-probe")} if route.method == "POST" else {}
        return gw.api(role, route.method, path, **kwargs)
    data = None
    if route.method == "POST":
        data = {"csrf_token": session.csrf, "language": "en"}
    return session.request(route.method, gw.url + path, data=data, allow_redirects=False)


def test_every_role_on_every_route_gets_what_the_table_says(gateway):  # noqa: F811
    team_case, _ = seed_cases(gateway)
    alert_id = gateway.rpc.alerts.list_alerts()[0]["_id"]
    ids = {"case_id": team_case, "alert_id": alert_id, "customer_id": "C42"}
    sessions = {}
    for role in ("agent", "owner", "admin"):
        s = gateway.login(role)
        assert s.last_login.status_code == 303
        s.csrf = csrf_of(s.get(gateway.url + "/cases").text)
        sessions[role] = s
    mismatches = []
    # logout last: it ends the session the other console routes use
    ordered = sorted((r for r in ROUTES if r.name not in SKIPPED), key=lambda r: r.name == "console.logout")
    for route in ordered:
        for role in (*ROLES, None):
            got = call_route(gateway, route, role, sessions.get(role), ids).status_code
            want = expected_status(route, role)
            if got != want:
                mismatches.append(f"{role} {route.name}: {got}, table says {want}")
    assert mismatches == []


def test_agent_sees_only_own_team_and_unassigned_cases(gateway):  # noqa: F811
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
    profile = wait_until(lambda: _profile(gateway, "C9"), message="the profile")
    from cxctl.broker import wait_queues_idle  # the queues drain before we count

    wait_queues_idle(config["AMQP_URI"], timeout=30)
    assert gateway.rpc.profiles.get_profile("C9")["feedback_count"] == 1
    assert len(gateway.rpc.alerts.list_alerts(customer_id="C9")) == 1
    assert profile["_id"] == "C9"
    assert _profile(gateway, "C10") is None  # the invalid item never reached the broker
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


def test_login_is_rate_limited_per_user_and_per_ip_and_survives_a_restart(
    gateway,  # noqa: F811
    container_factory,
):
    with config.patch({"LOGIN_LIMIT_PER_USER": 3, "LOGIN_LIMIT_PER_IP": 6}):
        for _ in range(3):
            assert gateway.login("owner", password="wrong-password").last_login.status_code == 401
        limited = gateway.login("owner").last_login  # the right password, too late
        assert limited.status_code == 429 and "Retry-After" in limited.headers
        assert "登录尝试次数过多" in limited.text
        assert gateway.login("agent").last_login.status_code == 303  # another user is fine
        # the counters live in the gateway's database: a restarted gateway keeps them
        [old] = [c for c in gateway.runner.containers if c.service_name == "gateway"]
        old.stop()
        container_factory(GatewayService).start()
        assert gateway.login("owner").last_login.status_code == 429
        gateway.login("admin", password="wrong-password")
        assert gateway.login("admin").last_login.status_code == 429  # the IP's 8th attempt


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
    team_case, _ = seed_cases(gateway)
    s = gateway.login("owner")
    rules = s.get(gateway.url + "/rules").text
    assert "NPS 贬损者" in rules and "team:cx-care" in rules and "预警规则" in rules
    queue = s.get(gateway.url + "/cases?level=P2").text
    assert "退款" in queue and team_case not in queue  # the P3 case is filtered out
    case = s.get(gateway.url + f"/cases/{team_case}").text
    assert "触发原因" in case and "scores.nps lte 6" in case and "opened" in case and "assigned" in case
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
