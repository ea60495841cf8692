"""Service containers on the real broker with nameko's entrypoint_hook and
replace_dependencies: the entrypoints themselves, not just the methods."""

import json

from nameko.testing.services import entrypoint_hook, replace_dependencies

from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.profiles.service import ProfilesService
from tests.conftest import wait_until

RULE = {
    "id": "detractor",
    "name": "NPS 贬损者",
    "level": "P3",
    "owner": {"kind": "team", "id": "care"},
    "channels": ["email"],
    "when": {"field": "scores.nps", "op": "lte", "value": 6},
}


def event(event_id, nps):
    return json.dumps(
        {
            "schema_version": 1,
            "event_id": event_id,
            "source": "kiosk",
            "occurred_at": "2026-11-20T10:00:00+08:00",
            "customer": {"id": "C7"},
            "channel": "qr",
            "scores": {"nps": nps},
        }
    )


def test_feedback_consumer_feeds_the_service_and_its_dispatch(cx_config, container_factory):
    container = container_factory(AlertsService)
    dispatch = replace_dependencies(container, "dispatch")
    container.start()
    with entrypoint_hook(container, "apply_rules") as apply_rules:
        assert apply_rules({"rules": [RULE]})["created"] == ["detractor@v1"]
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        publisher.publish(event("k1", 2))
        publisher.publish(event("k2", 10))
        publisher.publish(event("k1", 2))
    wait_until(lambda: dispatch.call_count >= 1, message="alert_raised")
    with entrypoint_hook(container, "stats") as stats:
        wait_until(lambda: stats()["events_evaluated"] == 2, message="both events evaluated")
    [(event_type, payload)] = [c.args for c in dispatch.call_args_list]
    assert event_type == "alert_raised" and payload["event"]["event_id"] == "k1"


def test_profile_rpc_through_the_entrypoint(cx_config, container_factory):
    container = container_factory(ProfilesService)
    replace_dependencies(container, "dispatch")
    container.start()
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        publisher.publish(event("p1", 4))
    with entrypoint_hook(container, "get_profile") as get_profile:

        def scored():
            try:
                return get_profile("C7").get("latest")
            except Exception:  # NotFound until the first write lands
                return None

        assert wait_until(scored, message="the profile's scores")["nps"]["value"] == 4
