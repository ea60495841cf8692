"""The people directory over the HTTP API, the console and cxctl (real broker, store
and services behind the gateway): admins save and read it, others may not; a bad
directory is a 400 naming the field; the admin page lists people and teams in both
languages; cxctl applies, lists and shows it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from nameko.exceptions import RemoteError

from cxctl.main import cli
from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, gateway  # noqa: F401 - the fixture

SAMPLE_FILE = Path(__file__).resolve().parents[2] / "samples/people.yaml"
SAMPLE = yaml.safe_load(SAMPLE_FILE.read_text("utf-8"))


def test_admins_save_and_read_the_directory_over_the_api(gateway):  # noqa: F811
    assert gateway.api("admin", "GET", "/api/v1/people").status_code == 404  # none saved yet
    for role in ("agent", "owner"):
        assert gateway.api(role, "PUT", "/api/v1/people", json=SAMPLE).status_code == 403
        assert gateway.api(role, "GET", "/api/v1/people").status_code == 403
    unreachable = json.loads(json.dumps(SAMPLE))
    unreachable["people"][0]["channels"] = {}
    refused = gateway.api("admin", "PUT", "/api/v1/people", json=unreachable)
    assert refused.status_code == 400
    [error] = refused.json()["error"]["errors"]
    assert error["field"] == "people.0.channels"
    assert error["message"].startswith("chen.jie can be assigned cases (role agent, team cx-care) but has no")

    saved = gateway.api("admin", "PUT", "/api/v1/people", json=SAMPLE)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"revision": 1, "people": 7, "teams": 3, "strategies": 2}
    shown = gateway.api("admin", "GET", "/api/v1/people").json()
    assert shown["revision"] == 1 and shown["by"] == "root"
    assert [p["id"] for p in shown["directory"]["people"]][:2] == ["chen.jie", "emma.wu"]
    # notify follows: the deprecated recipients the fixture applied are replaced
    wait_until(lambda: gateway.rpc.notify.people_revision() == 1, message="notify at revision 1")
    emails = {r["id"]: r.get("email") for r in gateway.rpc.notify.list_recipients() if r["kind"] == "person"}
    assert emails["sun.yu"] == "sun.yu@example.com" and "admin" in emails

    session = gateway.login("admin")  # root reads English
    for language, heading, role in (("en", "People and teams", "admin"), ("zh-CN", "人员与团队", "管理员")):
        if language == "zh-CN":
            token = csrf_of(session.get(gateway.url + "/people").text)
            session.post(gateway.url + "/language", data={"language": language, "csrf_token": token})
        page = session.get(gateway.url + "/people")
        assert page.status_code == 200 and heading in page.text, page.text[:300]
        assert 'id="person-sun.yu"' in page.text and 'id="team-cx-care"' in page.text and role in page.text
        assert "chen.jie, emma.wu, li.na, sun.yu, wang.lei" in page.text  # cx-care's members
    agent_page = gateway.login("agent").get(gateway.url + "/people", allow_redirects=False)
    assert agent_page.status_code == 403


def test_cxctl_people_apply_list_show(gateway, cx_config):  # noqa: F811
    uri = cx_config["AMQP_URI"]

    def cx(*args, stdin=None):
        return CliRunner().invoke(cli, ["--amqp-uri", uri, "people", *args], input=stdin)

    applied = cx("apply", str(SAMPLE_FILE), "--by", "zhao.min")
    assert applied.exit_code == 0 and "revision 1  people: 7  teams: 3  strategies: 2" in applied.output
    listed = cx("list")
    assert listed.exit_code == 0 and "saved by zhao.min" in listed.output
    assert any(
        line.split()[:1] == ["sun.yu"] and "off" in line.split() for line in listed.output.splitlines()
    )
    team = json.loads(cx("show", "cx-care").output)
    assert team["members"] == ["chen.jie", "emma.wu", "li.na", "sun.yu", "wang.lei"]
    assert json.loads(cx("show", "li.na").output)["channels"]["email"] == "li.na@example.com"
    assert cx("show", "nobody").exit_code != 0
    bad = cx("apply", "-", stdin="teams: []\npeople: [{id: a, name: A, teams: [x]}]\n")
    assert bad.exit_code != 0 and "people.0.teams: unknown teams: x" in bad.output
    deprecated = CliRunner().invoke(
        cli, ["--amqp-uri", uri, "recipients", "apply", "-"], input="people: []\n"
    )
    assert deprecated.exit_code != 0 and "people directory (revision 1)" in deprecated.output


def test_the_directory_decides_who_may_sign_in(gateway):  # noqa: F811
    agent = gateway.login("agent")  # chen.jie, made by the fixture with cxctl's put_user
    assert agent.last_login.status_code == 303
    assert gateway.api("admin", "PUT", "/api/v1/people", json=SAMPLE).status_code == 200
    wait_until(lambda: gateway.rpc.gateway.people_revision() == 1, message="the gateway at revision 1")
    users = {u["id"]: u for u in gateway.rpc.gateway.list_users()}
    assert users["li.na"] == {
        "id": "li.na", "name": "李娜", "role": "agent", "teams": ["cx-care", "logistics", "billing"],
        "language": "zh-CN", "can_log_in": False,  # no password yet: set apart from the directory
    }  # fmt: skip
    assert users["zhao.min"]["teams"] == ["logistics"] and users["root"]["role"] == "admin"  # root: not named
    # a password for a directory person; the directory's role stands
    set_password = gateway.rpc.gateway.put_user(
        {"id": "li.na", "role": "admin", "password": "li-na-password-1"}
    )
    assert set_password["role"] == "agent" and set_password["can_log_in"] is True

    barred = json.loads(json.dumps(SAMPLE))
    barred["people"][0]["login"] = False  # chen.jie
    barred["people"] = [p for p in barred["people"] if p["id"] != "li.na"]
    assert gateway.api("admin", "PUT", "/api/v1/people", json=barred).status_code == 200
    wait_until(lambda: gateway.rpc.gateway.people_revision() == 2, message="the gateway at revision 2")
    assert agent.get(gateway.url + "/cases", allow_redirects=False).status_code == 303  # signed out
    assert gateway.api("agent", "GET", "/api/v1/me").status_code == 401  # the token stops
    assert gateway.login("agent").last_login.status_code == 401
    users = {u["id"]: u for u in gateway.rpc.gateway.list_users()}
    assert users["li.na"]["can_log_in"] is False  # dropped: kept for the audit trail, barred
    assert gateway.login("admin").last_login.status_code == 303


def test_admins_edit_the_directory_in_the_console(gateway):  # noqa: F811
    session = gateway.login("admin")  # English
    empty = session.get(gateway.url + "/people")
    assert 'id="people-empty"' in empty.text
    token = csrf_of(empty.text)
    text = SAMPLE_FILE.read_text("utf-8")
    assert session.post(gateway.url + "/people", data={"document": text}).status_code == 403  # no CSRF token

    broken = text.replace("channels: {email: chen.jie@example.com}", "channels: {phone: '+8613800000000'}")
    refused = session.post(gateway.url + "/people", data={"document": broken, "csrf_token": token})
    assert refused.status_code == 400 and "Not saved: fix these fields" in refused.text
    assert "<code>people.0.channels</code>: chen.jie can be assigned cases" in refused.text
    assert "+8613800000000" in refused.text  # the draft is kept in the editor
    not_yaml = session.post(gateway.url + "/people", data={"document": "people: [", "csrf_token": token})
    assert not_yaml.status_code == 400 and "<code>document</code>: invalid YAML" in not_yaml.text
    with pytest.raises(RemoteError, match="no people directory has been saved"):
        gateway.rpc.cases.get_people()  # nothing saved by a refused form

    saved = session.post(
        gateway.url + "/people", data={"document": text, "csrf_token": token}, allow_redirects=False
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/people?saved=1"
    page = session.get(gateway.url + "/people?saved=1").text
    assert "Saved: revision 1" in page and 'id="person-chen.jie"' in page
    # the editor shows the saved directory; saving it unchanged makes the next revision
    editor = page.split('id="document"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    shown = yaml.safe_load(html.unescape(editor))
    assert shown["people"][0]["channels"] == {"email": "chen.jie@example.com"}
    again = session.post(
        gateway.url + "/people", data={"document": yaml.safe_dump(shown), "csrf_token": token}
    )
    assert again.status_code == 200 and "Saved: revision 2" in again.text  # followed the 303


def test_admins_issue_list_and_revoke_tokens_in_the_console(gateway, cx_config):  # noqa: F811
    session = gateway.login("admin")
    page = session.get(gateway.url + "/tokens")
    assert page.status_code == 200 and 'id="nav-tokens"' in page.text
    assert page.text.count('class="revoke-token"') == 4  # the fixture's token for each role
    assert gateway.tokens["admin"] not in page.text  # tokens are never listed
    token = csrf_of(page.text)
    issued = session.post(
        gateway.url + "/tokens", data={"user_id": "survey-app", "name": "crm", "csrf_token": token}
    )
    assert issued.status_code == 200
    new_token = issued.text.split('id="new-token" readonly size="60" value="', 1)[1].split('"', 1)[0]
    assert new_token.startswith("cxt_")
    me = gateway.api(None, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {new_token}"})
    assert me.status_code == 200 and me.json()["id"] == "survey-app"
    unknown = session.post(
        gateway.url + "/tokens", data={"user_id": "ghost", "name": "x", "csrf_token": token}
    )
    assert unknown.status_code == 404
    listed = CliRunner().invoke(cli, ["--amqp-uri", cx_config["AMQP_URI"], "users", "tokens"])
    assert listed.exit_code == 0 and any(
        line.split()[:2] == ["survey-app", "crm"] for line in listed.output.splitlines()
    )
    assert new_token not in listed.output

    revoked = session.post(
        gateway.url + "/tokens/revoke",
        data={"user_id": "survey-app", "name": "crm", "csrf_token": token},
        allow_redirects=False,
    )
    assert revoked.status_code == 303 and revoked.headers["Location"] == "/tokens?revoked=1"
    assert (
        gateway.api(None, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {new_token}"}).status_code
        == 401
    )
    assert gateway.api("integration", "GET", "/api/v1/me").status_code == 200  # its other token stands
    assert gateway.login("agent").get(gateway.url + "/tokens", allow_redirects=False).status_code == 403
