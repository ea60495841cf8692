"""Follow-up with the customer (回访) end to end, on the real broker, store, SMTP and HTTP:
a resolved case's survey is requested when due; the customer's answer through the
gateway's survey page reopens an unhappy customer's case (and tells its owner) or
verifies a satisfied one; a link works once; notify's outcomes are recorded and a
refused survey becomes the owner's task; a customer-visible comment is really sent.
Notify runs for real: its customer channel is a local Alibaba Cloud SMS receiver that
checks the signature (services/notify/channels/sms/fake.py), so every outcome the cases
service records here is the one notify reached."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlparse

import eventlet
import pytest
import requests
from kombu import Connection, Exchange
from nameko import config
from nameko.events import event_handler
from nameko.standalone.rpc import ClusterRpcClient

from services.common import survey_links as links
from services.notify.channels.sms import fake as sms_vendor
from services.notify.channels.sms.fake import FakeAliyunSms
from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, feedback, gateway  # noqa: F401 - the gateway fixture

pytestmark = pytest.mark.e2e

SECRET = "test-survey-secret"
REQUESTED: list[dict] = []


class CustomerMessages:
    """Stands where notify's customer channels listen: what cases asks to send."""

    name = "customer_messages"

    @event_handler("cases", "customer_message_requested")
    def requested(self, payload):
        REQUESTED.append(payload)


def policy(by="automatic", survey="csat", hours=0.0005, **extra):
    rule = {"name": "everyone", "by": by, "channels": ["sms", "email"], "survey": survey}
    rule.update(calendar="24x7", after_business_hours=hours, link_valid_hours=1, language="zh-CN", **extra)
    return {"id": "default", "rules": [rule]}


SMS: list[FakeAliyunSms] = []  # the running vendor of the current test


@pytest.fixture
def survey_config(cx_config):
    REQUESTED.clear()
    templates = ",".join(f"{k}={v}" for k, v in sms_vendor.CONFIG_TEMPLATES.items())
    with FakeAliyunSms() as sms:
        SMS[:] = [sms]
        customer_channels = {
            "CUSTOMER_SMS_ENDPOINT": sms.endpoint,
            "CUSTOMER_SMS_ACCESS_KEY_ID": sms_vendor.ACCESS_KEY_ID,
            "CUSTOMER_SMS_ACCESS_KEY_SECRET": sms_vendor.ACCESS_KEY_SECRET,
            "CUSTOMER_SMS_SIGN_NAME": sms_vendor.SIGN_NAME,
            "CUSTOMER_SMS_TEMPLATES": templates,
            "CUSTOMER_QUIET_HOURS": "none",
        }
        with config.patch({"SURVEY_SECRET": SECRET, "ESCALATION_SWEEP_SECONDS": 0.3, **customer_channels}):
            yield cx_config


@pytest.fixture
def listener(survey_config, container_factory):
    container_factory(CustomerMessages).start()


def resolved_case(gw, event_id: str, customer: str = "C42", nps: int = 2) -> dict:
    r = gw.api("integration", "POST", "/api/v1/feedback", json=feedback(event_id, nps=nps, customer=customer))
    assert r.status_code == 202, r.text
    case = wait_until(
        lambda: next((c for c in gw.rpc.cases.list_cases(customer=customer)), None), message="the case"
    )
    request = {"case_id": case["_id"], "by": "chen.jie", "root_cause": "delivery_delay"}
    gw.rpc.cases.resolve({**request, "first_contact_resolution": False})
    return case


def survey_request(case_id: str) -> dict:
    return wait_until(
        lambda: next(
            (m for m in REQUESTED if m["case_id"] == case_id and m["purpose"] == "followup_survey"), None
        ),
        message="the survey request",
    )


def survey_path(message: dict) -> str:
    return urlparse(message["context"]["survey_url"]).path


def answer(gw, path: str, score) -> requests.Response:
    return requests.post(gw.url + path, data={"score": str(score)}, allow_redirects=False)


