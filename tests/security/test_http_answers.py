"""What every HTTP answer carries, and what an anonymous visit leaves behind.

* Security headers on every answer, the ones no route gives too (404 for an
  unknown URL, 405 for a method the URL does not take, 414 for a URL too long),
  which are the gateway's own page in the visitor's language or the API's JSON.
* ``Cache-Control: no-store`` on every answer but the console's static files.
* ``GET /login`` stores nothing (its CSRF token is a signed double-submit pair);
  the session is created when the login succeeds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path
from urllib.parse import quote

import requests
import yaml
from nameko import config

from services.common import survey_links as links
from services.gateway.gate import LOGIN_COOKIE, SESSION_COOKIE
from services.gateway.routes import ROUTES
from services.gateway.server import MAX_URL_BYTES, READ_URL_BYTES, SECURITY_HEADERS
from tests.e2e.gateway_stack import LOGIN_OF, PASSWORDS, csrf_of, gateway, seed_cases  # noqa: F401

EN = {"Accept-Language": "en-GB,en;q=0.9"}


ROOT = Path(__file__).resolve().parents[2]


def assert_secure(answer: requests.Response, cache: str = "no-store") -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.method, answer.url[:80], name)
    assert answer.headers.get("Cache-Control") == cache, (answer.request.method, answer.url[:80])


def test_answers_no_route_gives_carry_the_headers_in_the_visitors_language(gateway):  # noqa: F811
    url = gateway.url
    r = requests.get(url + "/no/such/page", headers=EN)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    assert '<html lang="en">' in r.text and 'id="error-message">Not found.<' in r.text
    assert_secure(r)
    r = requests.get(url + "/no/such/page", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.status_code == 404 and "找不到该内容。" in r.text
    assert_secure(r)
    r = requests.get(url + "/api/v1/no-such-thing", headers=EN)
    assert r.status_code == 404 and r.json() == {"error": {"status": 404, "message": "no such URL"}}
    assert_secure(r)
    r = requests.delete(url + "/login", headers=EN)
    assert r.status_code == 405 and "GET" in r.headers["Allow"] and "The method is not allowed" in r.text
    assert_secure(r)
    r = requests.delete(url + "/api/v1/cases")
    assert r.status_code == 405 and r.json()["error"]["status"] == 405 and "GET" in r.headers["Allow"]
    assert_secure(r)
    # a URL over the limit: the gateway's page in the visitor's language
    r = requests.get(url + "/cases?scope=" + "x" * MAX_URL_BYTES, headers=EN)
    assert r.status_code == 414 and '<html lang="en">' in r.text and "The URL is too long." in r.text
    assert_secure(r)
    r = requests.get(url + "/api/v1/cases?scope=" + "x" * MAX_URL_BYTES)
    assert r.status_code == 414 and r.json()["error"]["message"] == f"URL longer than {MAX_URL_BYTES} bytes"
    assert_secure(r)
    # so long the server stops reading before the headers: the page in the default language
    r = requests.get(url + "/cases?scope=" + "x" * READ_URL_BYTES, headers=EN)
    assert r.status_code == 414 and "网址过长。" in r.text
    assert_secure(r)
    assert requests.get(url + "/login", headers=EN).status_code == 200  # the server still answers


def test_every_answer_but_static_files_forbids_storing_it(gateway):  # noqa: F811
    team_case, _ = seed_cases(gateway)
    ids = {
        "case_id": team_case,
        "alert_id": gateway.rpc.alerts.list_alerts()[0]["_id"],
        "customer_id": "C42",
        "rule_id": "refund",
        "name": "console.css",
        "board": "journey",
        "playbook_id": "late-delivery",
        "language": "en",
        "template": "alert_raised.subject.j2",
        # the follow-up survey's link (docs/cases.md "Follow-up")
        "token": links.sign(
            "a-survey-secret", links.SurveyClaims(team_case, "C42", 4_000_000_000, "n1", "csat", "en")
        ),
    }
    late = yaml.safe_load((ROOT / "samples" / "playbooks.yaml").read_text(encoding="utf-8"))["playbooks"][0]
    gateway.rpc.cases.save_playbook({"by": "root", "playbook": late})
    admin = gateway.login("admin")
    checked = 0
    with config.patch({"GATEWAY_RATE_PER_MINUTE": 0, "SURVEY_SECRET": "a-survey-secret"}):
        for route in (r for r in ROUTES if r.method == "GET"):
            path = route.path
            for name, value in ids.items():
                path = path.replace(f"<{name}>", quote(value, safe=""))
            if route.kind == "api":
                answer = gateway.api("admin", "GET", path)
            else:
                answer = admin.get(gateway.url + path, allow_redirects=False)
            # people.get: 404 while no people directory was saved (this stack saves none)
            # people.get: 404 while no people directory was saved; WeChat's URL check without
            # its signature: 401 (the signed call is in tests/e2e/test_sms_callbacks_e2e.py)
            assert answer.status_code in (200, 303) or (route.name, answer.status_code) in (
                ("people.get", 404),
                ("callbacks.wechat_verify", 401),
            ), (
                route.name,
                answer.status_code,
            )
            assert_secure(answer, "no-cache" if route.name == "console.static" else "no-store")
            checked += 1
        # refusals too: no credentials, a role not allowed, an unknown case
        for answer in (
            gateway.api(None, "GET", "/api/v1/profiles/C42"),
            gateway.api("agent", "GET", "/api/v1/stats"),
            gateway.api("agent", "GET", "/api/v1/cases/CASE-NONE"),
            requests.get(gateway.url + "/customers/C42", allow_redirects=False),
        ):
            assert answer.status_code in (401, 403, 404, 303)
            assert_secure(answer)
    assert checked == sum(r.method == "GET" for r in ROUTES)


def sessions(mongo_client, db_prefix) -> int:
    return mongo_client[f"{db_prefix}gateway"].sessions.count_documents({})


def form_key(mongo_client, db_prefix) -> bytes:
    return mongo_client[f"{db_prefix}gateway"].keys.find_one({"_id": "login-form"})["key"].encode()


def test_the_login_form_stores_nothing_until_the_login_succeeds(gateway, mongo_client, db_prefix):  # noqa: F811
    url, owner = gateway.url + "/login", {"username": LOGIN_OF["owner"], "password": PASSWORDS["owner"]}
    before = sessions(mongo_client, db_prefix)
    visitors = [requests.Session() for _ in range(10)]
    for browser in visitors:
        form = browser.get(url)
        assert form.status_code == 200 and SESSION_COOKIE not in form.cookies
        cookie = form.headers["Set-Cookie"]
        assert cookie.startswith(f"{LOGIN_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Path=/login" in cookie
    assert sessions(mongo_client, db_prefix) == before  # issue 19: one session per GET /login
    # two tabs of one browser share the cookie, so either form works
    browser = visitors[0]
    first, second = csrf_of(browser.get(url).text), csrf_of(browser.get(url).text)
    assert first == second
    r = browser.post(url, data={**owner, "csrf_token": first}, allow_redirects=False)
    assert r.status_code == 303 and SESSION_COOKIE in r.cookies
    assert sessions(mongo_client, db_prefix) == before + 1
    # CSRF still holds: no cookie, another browser's token, a forged or an expired pair
    other = visitors[1]
    token = csrf_of(other.get(url).text)
    assert requests.post(url, data={**owner, "csrf_token": token}, allow_redirects=False).status_code == 403
    assert visitors[2].post(url, data={**owner, "csrf_token": token}).status_code == 403
    key = form_key(mongo_client, db_prefix)

    def signed(cookie: str, with_key: bytes = key) -> str:
        return hmac.new(with_key, b"login-form|" + cookie.encode(), hashlib.sha256).hexdigest()

    def post(cookie: str, sent: str) -> int:
        jar = {LOGIN_COOKIE: cookie}
        return requests.post(
            url, data={**owner, "csrf_token": sent}, cookies=jar, allow_redirects=False
        ).status_code

    fresh, stale = f"{'n' * 43}.{int(time.time()) + 600}", f"{'n' * 43}.{int(time.time()) - 1}"
    assert post(fresh, signed(fresh, b"guessed key")) == 403
    assert post(stale, signed(stale)) == 403
    assert post(fresh, signed(fresh)) == 303  # the pair the server checks: cookie + its HMAC
    assert sessions(mongo_client, db_prefix) == before + 2
    # the login page keeps its language through a failed attempt (no session to hold it)
    browser = requests.Session()
    token = csrf_of(browser.get(url + "?lang=en").text)
    r = browser.post(url, data={**owner, "password": "wrong-password", "csrf_token": token, "lang": "en"})
    assert r.status_code == 401 and "Wrong username or password." in r.text
    assert re.search(r'name="lang" value="en"', r.text)
