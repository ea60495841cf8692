"""Alerts service: rule management, versions, explain, dedup/throttle through the worker."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from services.alerts.service import AlertsService
from services.alerts.store import AlertStore
from services.common.errors import BadRequest, NotFound
from services.common.messaging import serialize
from textanalysis import text as textmod

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
    # the shipped lexicon's analyzer in place of the replica's live one (LiveLexicon)
    return worker_factory(AlertsService, store=store, text=SimpleNamespace(analyzer=textmod.current()))


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
    assert alerts.store.rules.enabled_rules() == []
    with pytest.raises(NotFound):
        alerts.set_rule_enabled("complaints", True)
    assert alerts.rollback_rule("complaints", 4)["version"] == 6  # undelete by rolling back
    assert [r["_id"] for r in alerts.store.rules.enabled_rules()] == ["complaints"]


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


TYPED = """\
# three complaints in a week: the November escalation rule (OPS-12)
id: complaints
name: 一周三次投诉 / 3 complaints in 7 days
level: P1  # P1: the customer already complained twice
owner: {kind: team, id: cx-care}
channels: [email]
when:
  window:
    count: {at_least: 3, within: 7d, where: {field: text, op: contains_any, value: [投诉, 退款]}}
dedup: {cooldown: 3d}
"""


def test_the_text_typed_for_a_rule_is_kept_while_it_says_what_the_rule_says(alerts):
    assert alerts.create_rule(RULE, actor="li.na", source=TYPED)["version"] == 1
    assert alerts.get_rule("complaints")["source"] == TYPED
    assert alerts.update_rule("complaints", RULE, source=TYPED)["changed"] is False
    assert alerts.update_rule("complaints", RULE)["changed"] is False  # no text: keeps the typed one
    recommented = TYPED.replace("(OPS-12)", "(OPS-12, OPS-15)")
    assert alerts.update_rule("complaints", RULE, source=recommented)["version"] == 2  # comments changed
    shown = alerts.get_rule("complaints")
    assert shown["source"] == recommented
    assert (
        "-# three complaints in a week: the November escalation rule (OPS-12)\n+"
        in shown["versions"][1]["diff"]
    )
    # changed without text (API, cxctl, the enable toggle): no text says what the rule says now
    assert alerts.set_rule_enabled("complaints", False)["version"] == 3
    assert alerts.get_rule("complaints")["source"] is None
    assert "+enabled: false" in alerts.get_rule("complaints")["versions"][2]["diff"]
    # back to what the text says: the newest text for that definition again
    assert alerts.set_rule_enabled("complaints", True)["version"] == 4
    assert alerts.get_rule("complaints")["source"] == recommented
    assert alerts.update_rule("complaints", {**RULE, "level": "P2"})["version"] == 5
    assert alerts.rollback_rule("complaints", 1)["version"] == 6  # the version's text comes back with it
    assert alerts.get_rule("complaints")["source"] == TYPED


def test_a_source_must_be_the_yaml_of_the_rule_saved(alerts):
    refusals = {
        "[unclosed": "source: not the YAML of this rule",
        "- a list": "source: not the YAML of this rule",
        TYPED.replace("id: complaints", "id: other"): "source: not the YAML of this rule",
        TYPED.replace("level: P1", "level: P2"): "source: says something else than the document",
        TYPED.replace("level: P1", "level: P9"): "source: says something else than the document",
    }
    for source, message in refusals.items():
        with pytest.raises(BadRequest, match=message):
            alerts.create_rule(RULE, source=source)
    with pytest.raises(BadRequest, match="at most 65536 characters"):
        alerts.create_rule(RULE, source="#" * 65537)
    assert alerts.list_rules() == []
    # an update's text may leave the id out, as its document may
    alerts.create_rule(RULE)
    no_id = TYPED.replace("id: complaints\n", "")
    assert alerts.update_rule("complaints", {k: v for k, v in RULE.items() if k != "id"}, source=no_id)[
        "changed"
    ]
    assert alerts.get_rule("complaints")["source"] == no_id


def test_three_complaints_raise_one_alert_repeats_attach_and_alerts_keep_their_version(alerts):
    alerts.create_rule(RULE)
    for n, day in ((1, 1), (2, 3)):
        alerts.handle_feedback([parse_feedback(event(n, day))])
    assert raised(alerts) == []
    alerts.handle_feedback([parse_feedback(event(3, 5))])
    alerts.update_rule("complaints", {**RULE, "level": "P2"})
    alerts.handle_feedback([parse_feedback(event(4, 6))])  # inside the cool-down: attaches
    alerts.handle_feedback([parse_feedback(event(4, 6))])  # redelivered
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
    alerts.handle_feedback([parse_feedback(event(1, 1))])
    before = {name: list(alerts.store.db[name].find()) for name in ("windows", "customers", "dedup")}
    why = alerts.explain_event("complaints", event(2, 2))
    assert why["matched"] is False and why["tree"]["actual"]["count"] == 2
    why = alerts.explain_event("complaints", event(3, 2, text="不是投诉，只是建议"))
    assert why["matched"] is False and why["tree"]["actual"]["count"] == 1
    assert {n: list(alerts.store.db[n].find()) for n in before} == before
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
        alerts.handle_feedback([parse_feedback(event(n, 1, customer=f"C{n}", nps=2))])
    # one customer alert, and the storm alert once: raised by the first refused match,
    # not again by the second one's batch
    customer, storm = raised(alerts)
    assert customer["scope"] == "customer" and customer["customer"]["id"] == "C0"
    assert storm["scope"] == "group" and storm["group"]["key"] == {"rule": "low-nps"}
    assert storm["group"]["condition"] == "storm" and storm["customer"]["id"] == "C1"
    serialize("alert_raised", storm)  # the alert contract takes it
    assert "storm" not in storm and "throttle" not in storm
    assert alerts.explain_alert(storm["alert_id"])["storm"]["matches"] == 3
    assert alerts.storm_counts([storm["alert_id"], customer["alert_id"]]).keys() == {storm["alert_id"]}
    shown = alerts.get_rule("low-nps")
    assert shown["suppressed"] == 2 and len(shown["recent_suppressed"]) == 2
    assert alerts.stats()["suppressed_by_rule"] == {"low-nps": 2}
    assert alerts.stats()["storms_by_rule"] == {"low-nps": 1} and alerts.stats()["alerts"] == 1


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
    alerts.handle_feedback([parse_feedback(event(1, 1, customer="C1", nps=2))])
    alerts.handle_feedback([parse_feedback(event(2, 1, customer="C2", nps=3))])
    assert raised(alerts) == []
    response = {
        "case_id": "CASE-1",
        "customer_id": "C2",
        "status": "in_progress",
        "responded_at": datetime(2026, 11, 1, 12, tzinfo=UTC),
    }
    alerts.handle_customer_responded([response])
    alerts.handle_customer_responded([response])  # redelivered
    alerts.fire_due_deadlines()  # the clock is past both deadlines
    alerts.fire_due_deadlines()
    [message] = raised(alerts)
    serialize("alert_raised", message)
    assert message["customer"]["id"] == "C1" and message["rule"]["id"] == "no-response"
    assert message["trace"][0]["window"] == "no_response"


def collection_counts(store):
    return {name: store.db[name].count_documents({}) for name in store.db.list_collection_names()}


def test_backtest_replays_the_kept_history_on_scratch_state_and_writes_nothing(alerts):
    alerts.create_rule(RULE)
    # Nov 1-3: three complaints (C1) → one alert live; Nov 10-14: three more, one 7 days apart.
    for n, day, customer in [(1, 1, "C1"), (2, 2, "C1"), (3, 3, "C1"), (4, 10, "C2"), (5, 11, "C2")]:
        alerts.handle_feedback([parse_feedback(event(n, day, customer=customer))])
    alerts.handle_feedback([parse_feedback(event(6, 12, text="谢谢", customer="C2"))])
    alerts.handle_feedback([parse_feedback(event(7, 13, customer="C2"))])
    history = alerts.store.db.history.find_one({"event.event_id": "e1"})
    assert history["event"]["customer"] == {"id": "C1", "name": "张三"}  # no phone/email kept
    before = collection_counts(alerts.store)

    report = alerts.backtest("complaints", "2026-10-25T00:00:00+00:00", "2026-11-20T00:00:00+00:00")
    assert report["rule"] == {"id": "complaints", "version": 1}
    assert report["events"] == 7 and report["alerts"] == 2
    assert report["customers"] == {"C1": 1, "C2": 1}
    assert report["suppressed"] == {"dedup": 0, "throttle": 0} and report["matches"] == 2
    [first, second] = report["examples"]
    assert first["customer"] == "C1" and first["tree"]["actual"]["count"] == 3

    # From Nov 2: e1 is replayed only to warm the 7-day window, so e3 still fires.
    report = alerts.backtest(
        "complaints", "2026-11-02T00:00:00+00:00", "2026-11-20T00:00:00+00:00", examples=0
    )
    assert report["events"] == 6 and report["alerts"] == 2 and report["examples"] == []

    # An unsaved draft: two complaints suffice. Repeats inside the 3-day cool-down
    # attach: e3; e6 (no complaint, but the window ending with it holds two) and e7.
    draft = {**RULE, "when": {"window": {"count": {**RULE["when"]["window"]["count"], "at_least": 2}}}}
    report = alerts.backtest(draft, "2026-10-25T00:00:00+00:00", "2026-11-20T00:00:00+00:00")
    assert report["rule"] == {"id": "complaints", "version": None}
    assert report["alerts"] == 2 and report["suppressed"]["dedup"] == 3 and report["matches"] == 5
    assert collection_counts(alerts.store) == before

    with pytest.raises(BadRequest, match="since: must be a duration"):
        alerts.backtest("complaints", "last month")
    with pytest.raises(BadRequest, match="when.window.count.at_least"):
        alerts.backtest(
            {**draft, "when": {"window": {"count": {**draft["when"]["window"]["count"], "at_least": 0}}}},
            "30d",
        )
    with pytest.raises(NotFound):
        alerts.backtest("nope", "30d")
    page = alerts.history_page(
        "2026-11-02T00:00:00+00:00", "2026-11-20T00:00:00+00:00", limit=4, lookback=86400 * 7
    )
    assert page["total"] == 7 and len(page["events"]) == 4
    rest = alerts.history_page("2026-11-02T00:00:00+00:00", "2026-11-20T00:00:00+00:00", after=page["next"])
    assert [e["event_id"] for e in rest["events"]] == ["e5", "e6", "e7"]


def test_stats_follow_the_period_asked_and_refuse_bad_bounds_naming_them(alerts):
    """Alerts raised by the engine on the service's store on three days: ``stats``
    counts those raised in [since, until); a bad bound is a BadRequest naming it."""
    from datetime import timedelta

    from services.alerts.engine import Engine

    alerts.create_rule({**RULE, "id": "low-nps", "level": "P3", "when": LOW_NPS})
    rules = alerts.store.rules.rule_index()
    noon = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for n, days_ago in enumerate((9, 2, 0)):
        raised_at = noon - timedelta(days=days_ago)
        body = event(n, 1, customer=f"C{n}", nps=1)
        if n < 2:
            body["touchpoint"] = "delivery"
        Engine(alerts.store.state).process(rules, parse_feedback(body), raised_at)
    assert alerts.stats()["by_rule"] == {"low-nps": 3}
    week = alerts.stats("2026-11-13T12:00:00+00:00", "2026-11-20T12:00:00+00:00")
    assert week["alerts"] == 1 and week["by_level"] == {"P3": 1} and week["by_rule"] == {"low-nps": 1}
    assert alerts.stats()["by_touchpoint"] == {"delivery": 2, "-": 1}  # the journey board's alert counts
    assert week["period"] == {"since": "2026-11-13T12:00:00+00:00", "until": "2026-11-20T12:00:00+00:00"}
    assert alerts.stats(since="2026-11-18T20:00:00+08:00")["alerts"] == 2  # offsets honoured
    assert alerts.stats(until=datetime(2026, 11, 11, 12, 0, 1, tzinfo=UTC))["alerts"] == 1
    with pytest.raises(BadRequest, match="^since: .*2026-13-01"):
        alerts.stats(since="2026-13-01")
    with pytest.raises(BadRequest, match="^until: "):
        alerts.stats(until="yesterday")
    with pytest.raises(BadRequest, match="^until: must be after since"):
        alerts.stats("2026-11-20T00:00:00+00:00", "2026-11-19T00:00:00+00:00")


LOW_NPS = {"field": "scores.nps", "op": "lte", "value": 6}
