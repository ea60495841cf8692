"""One test per input the feedback fuzzing found mishandled (see docs/security.md "Fuzzing")."""

import json
import zlib

import bson
import pytest
from kombu import Connection, Queue
from nameko.standalone.rpc import ClusterRpcClient

from contracts.feedback import InvalidFeedback, parse_feedback
from cxctl.publish import FeedbackPublisher, routing_key_for
from services.alerts.evaluate import event_summary
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common import partitions
from services.common.messaging import (
    HEADER_COMPRESSION,
    HEADER_REASON,
    context_from_headers,
    refusal,
)
from services.common.mongo import database_name
from services.profiles.service import ProfilesService
from tests.conftest import wait_until
from tests.fuzz.test_feedback_broker import RULES


def event(**extra) -> dict:
    return {
        "schema_version": 1,
        "event_id": "ev-1",
        "source": "fuzz",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": "C1"},
        "channel": "web",
        "scores": {"nps": 2},
        **extra,
    }


def refused(body) -> str:
    with pytest.raises(InvalidFeedback) as caught:
        parse_feedback(body)
    return caught.value.reason


@pytest.mark.unit
def test_decoder_limits_are_reasons_not_crashes():
    # each raised out of parse_feedback (ValueError, RecursionError) and killed the consumer
    assert refused(b'{"a": 1' + b"1" * 5000 + b"}").startswith("invalid JSON: Exceeds the limit")
    assert refused(b"[" * 100_000 + b"]" * 100_000).startswith("invalid JSON: nested deeper")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"attributes": {"a\x00b": 1}}, "schema: attributes.a\\x00b: a key must not contain the NUL"),
        ({"text": "\ud800"}, "schema: text: holds an unpaired UTF-16 surrogate"),
        ({"customer": {"id": "C1", "n": 2**64}}, "schema: customer.n: an integer outside the 64-bit range"),
        ({"extra": float("nan")}, "schema: extra: NaN and infinity are not JSON numbers"),
        (
            {"extra": json.loads("[" * 20 + "]" * 20)},
            "schema: extra.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0: nested deeper than 16 levels",
        ),
    ],
)
def test_what_the_store_cannot_encode_is_refused_by_the_contract(extra, reason):
    # each passed validation, then failed in MongoDB: retried, dead-lettered with a
    # generic error, with the inbox claim left behind
    assert refused(json.dumps(event(**extra)).encode()).startswith(reason)


@pytest.mark.unit
def test_kombu_type_markers_stay_plain_json():
    marker = {"__type__": "decimal", "__value__": "1.5"}
    parsed = parse_feedback(json.dumps(event(attributes={"price": marker})).encode())
    assert parsed["attributes"]["price"] == marker
    bson.encode(parsed)


@pytest.mark.unit
def test_context_data_keeps_only_well_formed_nameko_headers():
    headers = {
        "nameko.call_id_stack": 5,  # this killed the container: deque.extend(5)
        "nameko.user_id": ["x"],
        "nameko.language": "zh-CN",
        "call_id_stack": [1],
        "x-cx-attempts": 2,
    }
    assert context_from_headers(headers) == {"language": "zh-CN"}
    assert context_from_headers({"nameko.call_id_stack": ["a.b.c"]}) == {"call_id_stack": ["a.b.c"]}
    assert context_from_headers({"nameko.call_id_stack": [1]}) == {}


@pytest.mark.unit
def test_the_gate_refuses_before_decoding():
    json_utf8 = {"content_type": "application/json", "content_encoding": "utf-8"}
    assert refusal(json_utf8, b"{}", 10) is None
    assert refusal({**json_utf8, "application_headers": {"compression": "zlib"}}, b"x", 10).startswith(
        "compressed bodies are not accepted"
    )
    assert refusal({**json_utf8, "content_type": "application/data"}, b"{}", 10).startswith("content type")
    assert refusal({"content_encoding": "utf-8"}, b"{}", 10).startswith("no content type")
    assert refusal({**json_utf8, "content_encoding": "utf-16"}, b"{}", 10).startswith("content encoding")
    assert "content_type" in refusal({}, b"{}", 10)  # a bare AMQP message: names the property
    assert refusal(json_utf8, b"x" * 11, 10) == "body too large: 11 bytes > 10"


