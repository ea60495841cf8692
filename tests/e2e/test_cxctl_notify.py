"""cxctl notify … against a running notify service, real HTTP receivers and real SMTP."""

import json

import pytest
import yaml

from services.notify.channels.slack.fake import FakeSlack
from services.notify.channels.wecom.fake import FakeWeCom
from services.notify.service import NotifyService
from tests.conftest import wait_until
from tests.e2e.test_cxctl import run


@pytest.fixture
def service(cx_config, container_factory):
    container = container_factory(NotifyService)
    container.start()
    return container


def payload_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"notification_id": "x", "kind": "case_assigned"}))
    return bad


def test_notify_test_log_preview_and_templates(service, cx_config, smtp_sink, tmp_path):
    uri = cx_config["AMQP_URI"]
    with FakeSlack() as slack, FakeWeCom() as wecom:
        directory = tmp_path / "recipients.yaml"
        directory.write_text(
            yaml.safe_dump(
                {
                    "people": [
                        {
                            "id": "li.na",
                            "name": "李娜",
                            "email": "li.na@example.com",
                            "handles": {
                                "slack": {"webhook": slack.webhook, "user_id": "U42"},
                                "wecom": {"webhook": wecom.webhook + "-wrong", "user_id": "lina"},
                            },
                        }
                    ]
                },
                allow_unicode=True,
            ),
            encoding="utf-8",
        )
        assert run(uri, "recipients", "apply", str(directory)) == (0, "people: 1  teams: 0\n")

        code, out = run(uri, "notify", "test", "slack", "--to", "li.na")
        assert code == 0 and "delivered after 1 attempt(s)" in out, out
        [sent] = slack.accepted
        assert sent.json()["blocks"][1]["text"]["text"].endswith("<@U42>")

        code, out = run(uri, "notify", "test", "wecom", "--to", "person:li.na")
        assert code == 1 and "93000" in out  # the robot key is wrong: permanent, not retried
        [mail] = wait_until(smtp_sink.messages, message="the fallback email")
        assert mail["To"] == "li.na@example.com"

        def settled():  # the mail may arrive a moment before its delivery is marked
            rows = json.loads(run(uri, "notify", "log", "--json")[1])
            return rows if all(r["status"] in ("delivered", "failed") for r in rows) else None

        rows = wait_until(settled, message="every delivery settled")
        assert sorted((r["channel"], r["status"]) for r in rows) == [
            ("email", "delivered"),
            ("slack", "delivered"),
            ("wecom", "failed"),
        ]
        code, out = run(uri, "notify", "log", "--channel", "wecom")
        assert code == 0 and "failed" in out and "93000" in out
        wecom_id = next(r["_id"] for r in rows if r["channel"] == "wecom")
        code, out = run(uri, "notify", "log", "--attempts", wecom_id)
        assert code == 0 and "invalid webhook url" in out

        request = tmp_path / "request.json"
        request.write_text(
            json.dumps(
                {
                    "notification_id": "sim-1",
                    "requested_at": "2026-11-20T06:00:00+00:00",
                    "kind": "case_assigned",
                    "recipient": {"kind": "person", "id": "li.na"},
                    "channels": ["slack"],
                    "level": "P2",
                    "context": {
                        "case_id": "CASE-S",
                        "title": "模拟",
                        "level": "P2",
                        "case_url": "http://c/s",
                    },
                }
            )
        )
        before = len(slack.requests)
        code, out = run(uri, "notify", "simulate", str(request), "--now", "2026-11-20T14:00:00+08:00")
        assert code == 0 and out.startswith("slack → person:li.na [zh-CN] sent now"), out
        assert "template: zh-CN/case_assigned.slack.j2" in out and "模拟" in out
        assert len(slack.requests) == before  # nothing sent
        code, out = run(uri, "notify", "simulate", str(payload_file(tmp_path)))
        assert code == 1 and "request.recipient: Missing data" in out

    code, out = run(uri, "notify", "preview", "escalation_step", "dingtalk", "--lang", "en")
    assert code == 0 and out.startswith("[Escalated P1]") and "round 1, step 2" in out
    payload = tmp_path / "payload.json"
    payload.write_text(
        json.dumps({"case_id": "CASE-X", "title": "自定义", "level": "P3", "case_url": "http://c/x"})
    )
    code, out = run(uri, "notify", "preview", "case_assigned", "wecom", "--payload", str(payload), "--raw")
    assert code == 0 and json.loads(out)["markdown"]["content"].startswith("**【P3·中】自定义**")

    broken = tmp_path / "broken.j2"
    broken.write_text("好\n{{ level + }}", encoding="utf-8")
    code, out = run(uri, "notify", "templates", "save", "zh-CN/case_assigned.subject.j2", str(broken))
    assert code == 1 and "line 2:" in out
    good = tmp_path / "good.j2"
    good.write_text("【{{ level }}】请处理 {{ case_id }}", encoding="utf-8")
    code, out = run(
        uri, "notify", "templates", "save", "zh-CN/case_assigned.subject.j2", str(good), "--reason", "shorter"
    )
    assert code == 0 and "(version 1)" in out
    code, out = run(uri, "notify", "preview", "case_assigned", "email")
    assert out.startswith("【P2】请处理 CASE-3F2A9C01B7E4")
    code, out = run(uri, "notify", "templates", "list")
    [row] = [line.split() for line in out.splitlines() if line.startswith("zh-CN/case_assigned.subject.j2")]
    assert row[1:] == ["True", "1", "cxctl"]  # overridden, version, by
