"""Per-route, per-role authorisation, over real HTTP, checked against a list kept here.

``EXPECTED`` is written by hand from the product's rules (docs/api.md "Roles"),
not read from routes.py: a route added to the table without a line here, or a
role widened there by mistake, fails ``test_the_route_table_grants_exactly_the_expected_roles``;
``test_every_route_answers_every_role_as_expected`` then calls every route as every
role (API token, console session, nobody) and checks the answer.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import yaml
from nameko import config

from services.gateway.routes import ROLES, ROUTES, allowed
from tests.e2e.gateway_stack import csrf_of, feedback, gateway, seed_cases  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]
A, O, D, I = "agent", "owner", "admin", "integration"  # noqa: E741
PEOPLE = {A, O, D}
OFFICE = {O, D}
CASE_ACTIONS = (
    "assign reassign add_collaborator comment acknowledge start pending_customer resume resolve reopen "
    "followup_done take"
).split()

# "METHOD path": the roles that may call it. PUBLIC: anyone, signed in or not.
PUBLIC = "public"
EXPECTED: dict[str, set[str] | str] = {
    "POST /api/v1/feedback": {I, D},
    "GET /api/v1/alerts": OFFICE,
    "GET /api/v1/alerts/<alert_id>": OFFICE,
    "GET /api/v1/rules": PEOPLE,
    "GET /api/v1/rules/<rule_id>": PEOPLE,
    "POST /api/v1/rules": {D},
    "PUT /api/v1/rules/<rule_id>": {D},
    "POST /api/v1/rules/<rule_id>/enable": {D},
    "POST /api/v1/rules/<rule_id>/disable": {D},
    "POST /api/v1/rules/backtest": OFFICE,
    "GET /api/v1/cases": PEOPLE,
    "GET /api/v1/cases/<case_id>": PEOPLE,
    **{f"POST /api/v1/cases/<case_id>/{action}": PEOPLE for action in CASE_ACTIONS},
    "POST /api/v1/cases/<case_id>/close": OFFICE,
    "GET /api/v1/profiles": PEOPLE,
    "GET /api/v1/profiles/<customer_id>": PEOPLE,
    "GET /api/v1/notifications": OFFICE,
    "GET /api/v1/metrics": PEOPLE,
    "GET /api/v1/followups": PEOPLE,
    "GET /api/v1/stats": OFFICE,
    "GET /api/v1/me": {A, O, D, I},
    "GET /api/v1/openapi.json": {A, O, D, I},
    "GET /static/<name>": PUBLIC,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PEOPLE,
    "POST /language": PEOPLE,
    "GET /": PEOPLE,
    "GET /cases": PEOPLE,
    "GET /cases/live": PEOPLE,
    "POST /cases/bulk": PEOPLE,
    "GET /cases/<case_id>": PEOPLE,
    "GET /followups": PEOPLE,
    "POST /cases/<case_id>/take": PEOPLE,
    **{f"POST /cases/<case_id>/{action}": PEOPLE for action in CASE_ACTIONS},
    "POST /cases/<case_id>/close": OFFICE,
    "GET /customers/<customer_id>": PEOPLE,
    "GET /customers/<customer_id>/export": {D},
    "POST /customers/<customer_id>/merge": {D},
    "POST /customers/<customer_id>/erase": {D},
    "GET /customers": PEOPLE,
    "GET /rules": PEOPLE,
    "GET /rules/<rule_id>": PEOPLE,
    "GET /rule-editor": {D},
    "GET /rules/<rule_id>/edit": {D},
    "POST /rules": {D},
    "POST /rules/<rule_id>": {D},
    "POST /rules/<rule_id>/enabled": {D},
    "POST /rule-editor/dry-run": OFFICE,
    "GET /dashboard": PEOPLE,
    # the people directory (docs/cases.md): admins only
    "GET /api/v1/people": {D},
    "PUT /api/v1/people": {D},
    "GET /people": {D},
    "POST /people": {D},
    "GET /tokens": {D},
    "POST /tokens": {D},
    "POST /tokens/revoke": {D},
    # playbooks (docs/cases.md)
    "GET /api/v1/playbooks": PEOPLE,
    "GET /api/v1/playbooks/<playbook_id>": PEOPLE,
    "PUT /api/v1/playbooks/<playbook_id>": {D},
    "GET /api/v1/playbooks/metrics": OFFICE,
    "GET /api/v1/cases/<case_id>/playbooks": PEOPLE,
    "POST /api/v1/cases/<case_id>/playbooks/<playbook_id>/use": PEOPLE,
    "POST /cases/<case_id>/playbooks/<playbook_id>/use": PEOPLE,
    # role boards (the journey board refuses agents in its handler)
    "GET /api/v1/boards/<board>": PEOPLE,
    "GET /boards/<board>": PEOPLE,
    # the teams page (an agent gets their own teams and those they lead, in the cases service)
    "GET /api/v1/teams": PEOPLE,
    "GET /teams": PEOPLE,
    # incidents (docs/cases.md) over the API and their pages
    "GET /api/v1/incidents": OFFICE,
    "POST /api/v1/incidents/<case_id>/resolve": OFFICE,
    # customers' opt-outs (docs/notify.md): CX managers (owners) and admins, never agents
    "GET /api/v1/optouts": OFFICE,
    "POST /api/v1/optouts": OFFICE,
    "GET /api/v1/optouts/<customer_id>": OFFICE,
    "POST /api/v1/optouts/<customer_id>/<channel>/remove": OFFICE,
    "GET /optouts": OFFICE,
    "POST /optouts": OFFICE,
    "POST /optouts/<customer_id>/<channel>/remove": OFFICE,
    # the live lexicon (docs/rules.md): owners read and try it, admins change it
    "GET /api/v1/lexicon": OFFICE,
    "GET /api/v1/lexicon/versions": OFFICE,
    "POST /api/v1/lexicon/edits": {D},
    "POST /api/v1/lexicon/aspects": {D},
    "POST /api/v1/lexicon/versions/<version>/revert": {D},
    "POST /api/v1/lexicon/analyze": OFFICE,
    "GET /lexicon": OFFICE,
    # notification templates (docs/notify.md, docs/console.md): admins only, like cxctl's verbs
    "GET /api/v1/templates": {D},
    "GET /api/v1/templates/<language>/<template>": {D},
    "PUT /api/v1/templates/<language>/<template>": {D},
    "POST /api/v1/templates/<language>/<template>/revert": {D},
    "POST /api/v1/templates/<language>/<template>/preview": {D},
    "POST /api/v1/templates/<language>/<template>/test": {D},
    "GET /templates": {D},
    "GET /templates/<language>/<template>": {D},
    "POST /templates/<language>/<template>": {D},
    "POST /templates/<language>/<template>/preview": {D},
    "POST /templates/<language>/<template>/test": {D},
    "POST /templates/<language>/<template>/revert": {D},
    "POST /lexicon/edit": {D},
    "POST /lexicon/aspects": {D},
    "POST /lexicon/versions/<version>/revert": {D},
    "POST /lexicon/analyze": OFFICE,
    "GET /dashboard/aspects.csv": PEOPLE,
    "GET /dashboard/export.csv": PEOPLE,
    "GET /incidents": OFFICE,
    "GET /incidents/<case_id>": OFFICE,
    "POST /incidents/<case_id>/resolve": OFFICE,
    # an admin's acts on a profile
    "POST /api/v1/profiles/<customer_id>/merge": {D},
    "POST /api/v1/profiles/<customer_id>/erase": {D},
    "GET /api/v1/profiles/<customer_id>/export": {D},
    # the customer's follow-up survey: no account, the signed link is the credential
    "GET /survey": PUBLIC,
    "GET /survey/<token>": PUBLIC,
    "POST /survey/<token>": PUBLIC,
    "GET /api/v1/sms-replies": OFFICE,
    # the vendors' callbacks: no account, the vendor's signature or the callback key
    "POST /callbacks/sms/<vendor>/<callback_key>/report": PUBLIC,
    "POST /callbacks/sms/<vendor>/<callback_key>/reply": PUBLIC,
    "GET /callbacks/wechat-oa": PUBLIC,
    "POST /callbacks/wechat-oa": PUBLIC,
}


def key(route) -> str:
    return f"{route.method} {route.path}"


def test_the_route_table_grants_exactly_the_expected_roles():
    assert sorted(key(r) for r in ROUTES) == sorted(EXPECTED), "a route without an expectation, or vice versa"
    wrong = []
    for route in ROUTES:
        want = EXPECTED[key(route)]
        if (want == PUBLIC) != route.public:
            wrong.append(f"{key(route)}: public is {route.public}")
            continue
        for role in ROLES:
            if want != PUBLIC and allowed(route, role) != (role in want):
                wrong.append(f"{key(route)} {role}: the table says {allowed(route, role)}")
    assert wrong == []


# What an allowed call answers with the probe's body (its work, not the gate, decides).
SUCCESS = {
    "feedback.ingest": 202,
    "console.home": 303,
    "console.logout": 303,
    "console.language": 303,
    "rules.enable": 200,
    "rules.disable": 200,
    "console.incident": 303,  # the probe's case is a customer case: to its case page
    "people.get": 404,  # no people directory saved in this stack (documented)
    "console.case_playbook": 303,  # a playbook used (the probe's form sends nothing): back to the case
}


def expected_status(route, role: str | None, via: str) -> int:
    """From EXPECTED (not the table): 401 / login redirect without credentials, 403 for a
    role not allowed, a token never opens the console, else what the handler answers."""
    want = EXPECTED[key(route)]
    if role is None:
        return 401 if route.kind == "api" else 303
    if via == "token" and route.kind == "page":
        return 303  # an API token never opens the console: back to the login page
    if role not in want:
        return 403
    if route.name in SUCCESS:
        return SUCCESS[route.name]
    if route.method != "GET":
        return 400  # a change with the probe's body: allowed, then refused as invalid
    return 200


def call_route(gw, route, role, via, session, ids):
    path = route.path
    for name, value in ids.items():
        path = path.replace(f"<{name}>", quote(value, safe=""))
    if via in ("token", "none"):
        kwargs = {"json": feedback("authz-probe")} if route.method != "GET" else {}
        return gw.api(role if via == "token" else None, route.method, path, **kwargs)
    if route.kind == "api":  # a console session on the API: unsafe methods need X-CSRF-Token
        kwargs = {"json": feedback("authz-probe")} if route.method != "GET" else {}
        headers = {"X-CSRF-Token": session.csrf} if route.method != "GET" else {}
        return session.request(route.method, gw.url + path, headers=headers, allow_redirects=False, **kwargs)
    data = {"csrf_token": session.csrf, "language": "en"} if route.method == "POST" else None
    return session.request(route.method, gw.url + path, data=data, allow_redirects=False)


def test_every_route_answers_every_role_as_expected(gateway):  # noqa: F811
    with config.patch({"GATEWAY_RATE_PER_MINUTE": 0}):  # ~400 calls: far above one client's burst
        check_every_route(gateway)


def check_every_route(gateway):  # noqa: F811
    team_case, _ = seed_cases(gateway)
    alert_id = gateway.rpc.alerts.list_alerts()[0]["_id"]
    late = yaml.safe_load((ROOT / "samples" / "playbooks.yaml").read_text(encoding="utf-8"))["playbooks"][0]
    gateway.rpc.cases.save_playbook({"by": "root", "playbook": late})
    ids = {
        "case_id": team_case,
        "alert_id": alert_id,
        "customer_id": "C42",
        "rule_id": "refund",
        "playbook_id": late["id"],
        "board": "mine",
        "version": "1",
        "language": "en",
        "template": "alert_raised.subject.j2",
        "channel": "sms",
    }
    sessions = {}
    for role in sorted(PEOPLE):
        s = gateway.login(role)
        assert s.last_login.status_code == 303
        s.csrf = csrf_of(s.get(gateway.url + "/cases").text)
        sessions[role] = s
    calls, mismatches = 0, []
    # public routes are covered by the login tests; logout last: it ends the sessions
    ordered = sorted((r for r in ROUTES if not r.public), key=lambda r: r.name == "console.logout")
    for route in ordered:
        probes = [(role, "token") for role in ROLES] + [(None, "none")]
        if route.kind == "page":
            probes += [(role, "session") for role in sorted(PEOPLE)]
        else:  # a session reaches the API too; probe the refusals (the token probes did the work)
            probes += [(role, "session") for role in sorted(PEOPLE) if role not in EXPECTED[key(route)]]
        for role, via in probes:
            got = call_route(gateway, route, role, via, sessions.get(role), ids)
            calls += 1
            want = expected_status(route, role, via)
            if got.status_code != want:
                mismatches.append(f"{via} {role} {route.name}: {got.status_code}, expected {want}")
            elif want == 303 and route.name not in SUCCESS:
                assert got.headers["Location"].startswith("/login"), (route.name, role, via)
    assert mismatches == []
    assert calls > len(ROUTES) * len(ROLES)
