"""Feedback published with the AMQP clients integrations use, into the running consumers.

Each publisher does what its library's documentation shows (docs/api.md "Publishing
feedback over AMQP"): kombu with a bytes body (kombu labels it ``binary``) or a dict
(its json serializer), pika, and a bare py-amqp message. The alerts and profiles
services consume ``cx.feedback`` on a real broker and store; a probe queue bound to
the same exchange records the properties each client really sent. Accepted
messages raise an alert and make a profile; refused ones land, once each, in
``<queue>.dlq`` with ``x-cx-reason`` and leave no trace.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from urllib.parse import unquote, urlparse

import amqp
import pika
import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from nameko.standalone.rpc import ClusterRpcClient

from contracts.feedback import FEEDBACK_EXCHANGE
from services.common.messaging import HEADER_ATTEMPTS, HEADER_QUEUE, HEADER_REASON
from services.common.mongo import database_name
from tests.conftest import detractor_rules, feedback_consumers, wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "feedback.jsonl"
SERVICES = ("alerts", "profiles")
ROUTING_KEY = "feedback.app"
PROBE = "test.publishers.probe"
RULES = detractor_rules("publisher-detractor")


def event(name: str) -> dict:
    """The first sample event (as the demo's integrations publish it), a detractor of its own."""
    sample = json.loads(SAMPLES.read_text(encoding="utf-8").splitlines()[0])
    sample["event_id"] = f"pub-{name}"
    sample["customer"] = {**sample["customer"], "id": f"PUB-{name}"}
    sample["scores"] = {"nps": 2}
    return sample


def utf8(name: str) -> bytes:
    return json.dumps(event(name), ensure_ascii=False).encode("utf-8")


# -- the publishers, each written the way its library's documentation shows ---------------------------


def kombu_publish(amqp_uri: str, body, **options) -> None:
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel(), exchange=Exchange(FEEDBACK_EXCHANGE, type="topic", durable=True))
        producer.publish(body, routing_key=ROUTING_KEY, delivery_mode=2, **options)


def pika_publish(amqp_uri: str, body: bytes, **properties) -> None:
    uri = urlparse(amqp_uri)
    parameters = pika.ConnectionParameters(
        host=uri.hostname,
        port=uri.port or 5672,
        virtual_host=unquote(uri.path[1:]) or "/",
        credentials=pika.PlainCredentials(unquote(uri.username), unquote(uri.password)),
    )
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            FEEDBACK_EXCHANGE, ROUTING_KEY, body, pika.BasicProperties(delivery_mode=2, **properties)
        )
    finally:
        connection.close()


def raw_amqp_publish(amqp_uri: str, body: bytes, **properties) -> None:
    uri = urlparse(amqp_uri)
    connection = amqp.Connection(
        host=f"{uri.hostname}:{uri.port or 5672}",
        userid=unquote(uri.username),
        password=unquote(uri.password),
        virtual_host=unquote(uri.path[1:]) or "/",
        confirm_publish=True,
    )
    connection.connect()
    try:
        connection.channel().basic_publish(
            amqp.Message(body, **properties), exchange=FEEDBACK_EXCHANGE, routing_key=ROUTING_KEY
        )
    finally:
        connection.close()


# name → (publish it, the content_encoding the client puts on the wire)
ACCEPTED = {
    "kombu-bytes": (
        lambda uri: kombu_publish(uri, utf8("kombu-bytes"), content_type="application/json"),
        "binary",
    ),
    "kombu-dict": (lambda uri: kombu_publish(uri, event("kombu-dict"), serializer="json"), "utf-8"),
    "pika": (lambda uri: pika_publish(uri, utf8("pika"), content_type="application/json"), None),
    "raw-amqp": (
        lambda uri: raw_amqp_publish(uri, utf8("raw-amqp"), content_type="application/json"),
        None,
    ),
}


def gbk(name: str) -> bytes:
    """The event in GBK, the legacy Chinese encoding: not UTF-8 once it has Chinese text."""
    return json.dumps(event(name), ensure_ascii=False).encode("gbk")


# name → (body, publish it, text the dead-letter reason must contain)
REFUSED = {
    # no properties at all: SPEC's public contract requires content_type=application/json
    "raw-amqp-bare": (utf8("raw-amqp-bare"), raw_amqp_publish, {}, "content_type"),
    "kombu-gzip-encoding": (
        gzip.compress(utf8("kombu-gzip-encoding")),
        kombu_publish,
        {"content_type": "application/json", "content_encoding": "gzip"},
        "content encoding 'gzip' is not accepted",
    ),
    "kombu-compression": (
        utf8("kombu-compression"),
        kombu_publish,
        {"content_type": "application/json", "compression": "gzip"},
        "compressed bodies are not accepted",
    ),
    "pika-latin-1": (
        json.dumps(event("pika-latin-1"), ensure_ascii=False).encode("utf-8"),
        pika_publish,
        {"content_type": "application/json", "content_encoding": "latin-1"},
        "content encoding 'latin-1' is not accepted",
    ),
    "pika-utf-16": (
        json.dumps(event("pika-utf-16"), ensure_ascii=False).encode("utf-16"),
        pika_publish,
        {"content_type": "application/json", "content_encoding": "utf-16"},
        "content encoding 'utf-16' is not accepted",
    ),
    # labelled binary / unlabelled, but not UTF-8: refused by the decoder, never looped on
    "kombu-bytes-gbk": (
        gbk("kombu-bytes-gbk"),
        kombu_publish,
        {"content_type": "application/json"},
        "not UTF-8",
    ),
    "pika-gbk": (gbk("pika-gbk"), pika_publish, {"content_type": "application/json"}, "not UTF-8"),
}