def test_unhappy_answer_reopens_the_case_tells_the_owner_and_the_link_works_once(
    survey_config,
    listener,
    gateway,  # noqa: F811
    smtp_sink,
    rabbit_manager,
    mongo_client,
    db_prefix,
):
    gw = gateway
    assert gw.rpc.cases.apply_followup_policy(policy())["version"] == 1
    case = resolved_case(gw, "fu-unhappy")
    message = survey_request(case["_id"])
    assert message["channels"] == ["sms", "email"] and message["customer_id"] == "C42"
    assert message["message_id"] == f"{case['_id']}:fu0:survey" and message["language"] == "zh-CN"
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{8}", message["context"]["reply_code"])
    path = survey_path(message)

    page = requests.get(gw.url + path)
    assert page.status_code == 200 and "您对这次问题的处理结果满意吗" in page.text
    assert page.text.count('name="score"') == 5  # CSAT 1-5
    english = requests.get(gw.url + path, params={"lang": "en"})
    assert "How satisfied are you" in english.text
    bad = answer(gw, path, 9)
    assert bad.status_code == 400 and "score: 1-5" in bad.text

    assert not [m for m in smtp_sink.messages() if "重新打开" in m["Subject"]]
    done = answer(gw, path, 2)
    assert done.status_code == 200 and "感谢您的反馈" in done.text
    reopened = wait_until(
        lambda: (c := gw.rpc.cases.get_case(case["_id"]))["status"] == "reopened" and c, message="the reopen"
    )
    [fu] = reopened["followups"]
    assert (
        fu["state"] == "answered"
        and fu["answer"]["classification"] == "unhappy"
        and fu["answer"]["score"] == 2
    )
    assert "followup_answered" in [a["action"] for a in reopened["audit"]]
    console = gw.login("owner").get(f"{gw.url}/cases/{case['_id']}").text  # the case page shows it
    assert 'id="followups"' in console and "客户已答复" in console and "CSAT 2 · 不满意" in console
    mail = wait_until(
        lambda: next((m for m in smtp_sink.messages() if "重新打开" in m["Subject"]), None),
        message="the owner's mail",
    )
    assert mail["To"] == "chen.jie@example.com"

    # single use: a second answer and a second visit are refused
    again = answer(gw, path, 5)
    assert again.status_code == 409 and "每个链接只能使用一次" in again.text
    assert requests.get(gw.url + path).status_code == 409
    time.sleep(1.0)
    assert gw.rpc.cases.get_case(case["_id"])["status"] == "reopened"

    # forged and expired links get their own page and a 4xx
    token = path.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    forged = requests.get(f"{gw.url}/survey/{payload}.{signature[::-1]}")
    assert forged.status_code == 400 and "签名不符" in forged.text
    claims = links.SurveyClaims(case["_id"], "C42", int(time.time()) - 5, "old-nonce", "csat", "en")
    expired = requests.get(f"{gw.url}/survey/{links.sign(SECRET, claims)}")
    assert expired.status_code == 410 and "has expired" in expired.text

    # the reply code leads to the same link
    coded = requests.get(
        gw.url + "/survey", params={"code": message["context"]["reply_code"]}, allow_redirects=False
    )
    assert coded.status_code == 303 and coded.headers["Location"].startswith(path)
    assert requests.get(gw.url + "/survey", params={"code": "ZZZZZZZZ"}).status_code == 404

    # cases binds the follow-up key only: it never receives the ordinary feedback stream
    vhost = urlparse(survey_config["AMQP_URI"]).path.lstrip("/")
    keys = {b["routing_key"] for b in rabbit_manager.get_queue_bindings(vhost, "cx.feedback.cases")}
    assert keys - {"cx.feedback.cases"} == {"feedback.*.followup"}
    # profiles counted the answer like any feedback
    profile = wait_until(
        lambda: (p := gw.rpc.profiles.get_profile("C42"))["feedback_count"] == 2 and p, message="the profile"
    )
    assert profile["feedback_count"] == 2
    # an event on that key that cannot be an answer is dead-lettered with its reason
    stray = feedback("fu-stray", customer="C42")  # no case_id, no nonce
    with Connection(survey_config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            json.dumps(stray), exchange=Exchange("cx.feedback", type="topic", durable=True),
            routing_key="feedback.web.followup", content_type="application/json", delivery_mode=2,
        )  # fmt: skip
    wait_until(
        lambda: gw.rpc.cases.stats()["dead_letters"] == {"cx.feedback.cases": 1}, message="dead letter"
    )
    [dead] = mongo_client[f"{db_prefix}cases"].dead_letters.find()
    reason = dead["reason"]
    assert "case_id: required on a follow-up answer" in reason and "attributes.followup_nonce" in reason


