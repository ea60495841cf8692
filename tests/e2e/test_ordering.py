"""Per-customer ordering with partitions, two replicas and the ingest router.

Interleaved events for many customers are published as fast as the broker
takes them to two replicas each of alerts and profiles (FEEDBACK_PARTITIONS=4,
each replica owning half). Two order-sensitive rules make the witness: which
event opens a customer's deduplicated alert, and a score drop against the
customer's own earlier scores. The oracle is the real rule engine run
serially, in publish order, on in-memory state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
from nameko import config
from nameko.standalone.rpc import ClusterRpcClient

from contracts.feedback import parse_feedback
from cxctl.publish import FeedbackPublisher
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules
from services.alerts.service import AlertsService
from services.common.mongo import database_name
from services.ingest.service import IngestService
from services.profiles.service import ProfilesService
from tests.conftest import wait_until

CUSTOMERS = 24
PER_CUSTOMER = 8
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = {
    "rules": [
        {
            "id": "first-detractor",
            "name": "NPS 贬损者",
            "level": "P3",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "when": {"field": "scores.nps", "op": "lte", "value": 6},
        },
        {
            "id": "nps-drop",
            "name": "NPS 骤降",
            "level": "P2",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "dedup": {"cooldown": "90s"},
            "when": {"window": {"score_drop": {"score": "nps", "by": 4, "within": "30d", "min_events": 2}}},
        },
    ]
}


def stream() -> list[dict]:
    """Bursts: a customer's events back to back, customers interleaved in pairs.

    Each customer's scores zig-zag, so the result depends on their order; a
    burst puts several of one customer's events in flight at the same moment,
    which is when competing consumers reorder them.
    """
    events = []
    for pair in range(0, CUSTOMERS, 2):
        for step in range(PER_CUSTOMER):
            for c in (pair, pair + 1):
                nps = [9, 10, 3, 9, 2, 8, 10, 1][(step + c) % PER_CUSTOMER]
                events.append(
                    {
                        "schema_version": 1,
                        "event_id": f"ord-{c}-{step}",
                        "source": "ordering-test",
                        "occurred_at": (START + timedelta(minutes=len(events))).isoformat(),
                        "customer": {"id": f"OC{c:03d}", "name": f"客户{c}"},
                        "channel": "app",
                        "scores": {"nps": nps},
                    }
                )
    return events


def oracle(events: list[dict]) -> set[tuple]:
    """Alerts the serial, in-order evaluation raises: (rule, customer, event)."""
    rules = [{**r, "version": 1, "enabled": True, "deleted": None} for r in load_rules(RULES)]
    engine = Engine(MemoryState())
    raised = set()
    for event in events:
        parsed = parse_feedback(json.dumps(event))
        for outcome in engine.process(rules, parsed, parsed["occurred_at"]):
            if outcome.outcome == "raised":
                alert = outcome.alert
                raised.add((outcome.rule_id, alert["customer"]["id"], alert["event"]["event_id"]))
    return raised


@pytest.fixture
def replicas(cx_config, runner_factory):
    with config.patch({"FEEDBACK_PARTITIONS": 4, "FEEDBACK_STANDBY_DELAY": 1.0, "REPLICA_COUNT": 2}):
        for index in (0, 1):
            with config.patch({"REPLICA_INDEX": index}):
                runner_factory(AlertsService, ProfilesService).start()
        runner_factory(IngestService).start()
        with ClusterRpcClient(timeout=15) as rpc:
            rpc.alerts.apply_rules(RULES)
            yield rpc


def processing_inversions(inbox) -> list[str]:
    """Events whose handling started before an earlier event of the same customer's.

    The inbox records when each event was first claimed; in a serial lane an
    event is claimed only after the previous one of its customer finished.
    """
    started = {d["event_id"]: d["first_seen_at"] for d in inbox.find({}, {"event_id": 1, "first_seen_at": 1})}
    inversions = []
    for c in range(CUSTOMERS):
        times = [started[f"ord-{c}-{step}"] for step in range(PER_CUSTOMER)]
        inversions += [f"ord-{c}-{s}" for s in range(1, PER_CUSTOMER) if times[s] < times[s - 1]]
    return inversions


def live_alerts(mongo_client) -> set[tuple]:
    alerts = mongo_client[database_name("alerts")].alerts
    return {(a["rule"]["id"], a["customer"]["id"], a["event"]["event_id"]) for a in alerts.find()}


def test_each_customer_is_handled_in_order_across_replicas(replicas, cx_config, mongo_client):
    events = stream()
    expected = oracle(events)
    assert len({c for _r, c, _e in expected}) == CUSTOMERS  # the witness covers everyone
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        for event in events:
            publisher.publish(json.dumps(event, ensure_ascii=False))

    inbox = mongo_client[database_name("alerts")].feedback_inbox
    wait_until(lambda: inbox.count_documents({"state": "done"}) == len(events), timeout=120, interval=0.5)
    assert processing_inversions(inbox) == []
    assert live_alerts(mongo_client) == expected

    # profiles consumed the same partitioned stream: one profile per customer
    profiles = mongo_client[database_name("profiles")].profiles
    wait_until(lambda: profiles.count_documents({}) == CUSTOMERS, timeout=60)
    stats = replicas.ingest.stats()
    assert stats["forwarded"] >= len(events) and stats["without_customer"] == 0


def test_both_replicas_take_part(replicas, cx_config, mongo_client, rabbit_manager):
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        for event in stream()[: CUSTOMERS * 2]:
            publisher.publish(json.dumps(event, ensure_ascii=False))
    inbox = mongo_client[database_name("alerts")].feedback_inbox
    wait_until(lambda: inbox.count_documents({"state": "done"}) == CUSTOMERS * 2, timeout=60)

    vhost = urlparse(cx_config["AMQP_URI"]).path.lstrip("/")

    def active_connections() -> dict | None:
        """Partition queue → the connection of its single active consumer.

        None until the management API shows both replicas subscribed to every
        partition (it refreshes its figures every 5 s).
        """
        found = {}
        for index in range(4):
            queue = rabbit_manager.get_queue(vhost, f"cx.feedback.alerts.p{index:02d}")
            consumers = queue.get("consumer_details") or []
            if len(consumers) != 2:
                return None
            for consumer in consumers:
                if consumer.get("activity_status") == "single_active":
                    details = consumer.get("channel_details")
                    if not isinstance(details, dict):  # [] until its channel stats are in
                        return None
                    found[queue["name"]] = details["connection_name"]
        return found if len(found) == 4 else None

    active = wait_until(active_connections, timeout=30, interval=1)
    # each replica is active on the partitions it owns: two distinct connections
    assert len(set(active.values())) == 2, active
