"""Escalation across a crash, on the real broker and store: the cases service is
killed mid-escalation, two replicas come back, and every due step fires exactly once."""

import time
from datetime import UTC, datetime

import eventlet
import yaml
from nameko import config
from nameko.events import event_handler
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient

from services.cases.service import CasesService
from services.common.messaging import serialize
from services.common.mongo import database_name
from tests.conftest import wait_until
from tests.unit.test_assignment import SAMPLE as AGENTS

REQUESTS: list[dict] = []

POLICY = {
    "department_head": "zhao.min",
    "levels": {
        "P2": {
            "stop_on": "acknowledge",
            "steps": [  # 1.2 s, 3.6 s, 4.8 s, 6 s after the case opens
                {"after_minutes": 0.02, "notify": "owner"},
                {"after_minutes": 0.06, "notify": "team_lead"},
                {"after_minutes": 0.08, "notify": "department_head"},
                {"after_minutes": 0.10, "notify": "on_call", "group": "cx-care"},
            ],
        }
    },
}


class NotificationListener:
    name = "notification_listener"

    @event_handler("cases", "notification_requested")
    def seen(self, payload):
        REQUESTS.append(payload)


def alert():
    now = datetime.now(UTC)
    return serialize(
        "alert_raised",
        {
            "alert_id": "AL-restart-1",
            "raised_at": now,
            "level": "P2",
            "rule": {"id": "detractor", "version": 1, "name": "NPS 贬损者"},
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "customer": {"id": "C1", "name": "张三"},
            "event": {"source": "app", "event_id": "e1", "channel": "app", "occurred_at": now},
            "trace": [],
        },
    )


def test_a_killed_service_loses_no_step_and_two_replicas_fire_each_once(
    cx_config, container_factory, mongo_client
):
    REQUESTS.clear()
    with config.patch({"ESCALATION_SWEEP_SECONDS": 0.3, "ESCALATION_LEASE_SECONDS": 2.0}):
        container_factory(NotificationListener).start()
        first = container_factory(CasesService)
        first.start()
        with ClusterRpcClient(timeout=15) as rpc:
            rpc.cases.apply_agents(yaml.safe_load(AGENTS.read_text(encoding="utf-8")))
            rpc.cases.apply_escalation_policy(POLICY)
        opened = time.monotonic()
        event_dispatcher()("alerts", "alert_raised", alert())
        steps = mongo_client[database_name("cases")].escalation_steps
        wait_until(lambda: steps.count_documents({"state": "fired"}) == 1, message="the first step")
        first.kill()  # mid-escalation: the next two steps fall due while nothing runs
        eventlet.sleep(max(0, 5.5 - (time.monotonic() - opened)))
        assert steps.count_documents({"state": "fired"}) == 1
        replicas = [container_factory(CasesService), container_factory(CasesService)]
        for replica in replicas:
            replica.start()
        wait_until(lambda: steps.count_documents({"state": "fired"}) == 4, timeout=30, message="every step")
        eventlet.sleep(1.0)  # a second replica's late duplicate would show up by now

    fired = [r for r in REQUESTS if r["kind"] == "escalation_step"]
    assert sorted(r["notification_id"].rsplit(":", 1)[-1] for r in fired) == ["s0", "s1", "s2", "s3"]
    assert [r["recipient"]["id"] for r in sorted(fired, key=lambda r: r["notification_id"])] == [
        "li.na", "wang.lei", "zhao.min", "cx-care",
    ]  # fmt: skip
    for doc in steps.find():
        assert 0 <= doc["fired_epoch"] - doc["due_epoch"] < 60  # within a minute, across the crash