@pytest.mark.unit
def test_the_gate_takes_a_body_labelled_binary_or_unlabelled_and_refuses_other_encodings():
    # kombu labels every bytes body "binary"; pika and bare clients leave it out
    for label in ("binary", "BINARY", None, "", "utf-8", "UTF8"):
        properties = {"content_type": "application/json", "content_encoding": label}
        assert refusal(properties, b"{}", 10) is None, label
    for label in ("gzip", "x-gzip", "deflate", "latin-1", "utf-16", "gbk", "base64"):
        properties = {"content_type": "application/json", "content_encoding": label}
        reason = refusal(properties, b"{}", 10)
        assert reason.startswith(f"content encoding {label!r} is not accepted"), reason


@pytest.mark.unit
def test_partition_keys_that_a_header_cannot_carry_are_dropped():
    # the router retried these forever (frame too large; UTF-8 cannot encode a lone surrogate)
    # and the surrogate also killed the lane consumers
    for customer_id in ("\ud800", "c" * 200_000):
        assert partitions.partition_key(json.dumps(event(customer={"id": customer_id}))) == ""
    assert partitions.partition_key(b"[" * 100_000) == ""
    assert partitions.lane_of("\ud800", 8) in range(8)


@pytest.mark.unit
def test_an_alert_summary_carries_only_the_contract_scores():
    parsed = parse_feedback(json.dumps(event(scores={"nps": 2, "extra": [1]})).encode())
    assert parsed["scores"] == {"nps": 2, "extra": [1]}  # kept on the event
    assert event_summary(parsed)["scores"] == {"nps": 2}  # alert_raised's scores are integers


@pytest.mark.e2e
def test_hostile_messages_through_the_broker(cx_config, runner_factory, mongo_client):
    # cases too: profiles learn of an alert once cases took it in (alerts_taken_in)
    runner = runner_factory(AlertsService, CasesService, ProfilesService)
    runner.start()
    with ClusterRpcClient(timeout=30) as rpc:
        rpc.alerts.apply_rules(RULES)
    bomb = zlib.compress(b"{" + b" " * 64 * 1024 * 1024 + b"}", 9)  # 64 MiB of JSON in ~64 KiB
    sent = {
        "headers": (json.dumps(event(event_id="ev-hdr", customer={"id": "C-hdr"})).encode(), {}),
        "scores": (
            json.dumps(event(event_id="ev-sc", customer={"id": "C-sc"}, scores={"nps": 1, "x": [1]})),
            {},
        ),
        "bomb": (bomb, {"compression": "application/x-gzip"}),
        "big": (json.dumps(event(event_id="ev-big", attributes={"pad": "x" * 300_000})), {}),
    }
    headers = {"headers": {"nameko.call_id_stack": 5}}
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        for name, (body, extra) in sent.items():
            body = body.encode() if isinstance(body, str) else body
            publisher.producer.publish(
                body,
                routing_key=routing_key_for(body),
                content_type="application/json",
                content_encoding="utf-8",
                headers={**headers.get(name, {}), **extra, "x-case": name},
                delivery_mode=2,
            )
    alerts_db = mongo_client[database_name("alerts")]
    wait_until(lambda: alerts_db.feedback_inbox.count_documents({"state": "done"}) == 2, timeout=60)
    with Connection(cx_config["AMQP_URI"]) as conn:
        for service in ("alerts", "profiles"):
            queue = Queue(f"cx.feedback.{service}.dlq", no_declare=True)(conn.default_channel)
            letters = {}
            for _ in range(2):
                message = wait_until(lambda q=queue: q.get(no_ack=True), timeout=30)
                letters[message.headers["x-case"]] = message
            assert letters["bomb"].headers[HEADER_REASON].startswith("compressed bodies are not accepted")
            assert letters["bomb"].headers[HEADER_COMPRESSION] == "application/x-gzip"
            assert "compression" not in letters["bomb"].headers  # no reader of the DLQ inflates it
            assert letters["bomb"].body == bomb
            assert letters["big"].headers[HEADER_REASON].startswith("body too large")
    assert all(not container._died.ready() for container in runner.containers)
    # the unknown score no longer breaks alert_raised: profiles counted the alert
    with ClusterRpcClient(timeout=30) as rpc:

        def counted():
            try:
                return rpc.profiles.get_profile("C-sc").get("alert_counts")
            except Exception:  # NotFound until the feedback is stored
                return None

        assert wait_until(counted, timeout=30, message="the alert on the profile") == {"fuzz-detractor": 1}
