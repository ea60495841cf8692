"""An aspect code added live (docs/rules.md "Lexicons edited live") on the real broker
and store, with two alerts replicas, profiles, cases and the gateway: an admin adds the
code and a term over the API; every replica then analyses with it, a rule and a playbook
naming it are accepted, the rule fires, the profile and the dashboard count it, and the
zh-CN console shows its label, never the code. A revert of the code's addition is
refused while a term, a rule or a playbook names it."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from nameko.testing.utils import get_container

from services.cases.service import CasesService
from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway  # noqa: F401
from tests.e2e.test_console_codes import leaks, visible_text
from tests.e2e.test_lexicon_live import (  # noqa: F401 - the fixtures
    STALENESS,
    lexicon_version_of,
    replicas,
    short_staleness,
)

CODE = "installation_quality"
LABELS = {"zh-CN": "安装质量", "en": "Installation quality"}
COMMENT = "上门安装拖了三天，师傅还装歪了"
RULE = {
    "id": "installation",
    "name": "安装质量 / installation",
    "level": "P3",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"field": "aspects", "op": "contains_any", "value": [CODE]},
}
PLAYBOOK = {
    "id": "install-visit",
    "title": {"zh-CN": "安装返工", "en": "Installation rework"},
    "match": {"aspects": [CODE]},
    "steps": [{"zh-CN": "预约师傅上门", "en": "Book a technician"}],
    "reply": {
        "zh-CN": "{customer_name}您好，我们会安排师傅上门。",
        "en": "Hello {customer_name}, a technician will call.",
    },
}


def field_errors(response) -> set[str]:
    return {e["field"] for e in response.json()["error"]["errors"]}


def add_code(gw, **body):
    return gw.api(
        "admin",
        "POST",
        "/api/v1/lexicon/aspects",
        json={"code": CODE, "labels": LABELS, "reason": "installers", **body},
    )


def everywhere(containers, version: int) -> None:
    wait_until(
        lambda: all(lexicon_version_of(c) >= version for c in containers),
        timeout=STALENESS + 3,
        interval=0.05,
        message=f"every replica at lexicon version {version}",
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"code": "Install"}, "body.code"),
        ({"code": "x"}, "body.code"),
        ({"code": "delivery"}, "code"),  # a shipped code: the alerts service's check
        ({"labels": {"en": "Installation quality"}}, "body.labels.zh-CN"),
        ({"labels": {"zh-CN": "安装质量", "en": ""}}, "body.labels.en"),
        ({"reason": ""}, "body.reason"),
    ],
)
def test_a_bad_new_code_is_a_400_naming_the_field(gateway, body, field):  # noqa: F811
    r = add_code(gateway, **body)
    assert r.status_code == 400 and field in field_errors(r), r.text


def test_an_added_code_is_analysed_accepted_counted_and_labelled_everywhere(replicas, gateway):  # noqa: F811
    alerts, profiles = replicas
    cases = [get_container(gateway.runner, CasesService)]
    early = gateway.api("admin", "POST", "/api/v1/rules", json=RULE)
    assert early.status_code == 400 and any("when" in f and "value" in f for f in field_errors(early)), (
        early.text
    )

    added = add_code(gateway)
    assert added.status_code == 201, added.text
    assert (added.json()["code"], added.json()["labels"]) == (CODE, LABELS)
    assert add_code(gateway).status_code == 400 and "code" in field_errors(add_code(gateway))  # a duplicate
    term = gateway.api(
        "admin",
        "POST",
        "/api/v1/lexicon/edits",
        json={
            "op": "add",
            "list": "aspects",
            "word": "安装",
            "aspect": CODE,
            "reason": "what customers write",
        },
    )
    assert term.status_code == 201, term.text
    everywhere([*alerts, profiles, *cases], term.json()["version"])
    assert all(CODE in gateway.rpc.alerts.analyze_text(COMMENT)["aspects"] for _ in alerts)

    created = gateway.api("admin", "POST", "/api/v1/rules", json=RULE)
    assert created.status_code == 201, created.text
    saved = gateway.api(
        "admin", "PUT", f"/api/v1/playbooks/{PLAYBOOK['id']}", json={"playbook": PLAYBOOK, "why": "v1"}
    )
    assert saved.status_code == 200, saved.text

    event = feedback("inst-1", nps=3, customer="INST1", text=COMMENT, touchpoint="installation")
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=[event]).status_code == 202
    fired = wait_until(
        lambda: [a for a in gateway.rpc.alerts.list_alerts(limit=50) if a["rule"]["id"] == RULE["id"]],
        message="the rule naming the new code to fire",
    )
    assert fired[0]["customer"]["id"] == "INST1"

    def recent_aspects():
        try:
            return gateway.rpc.profiles.get_profile("INST1").get("aspects_recent", {}).get("last_30d")
        except RemoteError:  # not recorded yet
            return None

    profile = wait_until(recent_aspects, message="the profile to count the aspect")
    assert {"aspect": CODE, "count": 1} in profile
    figures = gateway.api("owner", "GET", "/api/v1/metrics").json()["aspects"]
    assert CODE in figures["aspects"]
    row = next(r for r in figures["touchpoints"] if r["touchpoint"] == "installation")
    assert row["aspects"][CODE] == 1

    case = wait_until(
        lambda: next((c for c in gateway.rpc.cases.list_cases() if c["customer"]["id"] == "INST1"), None),
        message="the case",
    )
    suggested = gateway.rpc.cases.suggest_playbooks(case["_id"])["suggestions"]
    assert [(p["id"], p["reasons"]) for p in suggested] == [
        (PLAYBOOK["id"], [{"by": "aspect", "value": CODE}])
    ]  # the cases service finds the code in the comment too
    owner = gateway.login("owner")  # zh-CN
    for path in ("/dashboard", "/customers/INST1", f"/cases/{case['_id']}", "/lexicon"):
        page = owner.get(gateway.url + path)
        assert page.status_code == 200 and "安装质量" in visible_text(page.text), path
        assert leaks(page.text, {CODE}) == set(), path
    admin = gateway.login("admin")  # en
    assert "Installation quality" in visible_text(admin.get(gateway.url + "/dashboard").text)
    header = admin.get(gateway.url + "/dashboard/aspects.csv").content.decode("utf-8-sig").splitlines()[0]
    assert header.endswith(",App and website,Installation quality")  # after the shipped ones


def test_a_code_in_use_cannot_be_taken_away_until_nothing_names_it(replicas, gateway):  # noqa: F811
    alerts, profiles = replicas
    code_version = add_code(gateway).json()["version"]
    term = gateway.api(
        "admin",
        "POST",
        "/api/v1/lexicon/edits",
        json={"op": "add", "list": "aspects", "word": "安装", "aspect": CODE, "reason": "r"},
    ).json()
    everywhere([*alerts, profiles], term["version"])
    assert gateway.api("admin", "POST", "/api/v1/rules", json=RULE).status_code == 201
    put = gateway.api("admin", "PUT", f"/api/v1/playbooks/{PLAYBOOK['id']}", json={"playbook": PLAYBOOK})
    assert put.status_code == 200, put.text

    def revert(version: int):
        return gateway.api(
            "admin", "POST", f"/api/v1/lexicon/versions/{version}/revert", json={"reason": "not needed"}
        )

    refused = revert(code_version)
    assert refused.status_code == 409 and "安装 (version" in refused.text, refused.text
    assert revert(term["version"]).status_code == 201
    refused = revert(code_version)
    assert refused.status_code == 409, refused.text
    assert "rule installation" in refused.text and "playbook install-visit" in refused.text

    other = {**RULE, "when": {"field": "aspects", "op": "contains_any", "value": ["delivery"]}}
    assert gateway.api("admin", "PUT", f"/api/v1/rules/{RULE['id']}", json=other).status_code == 200
    moved = {**PLAYBOOK, "match": {"aspects": ["delivery"]}}
    assert (
        gateway.api(
            "admin", "PUT", f"/api/v1/playbooks/{PLAYBOOK['id']}", json={"playbook": moved}
        ).status_code
        == 200
    )
    done = revert(code_version)
    assert done.status_code == 201, done.text
    assert CODE not in gateway.api("owner", "GET", "/api/v1/lexicon").json()["aspects"]
    everywhere([*alerts, profiles], done.json()["version"])
    again = gateway.api("admin", "PUT", f"/api/v1/rules/{RULE['id']}", json=RULE)
    assert again.status_code == 400 and any("value" in f for f in field_errors(again)), again.text
