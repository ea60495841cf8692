"""The whole pipeline on a real 3-node RabbitMQ cluster with quorum queues,
in the production topology: the ingest router and partitioned feedback queues.

A node is killed with SIGKILL in the middle of a feedback stream: publishers
and every service fail over to the surviving nodes (kombu's ';'-separated
URI), quorum queues elect new leaders, and afterwards every event has been
evaluated exactly once, every expected alert, case and email exists once,
and nothing was dead-lettered. Slow (a cluster boots in ~15 s): marked
``cluster``; it runs in ``.ci/run`` with the rest of the suite.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from nameko import config
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.mongo import database_name
from services.ingest.service import IngestService
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService
from tests.cluster.rabbitcluster import RabbitCluster
from tests.conftest import MONGO_URI, wait_until
from tests.e2e.test_pipeline import RECIPIENTS, RULES

pytestmark = pytest.mark.cluster

EVENTS = 240


def event(i: int) -> dict:
    # one customer per event, every third a detractor: the oracle is plain arithmetic
    return {
        "schema_version": 1,
        "event_id": f"cl-{i}",
        "source": "cluster-test",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": f"CL{i:04d}", "name": "客户", "tier": "standard"},
        "channel": "app",
        "touchpoint": "delivery",
        "scores": {"nps": 3 if i % 3 == 0 else 9},
        "text": "配送太慢了" if i % 3 == 0 else "很好",
    }


EXPECTED_ALERTS = sum(1 for i in range(EVENTS) if i % 3 == 0)


@pytest.fixture(scope="module")
def cluster():
    with RabbitCluster(nodes=3) as cluster:
        yield cluster


@pytest.fixture
def cluster_stack(cluster, db_prefix, smtp_sink):
    patch = {
        "AMQP_URI": cluster.amqp_uri,
        "AMQP_QUEUE_TYPE": "quorum",
        # the production topology (deploy/): partitions behind the ingest router
        "FEEDBACK_PARTITIONS": 4,
        "MONGO_URI": MONGO_URI,
        "MONGO_DB_PREFIX": db_prefix,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_sink.port,
        "STORE_RETRY_DELAY": 0.2,
    }
    with config.patch(patch):
        runner = ServiceRunner()
        for cls in (IngestService, AlertsService, CasesService, ProfilesService, NotifyService):
            runner.add_service(cls)
        runner.start()
        try:
            with ClusterRpcClient(timeout=30) as rpc:
                rpc.alerts.apply_rules(RULES)
                rpc.notify.apply_recipients(RECIPIENTS)
            yield cluster
        finally:
            runner.kill()


def counts(mongo_client) -> dict:
    alerts = mongo_client[database_name("alerts")]
    return {
        "evaluated": alerts.feedback_inbox.count_documents({"state": "done"}),
        "alerts": alerts.alerts.count_documents({}),
        "distinct_alert_events": len(alerts.alerts.distinct("event.event_id")),
        "cases": mongo_client[database_name("cases")].cases.count_documents({}),
        "profiles": mongo_client[database_name("profiles")].profiles.count_documents({}),
        "emails": mongo_client[database_name("notify")].deliveries.count_documents({"status": "delivered"}),
    }


def test_every_durable_queue_is_a_replicated_quorum_queue(cluster_stack):
    queues = cluster_stack.queues()
    durable = {name: q for name, q in queues.items() if name.startswith(("cx.feedback.", "evt-"))}
    assert {"cx.feedback.ingest", "cx.feedback.alerts.p00", "cx.feedback.profiles.p03"} <= set(durable)
    assert "cx.feedback.alerts.dlq" in durable
    assert any(name.startswith("evt-alerts-alert_raised") for name in durable)
    assert {q["type"] for q in durable.values()} == {"quorum"}


def test_the_broker_refuses_a_message_over_deploys_max_message_size(cluster):
    # deploy/'s rabbitmq.conf limit, which RabbitCluster's nodes run with: the broker
    # closes the channel (406) instead of handing the body to a consumer
    from amqp.exceptions import PreconditionFailed
    from kombu import Connection

    from tests.cluster.rabbitcluster import deployed_max_message_size

    limit = deployed_max_message_size()
    with Connection(cluster.amqp_uri) as conn:
        channel = conn.channel()
        channel.queue_declare("cx.size-probe", auto_delete=True)
        channel.basic_publish(channel.prepare_message(b"x" * (limit - 1024)), routing_key="cx.size-probe")
        with pytest.raises(PreconditionFailed) as refused:
            channel.basic_publish(channel.prepare_message(b"x" * (limit + 1)), routing_key="cx.size-probe")
            channel.queue_declare("cx.size-probe", passive=True)  # the refusal arrives asynchronously
        assert "message size" in str(refused.value), refused.value


def test_a_node_killed_mid_stream_loses_and_duplicates_nothing(cluster_stack, mongo_client, smtp_sink):
    cluster = cluster_stack
    published = []

    def publish_all():
        with FeedbackPublisher(cluster.amqp_uri) as publisher:
            for i in range(EVENTS):
                publisher.publish(json.dumps(event(i), ensure_ascii=False))
                published.append(i)
                time.sleep(0.01)

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    wait_until(lambda: len(published) >= EVENTS // 3, timeout=60, message="a third of the stream")
    # node 0 is first in every client's URI list and leads the queues declared
    # through it: killing it forces both client failover and leader elections
    cluster.kill(0)
    publisher.join(timeout=180)
    assert not publisher.is_alive() and len(published) == EVENTS

    expected = {
        "evaluated": EVENTS,
        "alerts": EXPECTED_ALERTS,
        "distinct_alert_events": EXPECTED_ALERTS,
        "cases": EXPECTED_ALERTS,
        "profiles": EVENTS,
        "emails": EXPECTED_ALERTS,
    }
    wait_until(lambda: counts(mongo_client) == expected, timeout=240, interval=1, message="oracle counts")
    # settle: a late redelivery must not add anything
    time.sleep(3)
    assert counts(mongo_client) == expected
    assert len(smtp_sink.messages()) == EXPECTED_ALERTS
    dead = {name: q["messages"] for name, q in cluster.queues().items() if name.endswith(".dlq")}
    assert sum(dead.values()) == 0, dead
    cluster.start(0)
