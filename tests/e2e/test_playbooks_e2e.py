"""Playbooks on the running stack: saved by an admin over HTTP and cxctl, suggested for
a real case, used by an agent (the reply really published to the customer channel's
queue), measured per playbook."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner
from kombu import Connection, Exchange, Queue

from cxctl.main import cli
from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway  # noqa: F401 - the fixture

SAMPLES = yaml.safe_load(
    (Path(__file__).parents[2] / "samples" / "playbooks.yaml").read_text(encoding="utf-8")
)
LATE = next(p for p in SAMPLES["playbooks"] if p["id"] == "late-delivery")


def cxctl(uri, *args):
    result = CliRunner().invoke(cli, ["--amqp-uri", uri, *args])
    return result.exit_code, result.output


def test_an_agent_uses_the_suggested_playbook_and_the_reply_goes_out(gateway, cx_config):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    # the reply's message, as notify would receive it
    with Connection(uri) as conn:
        replies = Queue(
            "test-playbook-replies",
            Exchange("cases.events", type="topic", durable=True),
            routing_key="customer_message_requested",
            durable=False,
            auto_delete=False,
        )(conn.default_channel)
        replies.declare()

        put = gateway.api(
            "admin", "PUT", "/api/v1/playbooks/late-delivery", json={"playbook": LATE, "why": "v1"}
        )
        assert put.status_code == 200 and put.json() == {"id": "late-delivery", "version": 1, "changed": True}
        assert (
            gateway.api(
                "agent", "PUT", "/api/v1/playbooks/late-delivery", json={"playbook": LATE}
            ).status_code
            == 403
        )
        bad = gateway.api(
            "admin",
            "PUT",
            "/api/v1/playbooks/late-delivery",
            json={"playbook": {**LATE, "match": {"aspects": ["nope"]}}},
        )
        assert bad.status_code == 400
        assert [e["field"] for e in bad.json()["error"]["errors"]] == ["playbook.match.aspects"]
        wrong_id = gateway.api("admin", "PUT", "/api/v1/playbooks/x", json={"playbook": LATE})
        assert (
            wrong_id.status_code == 400
            and wrong_id.json()["error"]["errors"][0]["field"] == "body.playbook.id"
        )

        text = "快递三天都没到，物流太慢了"
        r = gateway.api("integration", "POST", "/api/v1/feedback", json=[feedback("pb-1", text=text)])
        assert r.status_code == 202, r.text
        [case] = wait_until(lambda: gateway.rpc.cases.list_cases(), message="the case")
        case_id = case["_id"]

        found = gateway.api("agent", "GET", f"/api/v1/cases/{case_id}/playbooks").json()
        assert found["aspects"] == ["delivery", "waiting_time"]
        assert [s["id"] for s in found["suggestions"]] == ["late-delivery"]
        assert found["suggestions"][0]["reply"]["zh-CN"].startswith("王芳您好")

        used = gateway.api(
            "agent",
            "POST",
            f"/api/v1/cases/{case_id}/playbooks/late-delivery/use",
            json={"send": True, "use_id": "u1"},
        )
        assert used.status_code == 200, used.text
        assert used.json()["by"] == "chen.jie" and used.json()["sent"] is True
        bad_use = gateway.api(
            "agent",
            "POST",
            f"/api/v1/cases/{case_id}/playbooks/late-delivery/use",
            json={"send": "yes please"},
        )
        assert bad_use.status_code == 400 and bad_use.json()["error"]["errors"][0]["field"] == "body.send"

        message = wait_until(lambda: replies.get(no_ack=True), message="the reply published")
        body = json.loads(message.body)
        assert body["purpose"] == "playbook_reply" and body["case_id"] == case_id
        assert body["customer_id"] == "C42" and body["message_id"] == "playbook:u1"
        assert body["context"]["reply_text"].startswith("王芳您好，关于您反馈的配送延误")
        replies.delete()
    # notify took the reply as it takes every customer message (not dead-lettered): it
    # decided it and recorded the outcome (the stack has no SMS vendor: refused or failed)
    finished = ("sent", "refused", "failed")
    handled = wait_until(
        lambda: (m := gateway.rpc.notify.list_customer_messages(case_id=case_id))
        and m[0]["status"] in finished
        and m,
        message="notify's outcome",
    )
    assert handled[0]["_id"] == "playbook:u1"

    shown = gateway.api("agent", "GET", f"/api/v1/cases/{case_id}").json()
    assert [a["action"] for a in shown["audit"] if a["action"] == "playbook_used"] == ["playbook_used"]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    metrics = gateway.api("owner", "GET", "/api/v1/playbooks/metrics", params={"since": since}).json()
    assert [(r["playbook_id"], r["uses"], r["sent"]) for r in metrics["playbooks"]] == [
        ("late-delivery", 1, 1)
    ]
    assert (
        gateway.api("agent", "GET", "/api/v1/playbooks/metrics", params={"since": since}).status_code == 403
    )

    # cxctl sees the same library and suggestions
    code, out = cxctl(uri, "cases", "playbooks", case_id, "--language", "en")
    assert code == 0 and "late-delivery v1" in out and "aspect=delivery" in out
    assert "used / 已使用: late-delivery v1 by chen.jie" in out
    code, out = cxctl(uri, "cases", "show", case_id)
    assert code == 0 and "playbooks / 标准解决方案" in out and "late-delivery v1" in out, out
    samples = str(Path(__file__).parents[2] / "samples" / "playbooks.yaml")
    code, out = cxctl(uri, "playbooks", "apply", samples, "--by", "root", "--why", "the samples")
    assert code == 0 and "late-delivery v1 unchanged" in out and "billing-correction v1 saved" in out
    code, out = cxctl(uri, "playbooks", "list")
    assert code == 0 and "staff-attitude" in out and "aspects=staff_attitude" in out
    code, out = cxctl(uri, "playbooks", "show", "late-delivery", "--language", "en")
    assert code == 0 and "1. Look up the parcel" in out and "v1" in out
    code, out = cxctl(uri, "cases", "use-playbook", case_id, "billing-correction", "--by", "chen.jie")
    assert code == 0 and "filled, not sent" in out


def test_the_case_page_suggests_the_playbook_and_uses_it(gateway):  # noqa: F811
    put = gateway.api("admin", "PUT", "/api/v1/playbooks/late-delivery", json={"playbook": LATE})
    assert put.status_code == 200
    r = gateway.api(
        "integration", "POST", "/api/v1/feedback", json=[feedback("pb-page", text="快递三天都没到，太慢了")]
    )
    assert r.status_code == 202
    [case] = wait_until(lambda: gateway.rpc.cases.list_cases(), message="the case")
    agent = gateway.login("agent")
    page = agent.get(gateway.url + f"/cases/{case['_id']}").text
    section = page.split('id="playbooks"')[1].split("</section>")[0]
    assert "配送延误" in section and "物流配送" in section  # the title, and why: the comment's aspect
    assert "王芳您好" in section  # the reply filled for this customer
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    used = agent.post(
        gateway.url + f"/cases/{case['_id']}/playbooks/late-delivery/use",
        data={"csrf_token": token, "send": "on"},
        allow_redirects=False,
    )
    assert used.status_code == 303 and used.headers["Location"].endswith("?done=playbook_sent")
    after = agent.get(gateway.url + used.headers["Location"]).text
    assert "使用标准解决方案并发送回复" in after
    shown = gateway.rpc.cases.get_case(case["_id"])
    [entry] = [a for a in shown["audit"] if a["action"] == "playbook_used"]
    assert entry["actor"] == "chen.jie" and entry["detail"]["sent"] is True
