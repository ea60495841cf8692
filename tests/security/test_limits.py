"""Size and rate limits on every input, each a setting (services/common/settings.py).

HTTP bodies (413), per-client request rate (429 + Retry-After), RPC payload
size, list length, string length and nesting (BadRequest naming the argument),
AMQP message size on the feedback consumers and the event handlers
(dead-lettered with the size as the reason). The settings are lowered with
``config.patch`` while the services run: each is read where it applies.
"""

from __future__ import annotations

import json

import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue
from nameko import config
from nameko.exceptions import RemoteError

from cxctl.publish import FeedbackPublisher
from services.common.messaging import HEADER_REASON
from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, feedback, gateway  # noqa: F401 - the fixture


def check_request_bodies_above_the_limit_are_refused_with_413(gateway):  # noqa: F811
    with config.patch({"HTTP_MAX_BODY_BYTES": 2048}):
        small = feedback("small-1")
        assert gateway.api("integration", "POST", "/api/v1/feedback", json=small).status_code == 202
        big = feedback("big-1", text="很" * 1000)  # 3,000 bytes of text in UTF-8
        r = gateway.api("integration", "POST", "/api/v1/feedback", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["message"] == "request body larger than 2048 bytes (HTTP_MAX_BODY_BYTES)"
        # a console form too (before the login is even looked at)
        s = requests.Session()
        token = csrf_of(s.get(gateway.url + "/login").text)
        r = s.post(
            gateway.url + "/login", data={"username": "x" * 3000, "password": "y", "csrf_token": token}
        )
        assert r.status_code == 413 and "提交的内容过大" in r.text
        # a chunked body (no Content-Length) is not read at all: 411 says why, nothing is published
        r = gateway.api(
            "integration",
            "POST",
            "/api/v1/feedback",
            data=iter([json.dumps(big).encode()]),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 411 and "Content-Length" in r.json()["error"]["message"]
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=big).status_code == 202


def check_each_client_is_rate_limited_with_retry_after(gateway):  # noqa: F811
    # a token every 10 s: no refill while a loaded machine sends the burst (the refill
    # arithmetic is tests/unit/test_privacy.py's)
    with config.patch({"GATEWAY_RATE_PER_MINUTE": 6, "GATEWAY_RATE_BURST": 5}):
        answers = [gateway.api("owner", "GET", "/api/v1/me").status_code for _ in range(6)]
        assert answers == [200] * 5 + [429]
        r = gateway.api("owner", "GET", "/api/v1/me")
        wait = int(r.headers["Retry-After"])
        assert r.status_code == 429 and 1 <= wait <= 10
        assert r.json()["error"]["message"] == f"too many requests; retry in {wait} s"
        agent = [gateway.api("agent", "GET", "/api/v1/me").status_code for _ in range(5)]
        assert agent == [200] * 5  # another client, a bucket of its own
        page = gateway.login("agent").get(gateway.url + "/cases")  # their console: the same bucket
        assert page.status_code == 429 and "请求过于频繁" in page.text and page.headers["Retry-After"]
        # without valid credentials the client is the IP address: 401s, then 429
        forged = {"Authorization": "Bearer cxt_forged"}
        answers = [gateway.api(None, "GET", "/api/v1/me", headers=forged).status_code for _ in range(6)]
        assert answers[-1] == 429 and set(answers[:-1]) <= {401, 429}


def refusal(call) -> str:
    with pytest.raises(RemoteError) as refused:
        call()
    assert refused.value.exc_type == "BadRequest"
    return str(refused.value.value)


def check_rpc_payloads_lists_strings_and_nesting_are_bounded(gateway):  # noqa: F811
    rpc = gateway.rpc
    with config.patch({"RPC_MAX_BYTES": 4096}):
        message = refusal(lambda: rpc.notify.preview("alert_raised", "email", "en", {"x": "a" * 5000}))
        assert message.startswith("payload: ") and "more than RPC_MAX_BYTES (4096)" in message
    with config.patch({"RPC_MAX_ITEMS": 10}):
        assert refusal(lambda: rpc.alerts.apply_rules([{}] * 11)) == "document: more than 10 entries"
        message = refusal(lambda: rpc.notify.apply_recipients({"people": [{"id": "p"}] * 11}))
        assert message == "document.people: more than 10 entries"
    with config.patch({"RPC_MAX_STRING": 100}):
        assert (
            refusal(lambda: rpc.notify.save_template("x.txt", "a" * 101))
            == "source: longer than 100 characters"
        )
    with config.patch({"RPC_MAX_DEPTH": 5}):
        deep: dict = {}
        for _ in range(6):
            deep = {"a": deep}
        message = refusal(lambda: rpc.alerts.create_rule(deep))
        assert message == "document.a.a.a.a.a: nested deeper than 5 levels"
    # under the defaults the same calls reach the services' own validation
    assert "more than" not in refusal(lambda: rpc.alerts.apply_rules([{}] * 11))


def dead_letters(amqp_uri: str, queue_name: str, count: int) -> list:
    with Connection(amqp_uri) as conn:
        queue = Queue(queue_name, no_declare=True)(conn.default_channel)
        out = []
        for _ in range(count):
            out.append(
                wait_until(
                    lambda: queue.get(no_ack=True), timeout=60, message=f"a dead letter on {queue_name}"
                )
            )
        return out


def check_oversize_amqp_messages_are_dead_lettered_with_their_size(gateway):  # noqa: F811
    uri = config["AMQP_URI"]
    big = json.dumps(feedback("amqp-big", customer="C501", text="很" * 2000)).encode()  # valid, ~6 KB
    with config.patch({"FEEDBACK_MAX_BYTES": 4096, "EVENT_MAX_BYTES": 2048}):
        with FeedbackPublisher(uri) as publisher:
            publisher.publish(big)
            publisher.publish(json.dumps(feedback("amqp-small", customer="C502")))
        for service in ("alerts", "profiles"):
            [message] = dead_letters(uri, f"cx.feedback.{service}.dlq", 1)
            assert message.headers[HEADER_REASON] == (
                f"body too large: {len(big)} bytes > FEEDBACK_MAX_BYTES (4096)"
            )
        # a contract event above EVENT_MAX_BYTES (here to the cases service)
        with Connection(uri) as conn:
            producer = Producer(
                conn.default_channel, exchange=Exchange("alerts.events", type="topic", durable=True)
            )
            producer.publish(
                json.dumps({"schema_version": 1, "padding": "x" * 3000}).encode(),
                routing_key="alert_raised",
                content_type="application/json",
                content_encoding="utf-8",
            )
        [message] = dead_letters(uri, "evt-alerts-alert_raised--cases.handle_alert_raised.dlq", 1)
        assert message.headers[HEADER_REASON].startswith("body too large: ")
        assert message.headers[HEADER_REASON].endswith(" bytes > EVENT_MAX_BYTES (2048)")
    wait_until(
        lambda: gateway.rpc.alerts.list_alerts(customer_id="C502"),
        timeout=60,
        message="the small event's alert",
    )
    assert gateway.rpc.alerts.list_alerts(customer_id="C501") == []
    assert gateway.rpc.alerts.stats()["dead_letters"] == {"cx.feedback.alerts": 1}


# Two stacks rather than four: starting one costs more than all its checks.
def test_http_bodies_and_request_rates_are_bounded(gateway):  # noqa: F811
    check_request_bodies_above_the_limit_are_refused_with_413(gateway)
    check_each_client_is_rate_limited_with_retry_after(gateway)


def test_rpc_arguments_and_amqp_messages_are_bounded(gateway):  # noqa: F811
    check_rpc_payloads_lists_strings_and_nesting_are_bounded(gateway)
    check_oversize_amqp_messages_are_dead_lettered_with_their_size(gateway)
