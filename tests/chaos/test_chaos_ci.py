"""Chaos, CI size: 600 events while services, the store and the broker die.

The stack runs as real processes, two replicas of every service, on a private
broker node and store (tests/chaos/stack.py). Mid-stream: ``kill -9`` of an
alerts replica and of a cases replica (each restarted 2 s later), ``kill -9``
of the MongoDB server (restarted 3 s later) and a ``kill -9`` of the broker
node (restarted on its data). Afterwards the stores
are reconciled with the oracle, the pure rule engine run offline on the same
events: every event evaluated once, every expected alert, case, escalation,
email, Feishu message and signed webhook exactly once, malformed messages
dead-lettered with a reason, nothing else.
"""

from __future__ import annotations

import json
import time

import pytest
from kombu import Connection

from cxctl.publish import FeedbackPublisher
from services.common.messaging import HEADER_REASON, dead_letter_queue
from services.common.mongo import make_client
from tests.chaos import stack
from tests.cluster.rabbitcluster import RabbitCluster
from tests.conftest import SmtpSink
from tests.e2e.test_store_outage import SERVER, PrivateMongo

pytestmark = pytest.mark.chaos

EVENTS = 600


def publish_through_faults(
    uri: str, bodies: list[bytes], faults: dict[int, callable], rate: float | None = None
) -> list[str]:
    """Publish each body (confirmed), firing ``faults[i]`` before body i; retry while the broker
    is away. With ``rate`` (bodies/s) the stream is paced, so the faults spread over its processing."""
    log = []
    publisher = None
    start = time.monotonic()
    for i, body in enumerate(bodies):
        if rate:
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
        if i in faults:
            log.append(f"{time.strftime('%H:%M:%S')} before #{i}: {faults[i].__name__}")
            faults[i]()
        while True:
            try:
                if publisher is None:
                    publisher = FeedbackPublisher(uri).__enter__()
                publisher.publish(body)
                break
            except Exception:  # broker gone: reconnect and publish the same body again
                publisher = None
                time.sleep(1)
    if publisher is not None:
        publisher.__exit__(None, None, None)
    return log


def counts(client, prefix: str, maildir, receivers: stack.Receivers) -> dict:
    alerts = client[f"{prefix}alerts"]
    cases = client[f"{prefix}cases"]
    return {
        "evaluated": alerts.feedback_inbox.count_documents({"state": "done"}),
        "alerts": alerts.alerts.count_documents({}),
        "cases": cases.cases.count_documents({}),
        "profiles_events": client[f"{prefix}profiles"].timeline.count_documents({"kind": "feedback"}),
        # each alert and case reached its customer's profile once (alerts_taken_in)
        "profiles_alerts": client[f"{prefix}profiles"].timeline.count_documents({"kind": "alert"}),
        "profiles_cases": client[f"{prefix}profiles"].timeline.count_documents({"kind": "case_opened"}),
        "escalations_fired": cases.escalation_steps.count_documents({"state": "fired"}),
        "emails": maildir.count(),  # not messages(): see SmtpSink.count
        **receivers.counts(),
    }


def raw(body: bytes | str) -> bytes:
    """A dead letter's body as published (kombu hands text content types back decoded)."""
    return body.encode("utf-8") if isinstance(body, str) else body


def duplicates(sink, receivers: stack.Receivers) -> dict:
    """Copies by idempotency key: email Message-ID, the webhook's X-CX-Delivery-Id."""
    message_ids = [m["Message-ID"] for m in sink.messages()]
    return {
        "emails": len(message_ids) - len(set(message_ids)),
        "webhook": receivers.webhook.duplicates,
    }


@pytest.fixture
def private_stack(tmp_path):
    if not SERVER.exists():
        pytest.fail(f"{SERVER} is missing: run scripts/test.sh, which installs it")
    with RabbitCluster(nodes=1, prefix=f"chaos{int(time.time())}") as broker:
        mongo = PrivateMongo(tmp_path / "mongo")
        sink = SmtpSink(tmp_path / "mail")
        receivers = stack.Receivers()
        env = stack.service_env(broker.amqp_uri, mongo.uri, sink.port)
        (tmp_path / "logs").mkdir()
        # two replicas of every service: exactly once must hold across competing consumers,
        # the escalation sweeps and the notify sweeps of both (issue 11)
        services = stack.ServiceProcesses(env, tmp_path / "logs", replicas=dict.fromkeys(stack.SERVICES, 2))
        try:
            services.start_all()
            stack.wait_services(broker.amqp_uri)
            stack.configure(broker.amqp_uri, tmp_path, receivers)
            yield broker, mongo, sink, receivers, services, env
        finally:
            services.stop_all()
            sink.stop()
            receivers.close()
            if mongo.process.poll() is None:
                mongo.kill()


def test_nothing_lost_or_duplicated_through_kills_of_a_service_the_store_and_the_broker(private_stack):
    broker, mongo, sink, receivers, services, env = private_stack
    batch = stack.events(EVENTS, "ci")
    expected_alerts = stack.oracle(batch)
    bodies = [json.dumps(e, ensure_ascii=False).encode("utf-8") for e in batch]
    bodies[100:100] = stack.MALFORMED  # bad messages mid-stream

    inject = stack.faults(services, mongo, broker)
    faults = {
        len(bodies) // 5: inject["kill"]("alerts"),
        2 * len(bodies) // 5: inject["kill"]("cases-1"),  # one of two replicas
        3 * len(bodies) // 5: inject["kill_store"],
        4 * len(bodies) // 5: inject["kill_broker"],
    }
    fault_log = publish_through_faults(broker.amqp_uri, bodies, faults)

    prefix = env["MONGO_DB_PREFIX"]
    client = make_client(mongo.uri)
    expected = stack.expected_counts(EVENTS, expected_alerts)
    assert expected["escalations_fired"] > 0  # the mix has P1 cases that escalate
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and counts(client, prefix, sink, receivers) != expected:
        time.sleep(2)
    time.sleep(5)  # a late redelivery must not add anything
    final = counts(client, prefix, sink, receivers)
    assert final == expected, (final, expected, fault_log, services.restarts)
    assert duplicates(sink, receivers) == {"emails": 0, "webhook": 0}

    # whole subdocuments: nx-27017 returns dotted projections flat (docs/store.md)
    alerts = list(client[f"{prefix}alerts"].alerts.find({}, {"rule": 1, "event": 1}))
    assert {(a["rule"]["id"], a["event"]["event_id"]) for a in alerts} == expected_alerts
    case_alerts = [c["alert_id"] for c in client[f"{prefix}cases"].cases.find({}, {"alert_id": 1})]
    assert len(set(case_alerts)) == len(case_alerts)  # one case per alert, none twice

    with Connection(broker.amqp_uri) as conn:
        for service in ("alerts", "profiles"):
            dlq = dead_letter_queue(f"cx.feedback.{service}")(conn.default_channel)
            letters = []
            while (message := dlq.get(no_ack=True)) is not None:
                letters.append((raw(message.body), message.headers.get(HEADER_REASON)))
            # Exactly the malformed messages, each with a reason, and no valid event. A
            # dead letter is published (confirmed) before the ack, so a consumer killed in
            # between leaves a second copy of the same message: at least once, by design.
            assert {body for body, _ in letters} == set(stack.MALFORMED), (service, letters)
            assert all(reason for _, reason in letters), letters