def test_happy_answer_verifies_the_case_and_feeds_the_metrics(survey_config, listener, gateway):  # noqa: F811
    gw = gateway
    gw.rpc.cases.apply_followup_policy(policy(survey="nps"))
    case = resolved_case(gw, "fu-happy", customer="C51", nps=3)
    path = survey_path(survey_request(case["_id"]))
    assert requests.get(gw.url + path).text.count('name="score"') == 11  # NPS 0-10
    # notify sent it by SMS (the customer has a phone, no WeChat): the survey link went out
    text = wait_until(
        lambda: next((m for m in SMS[0].sent if m["phone"] == "13800138000"), None), message="SMS"
    )
    assert path.rsplit("/", 1)[1][:20] in json.dumps(text["params"], ensure_ascii=False)
    wait_until(
        lambda: (gw.rpc.cases.get_case(case["_id"])["followups"][0].get("message") or {}).get("outcome"),
        message="notify's outcome recorded",
    )
    # three submissions at once: exactly one is taken
    statuses = sorted(eventlet.GreenPool(3).imap(lambda _: answer(gw, path, 9).status_code, range(3)))
    assert statuses == [200, 409, 409]
    verified = wait_until(
        lambda: (c := gw.rpc.cases.get_case(case["_id"]))["status"] == "verified" and c, message="verified"
    )
    [fu] = verified["followups"]
    assert fu["message"]["outcome"]["status"] == "sent" and fu["message"]["outcome"]["channel"] == "sms"
    actions = [a["action"] for a in verified["audit"]]
    assert {"followup_scheduled", "followup_requested", "followup_message_sent", "verified"} <= set(actions)
    figures = gw.rpc.cases.metrics({"since": "2020-01-01T00:00:00+00:00"})["overall"]
    assert figures["followups_answered"] == 1 and figures["post_resolution_nps"] == 100.0
    assert figures["recovery_rate"] == 1.0 and figures["followup_on_time_rate"] == 1.0


