"""Storms decided (services/alerts/storm.py, the engine's ``Settlement``): the first match a
rule's throttle refuses in a period raises that period's storm alert, one per (rule,
period) whoever meets it, shaped like a group alert; every refused match attaches to it;
a rule whose throttle never refuses raises none."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.messages import schema_of
from services.alerts import storm
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.processing import alert_message
from services.alerts.rules import load_rules
from services.common.mongo import jsonable

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def rule(**extra):
    doc = {
        "id": "charges",
        "name": "乱收费 / Unexpected charges",
        "level": "P2",
        "owner": {"kind": "team", "id": "billing"},
        "channels": ["email"],
        "when": {"field": "tags", "op": "contains_any", "value": ["billing-dispute"]},
        **extra,
    }
    return dict(load_rules([doc])[0], version=1)


def events(n, start=T0, prefix="e"):
    return [
        {
            "source": "app",
            "event_id": f"{prefix}{i}",
            "occurred_at": start + timedelta(seconds=i),
            "customer": {"id": f"C{prefix}{i}"},
            "channel": "app",
            "tags": ["billing-dispute"],
        }
        for i in range(n)
    ]


def test_the_first_refused_match_raises_one_storm_alert_per_period():
    state, throttled = MemoryState(), rule(throttle={"max_alerts": 3, "per": "1h"})
    engine = Engine(state)
    outcomes = engine.process_many([throttled], events(10), NOW)
    assert [o.outcome for o in outcomes].count("raised") == 3
    [met] = engine.storms
    assert met.outcome == "storm" and met.fresh
    alert = met.alert
    assert alert["_id"] == storm.storm_id(storm.bucket_of(throttled, T0.timestamp()))
    assert alert["scope"] == "group" and alert["group"]["by"] == ["rule"]
    assert alert["group"]["key"] == {"rule": "charges"} and alert["group"]["condition"] == "storm"
    observed = alert["group"]["observed"]
    assert (observed["alerts"], observed["refused"], observed["matches"]) == (3, 7, 10)
    assert (
        observed["since"] == "2026-11-23T09:00:00+00:00" and observed["until"] == "2026-11-23T10:00:00+00:00"
    )
    assert alert["customer"]["id"] == "Ce3" and alert["storm"]["tipped_by"] == "app\x1fe3"
    assert state.alerts[alert["_id"]]["suppressed"] == 7  # every refused match on it
    # the same period again (another batch, a replica): the same alert, stored already
    engine.process_many([throttled], events(5, prefix="f"), NOW)
    [again] = engine.storms
    assert again.alert_id == alert["_id"] and not again.fresh
    assert state.alerts[alert["_id"]]["suppressed"] == 12
    # the next period storms anew
    engine.process_many([throttled], events(5, start=T0 + timedelta(hours=1), prefix="g"), NOW)
    [later] = engine.storms
    assert later.fresh and later.alert_id != alert["_id"]
    assert later.alert["group"]["observed"]["refused"] == 2


def test_no_storm_while_the_throttle_has_room_or_without_a_throttle():
    for r in (rule(throttle={"max_alerts": 10, "per": "1h"}), rule()):
        engine = Engine(MemoryState())
        outcomes = engine.process_many([r], events(10), NOW)
        assert [o.outcome for o in outcomes].count("raised") == 10
        assert engine.storms == []


def test_a_storm_alert_is_an_alert_raised_message_of_the_contract():
    engine = Engine(MemoryState())
    engine.process_many([rule(throttle={"max_alerts": 1, "per": "30m"})], events(2), NOW)
    message = jsonable(alert_message(engine.storms[0].alert))
    schema = schema_of("alert_raised")
    assert schema.validate({"schema_version": schema.SCHEMA_VERSION, **message}) == {}
    assert message["dedup_key"].startswith("storm|charges:") and "storm" not in message


def test_a_storm_alert_s_figures_add_up_to_every_match():
    doc = {"_id": "ST-1", "rule": {"id": "charges"}, "suppressed": 997, "throttle": {"max_alerts": 3},
           "storm": {"since": T0, "until": T0 + timedelta(hours=1)}}  # fmt: skip
    figures = storm.totals(doc, [1, 1, 1])
    assert (figures["alerts"], figures["alert_matches"], figures["matches"]) == (3, 3, 1000)


def test_a_group_rule_s_throttle_raises_no_storm_its_refused_matches_go_to_the_slot_holder():
    group_rule = rule(
        when={"field": "touchpoint", "op": "eq", "value": "billing"},
        group={
            "by": ["attributes.store"],
            "window": "1h",
            "score_below": {"score": "nps", "below": 0, "min_responses": 1},
        },
        throttle={"max_alerts": 1, "per": "1h"},
    )
    state = MemoryState()
    engine = Engine(state)
    batch = [
        {**e, "touchpoint": "billing", "scores": {"nps": 0}, "attributes": {"store": f"S{i}"}}
        for i, e in enumerate(events(3))
    ]
    outcomes = engine.process_many([group_rule], batch, NOW)
    assert [o.outcome for o in outcomes] == ["raised", "suppressed", "suppressed"]
    assert engine.storms == []
    [holder] = state.alerts.values()
    assert holder["scope"] == "group" and holder["suppressed"] == 2
