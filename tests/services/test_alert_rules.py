"""Alerts service: rule management, versions, explain, dedup/throttle through the worker."""

from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from services.alerts.service import AlertsService
from services.alerts.store import AlertStore
from services.common.errors import BadRequest, NotFound
from services.common.messaging import serialize

RULE = {
    "id": "complaints",
    "name": "一周三次投诉 / 3 complaints in 7 days",
    "level": "P1",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {
        "window": {
            "count": {
                "at_least": 3,
                "within": "7d",
                "where": {"field": "text", "op": "contains_any", "value": ["投诉", "退款"]},
            }
        }
    },
    "dedup": {"cooldown": "3d"},
}


def event(n, day, text="我要投诉", customer="C1", nps=None):
    body = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "source": "app",
        "occurred_at": f"2026-11-{day:02d}T10:00:00+08:00",
        "customer": {"id": customer, "name": "张三"},
        "channel": "app",
        "text": text,
    }
    if nps is not None:
        body["scores"] = {"nps": nps}
    return body


@pytest.fixture
def alerts(mongo_client, db_prefix):
    store = AlertStore(mongo_client[f"{db_prefix}alerts"])
    store.ensure_indexes()
    return worker_factory(AlertsService, store=store)


def raised(worker):
    return [c.args[1] for c in worker.dispatch.call_args_list if c.args[0] == "alert_raised"]


def test_create_update_disable_delete_and_rollback_make_versions_with_diffs(alerts):
    assert alerts.create_rule(RULE, actor="li.na") == {"id": "complaints", "version": 1, "changed": True}
    with pytest.raises(BadRequest, match="already exists"):
        alerts.create_rule(RULE)
    assert alerts.update_rule("complaints", RULE)["changed"] is False
    assert alerts.update_rule("complaints", {**RULE, "level": "P2"}, actor="wang.lei")["version"] == 2
    assert alerts.set_rule_enabled("complaints", False, actor="zhao.min")["version"] == 3
    assert alerts.rollback_rule("complaints", 1, actor="li.na")["version"] == 4
    shown = alerts.get_rule("complaints")
    assert shown["rule"]["level"] == "P1" and shown["rule"]["enabled"] is True
    versions = shown["versions"]
    assert [(v["version"], v["action"], v["created_by"]) for v in versions] == [
        (1, "created", "li.na"),
        (2, "updated", "wang.lei"),
        (3, "disabled", "zhao.min"),
        (4, "rolled back to v1", "li.na"),
    ]
    assert "-level: P1\n+level: P2" in versions[1]["diff"]
    assert "-enabled: true\n+enabled: false" in versions[2]["diff"]
    assert alerts.delete_rule("complaints")["version"] == 5
    assert alerts.list_rules() == [] and len(alerts.list_rules(include_deleted=True)) == 1
    assert alerts.store.enabled_rules() == []
    with pytest.raises(NotFound):
        alerts.set_rule_enabled("complaints", True)
    assert alerts.rollback_rule("complaints", 4)["version"] == 6  # undelete by rolling back
    assert [r["_id"] for r in alerts.store.enabled_rules()] == ["complaints"]


def test_invalid_rules_are_rejected_naming_the_field(alerts):
    with pytest.raises(BadRequest) as info:
        alerts.create_rule({**RULE, "dedup": {"by": ["colour"], "cooldown": "0h"}})
    joined = "\n".join(info.value.errors)
    assert "dedup.by.0: unknown dedup field 'colour'" in joined and "dedup.cooldown" in joined
    with pytest.raises(BadRequest) as info:
        alerts.create_rule({**RULE, "when": {"all": [{"field": "text", "op": "contains_any", "value": []}]}})
    assert info.value.errors == ["when.all.0.value: must be a non-empty list of keywords"]
    alerts.create_rule(RULE)
    with pytest.raises(BadRequest, match="is rule other, not complaints"):
        alerts.update_rule("complaints", {**RULE, "id": "other"})
    with pytest.raises(NotFound):
        alerts.rollback_rule("complaints", 9)