def test_refused_survey_becomes_the_owners_task_done_with_cxctl(survey_config, listener, gateway):  # noqa: F811
    from click.testing import CliRunner

    from cxctl.main import cli

    gw = gateway
    gw.rpc.cases.apply_followup_policy(policy(task_sla_business_hours=0.0003))
    # the customer told us never to contact them: notify refuses the survey for real
    gw.rpc.notify.set_customer_opt_out("C60", "all", True, by="chen.jie", reason="asked on the phone")
    case = resolved_case(gw, "fu-refused", customer="C60", nps=1)
    survey_request(case["_id"])
    task = wait_until(
        lambda: next(iter(gw.rpc.cases.list_followups({"assignees": ["cx-care"]})), None), message="the task"
    )
    assert task["case_id"] == case["_id"] and task["task"]["assignee"] == {"kind": "team", "id": "cx-care"}
    assert "opted_out" in task["task"]["reason"]
    # its own SLA: past due it shows as overdue, in the API and with --overdue
    wait_until(lambda: gw.rpc.cases.list_followups({"overdue": True}), message="overdue")
    agent_view = gw.api("agent", "GET", "/api/v1/followups").json()["items"]
    assert [t["case_id"] for t in agent_view] == [case["_id"]] and agent_view[0]["overdue"] is True
    console = (
        gw.login("agent").get(gw.url + "/followups", params={"overdue": "true"}).text
    )  # the agent's queue
    assert case["_id"] in console and "已超时" in console and "opted_out" in console
    # the agent's case queue says so too, and links the task list
    queue_page = gw.login("agent").get(gw.url + "/cases").text
    assert 'id="queue-followups"' in queue_page and "待办回访任务: 1" in queue_page
    assert "已逾期: 1" in queue_page and 'href="/followups"' in queue_page
    shown = gw.rpc.cases.get_case(case["_id"])
    refusal = next(a for a in shown["audit"] if a["action"] == "followup_message_refused")
    assert "opted_out" in refusal["why"]

    uri = survey_config["AMQP_URI"]
    listed = CliRunner().invoke(cli, ["--amqp-uri", uri, "cases", "followup", "list", "--overdue"])
    assert listed.exit_code == 0 and case["_id"] in listed.output and "OVERDUE" in listed.output
    done = CliRunner().invoke(
        cli, ["--amqp-uri", uri, "cases", "followup", "done", case["_id"], "--score", "4", "--by", "chen.jie"]
    )
    assert done.exit_code == 0, done.output
    assert gw.rpc.cases.get_case(case["_id"])["status"] == "verified"
    shown = CliRunner().invoke(cli, ["--amqp-uri", uri, "cases", "show", case["_id"]]).output
    assert (
        "follow-up answered by automatic" in shown
        and "survey: requested" in shown
        and "refused (opted_out)" in shown
    )
    assert "task: team cx-care" in shown and "answer: csat 4 (satisfied)" in shown
    again = CliRunner().invoke(
        cli, ["--amqp-uri", uri, "cases", "followup", "done", case["_id"], "--by", "x"]
    )
    assert again.exit_code != 0 and "has no open follow-up task" in again.output
    figures = gw.rpc.cases.metrics({"since": "2020-01-01T00:00:00+00:00"})["overall"]
    assert figures["followup_on_time_rate"] == 0.0 and figures["post_resolution_csat"] == 4.0
    assert figures["recovery_rate"] == 1.0  # a detractor (NPS 1) answered CSAT 4 to the agent
    table = CliRunner().invoke(cli, ["--amqp-uri", uri, "cases", "metrics", "--since", "1h"]).output
    assert "RECOVERY" in table and "4.00" in table and "100%" in table


def test_customer_visible_comment_is_sent_and_its_outcome_recorded(survey_config, listener, gateway):  # noqa: F811
    gw = gateway
    r = gw.api("integration", "POST", "/api/v1/feedback", json=feedback("reply-1", customer="C70"))
    assert r.status_code == 202
    case = wait_until(lambda: next(iter(gw.rpc.cases.list_cases(customer="C70")), None), message="the case")
    body = {"text": "您好，已为您重新安排配送。", "visibility": "customer", "comment_id": "c-1"}
    assert gw.api("owner", "POST", f"/api/v1/cases/{case['_id']}/comment", json=body).status_code == 200
    gw.api("owner", "POST", f"/api/v1/cases/{case['_id']}/comment", json={"text": "internal note"})
    reply = wait_until(
        lambda: next((m for m in REQUESTED if m["purpose"] == "case_reply"), None),
        message="the reply request",
    )
    assert reply["message_id"] == f"{case['_id']}:reply:c-1" and reply["customer_id"] == "C70"
    assert reply["context"]["reply_text"] == "您好，已为您重新安排配送。"
    assert reply["channels"] == ["wechat_oa", "sms", "email"]
    time.sleep(0.5)
    assert [m["purpose"] for m in REQUESTED] == ["case_reply"]  # the internal note was not sent
    # notify sent it: no WeChat follower id for this customer, so by SMS, the next channel
    shown = wait_until(
        lambda: (c := gw.rpc.cases.get_case(case["_id"]))["comments"][0].get("delivery") and c,
        message="the delivery",
    )
    assert shown["comments"][0]["delivery"]["channel"] == "sms"
    assert any("重新安排配送" in json.dumps(m["params"], ensure_ascii=False) for m in SMS[0].sent)
    assert "customer_reply_sent" in [a["action"] for a in shown["audit"]]


