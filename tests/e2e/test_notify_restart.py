"""A notification survives a service restart between attempts and is sent once."""

from datetime import UTC, datetime

import eventlet
from nameko import config
from nameko.testing.services import entrypoint_hook, replace_dependencies

from services.notify.channels.dingtalk.fake import FakeDingTalk
from services.notify.channels.testing import Answer
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from tests.conftest import wait_until


def test_killed_between_attempts_then_restarted_sends_exactly_once(
    cx_config, container_factory, mongo_client
):
    store = NotifyStore(mongo_client[f"{cx_config['MONGO_DB_PREFIX']}notify"])
    with FakeDingTalk() as robot, config.patch({"NOTIFY_BACKOFF_BASE": 0.5}):
        robot.script(Answer(503, "upstream busy", {"Retry-After": "3"}))
        first = container_factory(NotifyService)
        replace_dependencies(first, "dispatch")
        first.start()
        with entrypoint_hook(first, "apply_recipients") as apply:
            apply(
                {
                    "people": [
                        {
                            "id": "li.na",
                            "name": "李娜",
                            "handles": {
                                "dingtalk": {
                                    "webhook": robot.webhook,
                                    "secret": robot.secret,
                                    "mobile": "13800001111",
                                }
                            },
                        }
                    ]
                }
            )
        with entrypoint_hook(first, "handle_notification_requested") as handle:
            handle(
                [
                    {
                        "notification_id": "restart-1",
                        "requested_at": datetime.now(UTC),
                        "kind": "case_assigned",
                        "recipient": {"kind": "person", "id": "li.na"},
                        "channels": ["dingtalk"],
                        "level": "P1",
                        "case_id": "CASE-9",
                        "context": {
                            "case_id": "CASE-9",
                            "case_url": "http://c/cases/CASE-9",
                            "title": "t",
                            "level": "P1",
                        },
                    }
                ]
            )
        delivery_id = "restart-1|dingtalk|person:li.na"
        doc = store.get_delivery(delivery_id)
        assert doc["status"] == "scheduled" and doc["attempts"] == 1  # attempt 1 failed, retry is durable
        first.kill()  # between attempts: nothing in memory, nothing in the broker

        second = container_factory(NotifyService)
        replace_dependencies(second, "dispatch")
        second.start()
        wait_until(lambda: store.get_delivery(delivery_id)["status"] == "delivered", message="the retry")
        eventlet.sleep(2.5)  # more sweeps run; none may send it again
        assert len(robot.accepted) == 1 and len(robot.requests) == 2
        assert [a["status"] for a in store.attempts(delivery_id)] == ["retry", "delivered"]
