"""The walking skeleton end to end: real RabbitMQ, real MongoDB, real SMTP.

All four services run in one ServiceRunner against an isolated vhost and
fresh databases; feedback is published the way integrations do it (raw kombu,
persistent, confirmed), mail is read back from a real aiosmtpd process.
"""

import json

import pytest
from kombu import Connection, Queue
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.broker import wait_queues_idle
from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.messaging import HEADER_ATTEMPTS, HEADER_QUEUE, HEADER_REASON
from services.common.mongo import database_name
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService
from tests.conftest import wait_until

RULES = {
    "rules": [
        {
            "id": "nps-detractor",
            "name": "NPS 贬损者",
            "level": "P2",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "when": {"all": [{"field": "scores.nps", "op": "lte", "value": 6}]},
        }
    ]
}
RECIPIENTS = {"people": [{"id": "li.na", "name": "李娜", "email": "li.na@example.com", "language": "zh-CN"}]}


def feedback(event_id="ev-1", nps=2, **extra):
    return {
        "schema_version": 1,
        "event_id": event_id,
        "source": "survey-app",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": "C42", "name": "王芳", "phone": "13800138000", "tier": "standard"},
        "channel": "wechat",
        "touchpoint": "delivery",
        "scores": {"nps": nps},
        "text": "快递三天都没到，客服也联系不上",
        **extra,
    }


@pytest.fixture
def stack(cx_config, runner_factory, mongo_client, db_prefix):
    runner = runner_factory(AlertsService, CasesService, ProfilesService, NotifyService)
    runner.start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.alerts.apply_rules(RULES)
        rpc.notify.apply_recipients(RECIPIENTS)
        yield rpc


def db_of(mongo_client, service):
    return mongo_client[database_name(service)]


def publish(amqp_uri, *bodies):
    with FeedbackPublisher(amqp_uri) as publisher:
        for body in bodies:
            publisher.publish(body if isinstance(body, (bytes, str)) else json.dumps(body))


def test_detractor_becomes_profile_alert_case_and_email(stack, cx_config, smtp_sink, mongo_client):
    publish(cx_config["AMQP_URI"], feedback())
    [mail] = wait_until(smtp_sink.messages, message="the email")
    assert mail["To"] == "li.na@example.com"
    assert mail["Subject"].startswith("【P2·高】NPS 贬损者")
    body = mail.get_body(("plain",)).get_content()
    assert "快递三天都没到" in body and "scores.nps lte 6" in body

    [alert] = stack.alerts.list_alerts()
    assert alert["level"] == "P2" and alert["rule"] == {
        "id": "nps-detractor",
        "version": 1,
        "name": "NPS 贬损者",
    }
    assert alert["trace"][0]["actual"] == 2
    [case] = stack.cases.list_cases()
    assert case["assignee"] == {"kind": "person", "id": "li.na"}
    assert case["status"] == "assigned"
    assert mail["X-CX-Case-Id"] == case["_id"]
    audit = stack.cases.get_case(case["_id"])["audit"]
    assert [a["action"] for a in audit] == ["opened", "assigned"]

    def profile_complete():
        p = stack.profiles.get_profile("C42")
        parts = ("alert_counts", "open_cases", "latest", "identity", "last_contact")
        milestone = any(e["kind"] == "case_milestone" for e in p["timeline"])
        return p if all(p.get(k) for k in parts) and p["feedback_count"] == 1 and milestone else None

    profile = wait_until(profile_complete, message="the profile to list alert and case")
    assert profile["identity"]["name"] == "王芳"
    assert profile["latest"]["nps"]["value"] == 2
    assert profile["feedback_count"] == 1
    assert profile["alert_counts"] == {"nps-detractor": 1}
    assert profile["open_cases"][0]["case_id"] == case["_id"]
    kinds = sorted(e["kind"] for e in profile["timeline"])
    assert kinds == ["alert", "case_milestone", "case_opened", "feedback"]  # milestone: open→assigned

    delivered = wait_until(lambda: stack.notify.list_deliveries(status="delivered"))
    assert delivered[0]["message_id"] == mail["Message-ID"]


def test_malformed_message_is_dead_lettered_with_its_reason_and_changes_nothing(
    stack, cx_config, mongo_client
):
    bad_schema = feedback(event_id="ev-bad", nps=11)
    publish(cx_config["AMQP_URI"], b"{not json", bad_schema)
    got = {}
    with Connection(cx_config["AMQP_URI"]) as conn:
        for service in ("alerts", "profiles"):
            # a bound Queue's get() leaves the body undecoded (it is not JSON)
            queue = Queue(f"cx.feedback.{service}.dlq", no_declare=True)(conn.default_channel)
            for _ in range(2):
                message = wait_until(
                    lambda q=queue: q.get(no_ack=True), message=f"a dead letter from {service}"
                )
                got.setdefault(service, []).append(message)
    for service, messages in got.items():
        reasons = sorted(m.headers[HEADER_REASON] for m in messages)
        assert reasons[0].startswith("invalid JSON: "), reasons
        assert reasons[1].startswith("schema: scores.nps"), reasons
        assert {m.headers[HEADER_QUEUE] for m in messages} == {f"cx.feedback.{service}"}
        assert all(m.headers[HEADER_ATTEMPTS] == 1 for m in messages)
        # the original body is kept byte for byte
        raw = [m.body if isinstance(m.body, bytes) else m.body.encode("utf-8") for m in messages]
        assert sorted(raw) == sorted([b"{not json", json.dumps(bad_schema).encode()])
    assert stack.alerts.stats()["dead_letters"] == {"cx.feedback.alerts": 2}
    assert stack.profiles.stats()["dead_letters"] == {"cx.feedback.profiles": 2}
    assert stack.alerts.list_alerts() == []
    assert stack.profiles.stats()["profiles"] == 0
    assert stack.cases.list_cases() == []


def test_the_same_event_published_twice_is_processed_once(stack, cx_config, smtp_sink, mongo_client):
    event = feedback(event_id="ev-dup")
    publish(cx_config["AMQP_URI"], event, event)
    publish(cx_config["AMQP_URI"], event)  # a later resend
    wait_until(smtp_sink.messages, message="the email")
    # every copy has gone through every queue before we count
    assert wait_queues_idle(cx_config["AMQP_URI"], quiet=6, timeout=60)
    for service in ("alerts", "profiles"):
        [entry] = db_of(mongo_client, service).feedback_inbox.find({"event_id": "ev-dup"})
        assert entry["state"] == "done"
    assert len(stack.alerts.list_alerts()) == 1
    assert len(stack.cases.list_cases()) == 1
    assert len(smtp_sink.messages()) == 1
    profile = stack.profiles.get_profile("C42")
    assert profile["feedback_count"] == 1
    assert [e["kind"] for e in profile["timeline"]].count("feedback") == 1
