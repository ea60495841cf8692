"""Secrets never in logs, delivery errors, events, HTTP error bodies or RPC errors.

Failures are provoked for real, by parties that echo what they received: an
SMTP relay that quotes the login and password in its 535 refusal, a DingTalk
robot and a webhook receiver answering 500 with the token or the shared secret
in the body, a webhook URL whose path token requests quotes in its connection
error, a wrong console password, a revoked API token, and a MONGO_URI whose
password is wrong or which does not parse. Every log record (DEBUG, every
logger: the database driver's command log included), every delivery and
attempt, every ``notification_delivered`` event, every HTTP answer and every
RPC error is then searched for each secret value.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from kombu import Connection, Exchange, Queue
from nameko import config
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcClient

from services.alerts.service import AlertsService
from services.gateway.service import GatewayService
from services.notify.channels.dingtalk.fake import FakeDingTalk
from services.notify.channels.testing import Answer
from services.notify.channels.webhook.fake import FakeWebhookReceiver
from services.notify.service import NotifyService
from tests.conftest import free_port, wait_until
from tests.e2e.gateway_stack import csrf_of

HERE = Path(__file__).resolve().parent


def secret(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex}"


@pytest.fixture
def chatty_relay():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "chatty_relay.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    yield port
    process.terminate()
    process.wait(timeout=10)


def remote_error(call) -> str:
    with pytest.raises(RemoteError) as failed:
        call()
    return f"{failed.value.exc_type}: {failed.value.value}"


def test_secrets_stay_out_of_logs_errors_events_and_answers(
    cx_config, runner_factory, chatty_relay, caplog, mongo_client, db_prefix
):
    s = {
        name: secret(name)
        for name in ("smtp", "dingtalk-token", "dingtalk-sign", "webhook", "hook-path", "password", "mongo")
    }
    caplog.set_level(logging.DEBUG)
    port = free_port()
    patch = {
        "SMTP_PORT": chatty_relay,
        "SMTP_USER": "cx-relay",
        "SMTP_PASSWORD": s["smtp"],
        "NOTIFY_MAX_ATTEMPTS": 1,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
    }
    with (
        config.patch(patch),
        FakeDingTalk(token=s["dingtalk-token"], secret=s["dingtalk-sign"]) as dingtalk,
        FakeWebhookReceiver(s["webhook"]) as hook,
        Connection(config["AMQP_URI"]) as conn,
    ):
        events = Queue(
            exchange=Exchange("notify.events", type="topic", durable=True),
            routing_key="notification_delivered",
            exclusive=True,
        )(conn.default_channel)
        events.declare()
        runner = runner_factory(NotifyService, GatewayService)
        runner.start()
        url = f"http://127.0.0.1:{port}"
        texts: list[str] = []
        with ClusterRpcClient(timeout=15) as rpc:
            rpc.notify.apply_recipients(
                {
                    "people": [
                        {
                            "id": "li.na",
                            "name": "李娜",
                            "email": "li.na@example.com",
                            "handles": {
                                "dingtalk": {"webhook": dingtalk.webhook, "secret": s["dingtalk-sign"]},
                                "webhook": {"url": hook.url, "secret": s["webhook"]},
                            },
                        },
                        {
                            "id": "bo",
                            "name": "Bo",
                            "email": "bo@example.com",
                            "handles": {
                                "webhook": {
                                    "url": f"http://127.0.0.1:{free_port()}/hooks/{s['hook-path']}",
                                    "secret": s["webhook"],
                                }
                            },
                        },
                    ]
                }
            )
            rpc.gateway.put_user({"id": "zhao.min", "role": "owner", "password": "owner-password-1"})
            token = rpc.gateway.issue_token("zhao.min", "tests")["token"]
            s["api-token"] = token

            dingtalk.script(Answer(500, f"upstream failed for {dingtalk.webhook}"))
            hook.script(Answer(500, {"error": f"bad signature; the secret is {s['webhook']}"}))
            for channel, to in (
                ("email", "li.na"),
                ("dingtalk", "li.na"),
                ("webhook", "li.na"),
                ("webhook", "bo"),
            ):
                rpc.notify.send_test(channel, f"person:{to}")

            def settled():
                rows = rpc.notify.list_deliveries(limit=100)
                return rows if len(rows) >= 6 and all(r["status"] == "failed" for r in rows) else None

            deliveries = wait_until(settled, timeout=60, message="every delivery and fallback to fail")
            attempts = [rpc.notify.get_delivery(d["_id"]) for d in deliveries]
            errors = " | ".join(a["error"] or "" for d in attempts for a in d["attempt_log"])
            # the parties did echo the secrets: what is left is the redaction
            assert "bad credentials cx-relay:***" in errors
            assert "upstream failed for ***" in errors and "the secret is ***" in errors
            # bo's webhook port is closed: the refusal names the host and port, never the
            # secret path (the check of every text below holds it out either way)
            assert "connection error: " in errors and "Failed to establish a new connection" in errors
            texts += [json.dumps(deliveries), json.dumps(attempts), errors]

            # HTTP: the delivery log, a wrong password, a revoked token, a secret in the query
            headers = {"Authorization": f"Bearer {token}"}
            texts.append(requests.get(f"{url}/api/v1/notifications?limit=100", headers=headers).text)
            texts.append(requests.get(f"{url}/api/v1/me?token={s['password']}", headers=headers).text)
            session = requests.Session()
            csrf = csrf_of(session.get(f"{url}/login").text)
            wrong = session.post(
                f"{url}/login", data={"username": "zhao.min", "password": s["password"], "csrf_token": csrf}
            )
            assert wrong.status_code == 401
            texts.append(wrong.text)
            rpc.gateway.revoke_tokens("zhao.min")
            refused = requests.get(f"{url}/api/v1/me", headers=headers)
            assert refused.status_code == 401
            texts.append(refused.text)
            # RPC errors about the secret-bearing parts
            texts.append(
                remote_error(
                    lambda: rpc.notify.apply_recipients(
                        {
                            "people": [
                                {"id": "x", "handles": {"webhook": {"url": s["hook-path"], "secret": 7}}}
                            ]
                        }
                    )
                )
            )

        for _ in range(12):
            message = events.get(no_ack=True)
            if message is None:
                break
            texts.append(json.dumps(message.payload))
        assert len(texts) > 12  # the events arrived
        runner.stop()

    # bad configuration: a database password that is wrong, and one in a URI that does not parse
    for uri in (
        f"mongodb://cx:{s['mongo']}@127.0.0.1:{free_port()}/",
        f"mongodb://cx:{s['mongo']}@127.0.0.1:not-a-port/",
    ):
        with config.patch({"MONGO_URI": uri}):
            broken = runner_factory(AlertsService)
            with pytest.raises(Exception) as failed:
                broken.start()
            texts.append(f"{type(failed.value).__name__}: {failed.value}")
            broken.kill()

    texts.append(caplog.text)
    texts += [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert "Command started" in caplog.text  # the driver's command log was on
    leaks = {name: value for name, value in s.items() for text in texts if value in text}
    assert leaks == {}
