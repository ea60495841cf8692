"""Fuzzed feedback through the real broker into the running alerts and profiles services.

FUZZ_CASES cases (default 1,000; docs/security.md "Fuzzing" has the 10,000-case
figures; a fifth as many through the partitioned topology's router) are
published with kombu to ``cx.feedback``, the exchange integrations use, each
tagged with its index in a header. Afterwards, for both consumers:

* every malformed case is in ``<queue>.dlq`` exactly once, with a reason that
  names what is wrong (the field path, the content type, …);
* no valid case is there, and each valid one was handled exactly once (one
  inbox entry, one stored history event, one alert, one timeline row);
* nothing was written for a malformed case (no inbox entry, alert, profile or
  timeline row for its customer) and both containers are still running.
"""

import time
from collections import Counter, defaultdict

import pytest
from kombu import Connection, Consumer, Queue
from nameko.standalone.rpc import ClusterRpcClient

from contracts.feedback import FEEDBACK_EXCHANGE
from cxctl.publish import FeedbackPublisher, routing_key_for
from services.common.messaging import HEADER_QUEUE, HEADER_REASON
from services.common.mongo import database_name
from tests.conftest import detractor_rules, feedback_consumers, wait_until
from tests.fuzz.budget import FUZZ_CASES
from tests.fuzz.feedback_cases import CASE_HEADER, generate

pytestmark = pytest.mark.e2e

SERVICES = ("alerts", "profiles")
RULES = detractor_rules("fuzz-detractor")


@pytest.fixture(params=["direct", "partitioned"])
def stack(request, cx_config, runner_factory):
    """The two consumers, on their own queues or behind the ingest router's partitions
    (a fifth of the cases there: the router is one more hop for the same checks)."""
    with feedback_consumers(runner_factory, 4 if request.param == "partitioned" else 0) as runners:
        with ClusterRpcClient(timeout=30) as rpc:
            rpc.alerts.apply_rules(RULES)
            yield runners, rpc, FUZZ_CASES if request.param == "direct" else max(100, FUZZ_CASES // 5)


def publish(amqp_uri: str, cases) -> None:
    """Each case as it is: body bytes, content type and encoding, headers (kombu, confirmed)."""
    with FeedbackPublisher(amqp_uri) as publisher:
        channel = publisher.channel
        for index, case in enumerate(cases):
            message = channel.prepare_message(
                case.body,
                0,
                case.content_type,
                case.content_encoding,
                {**case.headers, CASE_HEADER: index},
                {"delivery_mode": 2},
            )
            channel.basic_publish(message, exchange=FEEDBACK_EXCHANGE, routing_key=routing_key_for(case.body))


def dead_letters(conn: Connection, service: str) -> list:
    """Every message in the service's dead-letter queue (consumed, no ack needed)."""
    got = []
    channel = conn.channel()
    queue = Queue(f"cx.feedback.{service}.dlq", no_declare=True)
    with Consumer(channel, [queue], on_message=got.append, no_ack=True, prefetch_count=500):
        while True:
            try:
                conn.drain_events(timeout=0.5)  # everything is queued already: a pause means the end
            except TimeoutError:
                break
    channel.close()
    return got


def test_malformed_feedback_is_dead_lettered_with_a_reason_and_valid_feedback_handled_once(
    stack, cx_config, mongo_client
):
    runners, rpc, count = stack
    cases = generate(count)
    valid = {i for i, case in enumerate(cases) if case.valid}
    malformed = set(range(len(cases))) - valid
    assert valid and malformed
    dbs = {service: mongo_client[database_name(service)] for service in SERVICES}

    started = time.monotonic()
    publish(cx_config["AMQP_URI"], cases)
    with Connection(cx_config["AMQP_URI"]) as conn:

        def settled():
            for service in SERVICES:
                declared = conn.default_channel.queue_declare(f"cx.feedback.{service}.dlq", passive=True)
                done = dbs[service].feedback_inbox.count_documents({"state": "done"})
                if declared.message_count < len(malformed) or done < len(valid):
                    return False
            return True

        try:
            # generous: on the embedded store the profiles service's timeline counts slow
            # down as the run's timeline grows (docs/store.md "Performance")
            wait_until(settled, timeout=120 + count * 0.4, interval=0.5, message="every case handled")
        finally:
            elapsed = time.monotonic() - started
            letters = {service: dead_letters(conn, service) for service in SERVICES}
    print(
        f"\nfuzz: {len(cases)} cases ({len(malformed)} malformed, {len(valid)} valid) in {elapsed:.1f}s; "
        + ", ".join(f"{s} dead-lettered {len(m)}" for s, m in letters.items())
        + "; kinds "
        + ", ".join(f"{k} {n}" for k, n in sorted(Counter(c.kind for c in cases).items()))
    )

    # no consumer died on any of it
    assert all(not container._died.ready() for runner in runners for container in runner.containers)

    for service, messages in letters.items():
        by_case = defaultdict(list)
        for message in messages:
            by_case[message.headers.get(CASE_HEADER)].append(message)
        assert set(by_case) == malformed, (
            service,
            sorted(set(by_case) - malformed)[:10],
            sorted(malformed - set(by_case))[:10],
        )
        wrong = []
        for index, copies in by_case.items():
            reason = copies[0].headers.get(HEADER_REASON) or ""
            if len(copies) != 1 or cases[index].expect not in reason or not reason:
                wrong.append((index, cases[index].kind, cases[index].expect, len(copies), reason[:200]))
            assert copies[0].headers[HEADER_QUEUE] == f"cx.feedback.{service}"
        assert not wrong, (service, wrong[:10])
        assert dbs[service].dead_letters.count_documents({}) == len(malformed)

    # valid cases: handled exactly once by each service; malformed ones left no trace
    event_ids = {cases[i].event_id for i in valid}
    customers = {cases[i].customer_id for i in valid}
    for service in SERVICES:
        inbox = list(dbs[service].feedback_inbox.find())
        assert sorted(entry["event_id"] for entry in inbox) == sorted(event_ids), service
        assert {entry["state"] for entry in inbox} == {"done"}
    assert dbs["alerts"].history.count_documents({}) == len(valid)
    alerts = list(dbs["alerts"].alerts.find())
    assert sorted(alert["customer"]["id"] for alert in alerts) == sorted(customers)
    timeline = list(dbs["profiles"].timeline.find({"kind": "feedback"}))
    assert sorted(row["event_id"] for row in timeline) == sorted(event_ids)
    assert {p["_id"] for p in dbs["profiles"].profiles.find()} == customers
    # and the services still answer
    assert rpc.alerts.stats()["dead_letters"] == {"cx.feedback.alerts": len(malformed)}
    assert rpc.profiles.stats()["dead_letters"] == {"cx.feedback.profiles": len(malformed)}