def test_three_complaints_raise_one_alert_repeats_attach_and_alerts_keep_their_version(alerts):
    alerts.create_rule(RULE)
    for n, day in ((1, 1), (2, 3)):
        alerts.handle_feedback(parse_feedback(event(n, day)))
    assert raised(alerts) == []
    alerts.handle_feedback(parse_feedback(event(3, 5)))
    alerts.update_rule("complaints", {**RULE, "level": "P2"})
    alerts.handle_feedback(parse_feedback(event(4, 6)))  # inside the cool-down: attaches
    alerts.handle_feedback(parse_feedback(event(4, 6)))  # redelivered
    [message] = raised(alerts)
    serialize("alert_raised", message)
    assert message["dedup_key"] == "complaints|customer.id=C1" and message["rule"]["version"] == 1
    alert = alerts.get_alert(message["alert_id"])
    assert alert["count"] == 2 and alert["last_seen"]["event_id"] == "e4"
    assert alert["dedup"]["key"] == "complaints|customer.id=C1"
    explained = alerts.explain_alert(message["alert_id"])
    assert explained["rule"]["level"] == "P1"  # the version that fired
    assert explained["tree"]["window"] == "count" and explained["tree"]["actual"]["count"] == 3


def test_explain_event_says_why_not_and_writes_nothing(alerts):
    alerts.create_rule(RULE)
    alerts.handle_feedback(parse_feedback(event(1, 1)))
    before = {
        name: alerts.store.db[name].count_documents({}) for name in ("window_hits", "customers", "dedup")
    }
    why = alerts.explain_event("complaints", event(2, 2))
    assert why["matched"] is False and why["tree"]["actual"]["count"] == 2
    why = alerts.explain_event("complaints", event(3, 2, text="不是投诉，只是建议"))
    assert why["matched"] is False and why["tree"]["actual"]["count"] == 1
    assert {n: alerts.store.db[n].count_documents({}) for n in before} == before
    with pytest.raises(BadRequest, match="event: schema"):
        alerts.explain_event("complaints", {"event_id": "x"})


def test_throttled_matches_are_counted_and_visible(alerts):
    alerts.create_rule(
        {
            **RULE,
            "id": "low-nps",
            "when": {"field": "is_detractor", "op": "eq", "value": True},
            "throttle": {"max_alerts": 1, "per": "1d"},
        }
    )
    for n in range(3):
        alerts.handle_feedback(parse_feedback(event(n, 1, customer=f"C{n}", nps=2)))
    assert len(raised(alerts)) == 1
    shown = alerts.get_rule("low-nps")
    assert shown["suppressed"] == 2 and len(shown["recent_suppressed"]) == 2
    assert alerts.stats()["suppressed_by_rule"] == {"low-nps": 2}


def test_no_response_deadlines_fire_from_the_timer_unless_a_case_responded(alerts):
    alerts.create_rule(
        {
            **RULE,
            "id": "no-response",
            "when": {
                "window": {
                    "no_response": {
                        "after": {"field": "is_detractor", "op": "eq", "value": True},
                        "within": "48h",
                    }
                }
            },
        }
    )
    alerts.handle_feedback(parse_feedback(event(1, 1, customer="C1", nps=2)))
    alerts.handle_feedback(parse_feedback(event(2, 1, customer="C2", nps=3)))
    assert raised(alerts) == []
    change = {
        "case_id": "CASE-1",
        "customer_id": "C2",
        "level": "P2",
        "from_status": "assigned",
        "to_status": "in_progress",
        "changed_at": datetime(2026, 11, 1, 12, tzinfo=UTC),
        "changed_by": "li.na",
    }
    alerts.handle_case_status_changed(change)
    alerts.handle_case_status_changed(change)  # redelivered
    alerts.fire_due_deadlines()  # the clock is past both deadlines
    alerts.fire_due_deadlines()
    [message] = raised(alerts)
    serialize("alert_raised", message)
    assert message["customer"]["id"] == "C1" and message["rule"]["id"] == "no-response"
    assert message["trace"][0]["window"] == "no_response"