def test_with_partitions_cases_gets_follow_up_answers_only_even_when_it_starts_last(
    cx_config, runner_factory, rabbit_manager
):
    """FEEDBACK_PARTITIONS > 0: the ingest router declares the cases service's partition
    topology bound to the follow-up key only (FEEDBACK_CONSUMERS ``cases:feedback.*.followup``),
    so answers published before cases starts wait for it, and ordinary feedback never
    reaches it."""
    from services.cases.service import CasesService
    from services.ingest.service import IngestService

    with config.patch({"FEEDBACK_PARTITIONS": 2, "REPLICA_COUNT": 1, "REPLICA_INDEX": 0}):
        runner_factory(IngestService).start()
        uri = cx_config["AMQP_URI"]
        exchange = Exchange("cx.feedback", type="topic", durable=True)
        with Connection(uri) as conn:
            producer = conn.Producer()
            for event_id, key in (("ordinary", "feedback.web"), ("stray-answer", "feedback.web.followup")):
                body = json.dumps(feedback(event_id, customer="C90"))
                producer.publish(body, exchange=exchange, routing_key=key, content_type="application/json")
        vhost = urlparse(uri).path.lstrip("/")
        queues = [f"cx.feedback.cases.p{i:02d}" for i in range(2)]
        waiting = lambda: sum(rabbit_manager.get_queue(vhost, q).get("messages", 0) for q in queues)  # noqa: E731
        assert wait_until(lambda: waiting() == 1, message="the answer waiting for cases") == 1
        runner_factory(CasesService).start()
        with ClusterRpcClient(timeout=15) as rpc:
            dead = wait_until(lambda: rpc.cases.stats()["dead_letters"], message="the answer taken")
        # the stray answer (no case_id) was taken and dead-lettered; the ordinary event never came
        assert dead == {"cx.feedback.cases": 1}
    wait_until(lambda: waiting() == 0, message="the partition queues drained")  # stats lag a little


def test_a_team_follow_up_is_a_task_the_team_is_told_of(survey_config, listener, gateway, smtp_sink):  # noqa: F811
    gw = gateway
    gw.rpc.cases.apply_followup_policy(policy(by="team", team="cx-care", task_sla_business_hours=2))
    case = resolved_case(gw, "fu-team", customer="C80")
    task = wait_until(
        lambda: next(iter(gw.rpc.cases.list_followups({"assignees": ["cx-care"]})), None), message="the task"
    )
    assert task["case_id"] == case["_id"] and task["overdue"] is False and task["mode"] == "team"
    assert "follow-up by team" in task["task"]["reason"]
    assert [m for m in REQUESTED if m["case_id"] == case["_id"]] == []  # nothing sent to the customer
    # the team (chen.jie) is told, through the owner notification path, in their language
    mail = wait_until(
        lambda: next((m for m in smtp_sink.messages() if "回访任务" in m["Subject"]), None),
        message="the team's mail",
    )
    body = mail.get_body(("plain",)).get_content()
    assert mail["To"] == "chen.jie@example.com" and "请对以下工单的客户进行回访（截止 " in body
    shown = gw.api("agent", "GET", f"/api/v1/cases/{case['_id']}").json()
    assert shown["followups"][0]["task"]["assignee"] == {"kind": "team", "id": "cx-care"}
    # done from the case page's form, offered while the task is open
    agent = gw.login("agent")
    page = agent.get(f"{gw.url}/cases/{case['_id']}").text
    assert 'id="form-followup_done"' in page and "完成回访" in page
    form = {"csrf_token": csrf_of(page), "note": "客户未接电话", "score": "", "scale": ""}
    posted = agent.post(f"{gw.url}/cases/{case['_id']}/followup_done", data=form, allow_redirects=False)
    assert posted.status_code == 303, posted.text
    [fu] = gw.api("agent", "GET", f"/api/v1/cases/{case['_id']}").json()["followups"]
    assert fu["state"] == "done" and fu["task"]["on_time"] is True and fu["task"]["note"] == "客户未接电话"
    assert 'id="form-followup_done"' not in agent.get(f"{gw.url}/cases/{case['_id']}").text
    again = gw.api("agent", "POST", f"/api/v1/cases/{case['_id']}/followup_done", json={"note": "again"})
    assert again.status_code == 422 and "has no open follow-up task" in again.text
    bad = gw.api("agent", "POST", f"/api/v1/cases/{case['_id']}/followup_done", json={"score": "many"})
    assert bad.status_code == 400 and "body.score" in bad.text