@pytest.fixture(params=["direct", "partitioned"])
def stack(request, cx_config, runner_factory, mongo_client):
    """The two consumers on their own queues, or behind the ingest router, which forwards a
    message without content_encoding as "binary" (and without content_type as
    application/octet-stream)."""
    with feedback_consumers(runner_factory, 2 if request.param == "partitioned" else 0) as runners:
        with Connection(cx_config["AMQP_URI"]) as conn:
            exchange = Exchange(FEEDBACK_EXCHANGE, type="topic", durable=True)
            Queue(PROBE, exchange=exchange, routing_key="feedback.#")(conn.default_channel).declare()
        with ClusterRpcClient(timeout=30) as rpc:
            rpc.alerts.apply_rules(RULES)
            yield runners, rpc, {service: mongo_client[database_name(service)] for service in SERVICES}


def raw_body(message) -> bytes:
    """The body as published (py-amqp decodes a body whose content_encoding is a text codec)."""
    body = message.body
    return body if isinstance(body, bytes) else body.encode(message.content_encoding)


def drain(amqp_uri: str, queue_name: str) -> list:
    """Every message in a queue (consumed without acks, bodies not deserialized)."""
    got = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        with Consumer(channel, [Queue(queue_name, no_declare=True)], on_message=got.append, no_ack=True):
            while True:
                try:
                    conn.drain_events(timeout=1.0)
                except TimeoutError:
                    break
    return got


def handled(dbs, customer_id: str) -> bool:
    alert = dbs["alerts"].alerts.find_one({"customer.id": customer_id})
    profile = dbs["profiles"].profiles.find_one({"_id": customer_id})
    return alert is not None and profile is not None and profile.get("feedback_count") == 1


def test_kombu_pika_and_raw_amqp_publishers_are_each_evaluated(stack, cx_config):
    runners, rpc, dbs = stack
    amqp_uri = cx_config["AMQP_URI"]
    for publish, _encoding in ACCEPTED.values():
        publish(amqp_uri)

    for name in ACCEPTED:
        wait_until(
            lambda n=name: handled(dbs, f"PUB-{n}"), timeout=30, message=f"{name}'s feedback evaluated"
        )
    [alert] = rpc.alerts.list_alerts(customer_id="PUB-kombu-bytes")
    assert alert["rule"]["id"] == "publisher-detractor"

    # the clients really sent what the publishers say (kombu's bytes body: encoding "binary")
    sent = {json.loads(m.body)["event_id"][len("pub-") :]: m for m in drain(amqp_uri, PROBE)}
    assert sorted(sent) == sorted(ACCEPTED)
    for name, (_publish, encoding) in ACCEPTED.items():
        assert sent[name].content_type == "application/json", name
        assert sent[name].content_encoding == encoding, name
    for service in SERVICES:
        assert drain(amqp_uri, f"cx.feedback.{service}.dlq") == [], service
    assert rpc.alerts.stats()["dead_letters"] == {}


def test_refused_publishes_are_dead_lettered_once_with_a_reason(stack, cx_config):
    runners, rpc, dbs = stack
    amqp_uri = cx_config["AMQP_URI"]
    for body, publish, properties, _expect in REFUSED.values():
        publish(amqp_uri, body, **properties)
    # the body is dead-lettered as it was on the wire: kombu compressed that one (zlib)
    wire = {"kombu-compression": zlib.compress}
    by_body = {wire.get(name, bytes)(body): name for name, (body, *_rest) in REFUSED.items()}

    def all_dead_lettered():
        return all(dbs[service].dead_letters.count_documents({}) >= len(REFUSED) for service in SERVICES)

    wait_until(all_dead_lettered, timeout=30, message="every refused message dead-lettered")
    for service in SERVICES:
        letters = drain(amqp_uri, f"cx.feedback.{service}.dlq")
        names = sorted(by_body[raw_body(m)] for m in letters)  # kept byte for byte
        assert names == sorted(REFUSED), service  # each exactly once: nothing looped
        for message in letters:
            name = by_body[raw_body(message)]
            reason = message.headers[HEADER_REASON]
            assert REFUSED[name][3] in reason, (service, name, reason)
            assert message.headers[HEADER_QUEUE] == f"cx.feedback.{service}"
            assert message.headers[HEADER_ATTEMPTS] == 1
        # nothing was evaluated or stored for any of them
        assert dbs[service].feedback_inbox.count_documents({}) == 0
    assert dbs["alerts"].alerts.count_documents({}) == 0
    assert dbs["profiles"].profiles.count_documents({}) == 0
    assert rpc.alerts.stats()["dead_letters"] == {"cx.feedback.alerts": len(REFUSED)}
    assert all(not container._died.ready() for runner in runners for container in runner.containers)
