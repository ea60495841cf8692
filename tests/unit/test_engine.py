"""The engine on in-memory state: text operators, derived facts, windows, dedup, throttle."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.engine import Engine
from services.alerts.evaluate import evaluate
from services.alerts.facts import Facts
from services.alerts.memory import MemoryState
from services.alerts.rules import RuleError, load_rules

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def ev(n=1, customer="C1", at=T0, text=None, **extra):
    event = {
        "source": "app",
        "event_id": f"e{n}",
        "occurred_at": at,
        "customer": {"id": customer},
        "channel": "app",
    }
    if text is not None:
        event["text"] = text
    event.update(extra)
    return event


def rules(*whens, **overrides):
    docs = []
    for i, when in enumerate(whens):
        doc = {
            "id": f"r{i}",
            "name": f"R{i}",
            "level": "P2",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "when": when,
        }
        doc.update(overrides)
        docs.append(doc)
    return [dict(r, version=1) for r in load_rules(docs)]


def matches(when, event):
    return evaluate(when, event)[0]


# text and list operators ------------------------------------------------------


@pytest.mark.parametrize(
    "text, op, keywords, expected",
    [
        ("我要退款，客服不理人", "contains_any", ["退款", "投诉"], True),
        ("不是投诉，只是建议说明书写简单点", "contains_any", ["退款", "投诉"], False),
        ("再不退款我就投诉到12315", "contains_any", ["退款"], False),  # 不退款: negated
        ("再不退款我就投诉到12315", "contains_any", ["12315"], True),
        ("我要退款，还要投诉", "contains_all", ["退款", "投诉"], True),
        ("我要退款，不是投诉", "contains_all", ["退款", "投诉"], False),
        ("不满意", "contains_any", ["满意"], False),
        ("No complaints at all", "contains_any", ["complaints", "refund"], False),
        ("I want a REFUND now", "contains_any", ["refund"], True),
        ("送货太慢了", "contains_any", ["送货 太慢"], True),
    ],
)
def test_text_keyword_operators_are_segmented_and_negation_aware(text, op, keywords, expected):
    when = {"field": "text", "op": op, "value": keywords}
    assert matches(when, ev(text=text)) is expected


def test_keyword_trace_shows_matches_and_negated_words():
    _, [leaf] = evaluate(
        {"field": "text", "op": "contains_any", "value": ["投诉", "退款"]}, ev(text="不是投诉，要退款")
    )
    assert leaf["matched"] == ["退款"] and "投诉" in leaf["negated"] and leaf["result"] is True


@pytest.mark.parametrize(
    "op, keywords, expected",
    [
        ("contains_any", ["物流", "价格"], True),
        ("contains_any", ["价格"], False),
        ("contains_all", ["投诉", "物流"], True),
        ("contains_all", ["投诉", "价格"], False),
        ("contains_any", ["VIP"], True),  # tags compare case-insensitively
    ],
)
def test_list_keyword_operators_on_tags(op, keywords, expected):
    event = ev(tags=["投诉", "物流", "vip"])
    assert matches({"field": "tags", "op": op, "value": keywords}, event) is expected


def test_keyword_operators_on_missing_or_odd_fields_do_not_match():
    assert not matches({"field": "text", "op": "contains_any", "value": ["退款"]}, ev())
    assert not matches({"field": "scores.nps", "op": "contains_any", "value": ["3"]}, ev(scores={"nps": 3}))


# derived facts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "scores, expected",
    [
        ({"nps": 6}, True),
        ({"nps": 7}, False),
        ({"nps": 9, "csat": 1}, False),
        ({"csat": 2}, True),
        ({"csat": 3}, False),
        ({}, False),
    ],
)
def test_is_detractor(scores, expected):
    assert matches({"field": "is_detractor", "op": "eq", "value": True}, ev(scores=scores)) is expected


def test_sentiment_and_category_facts():
    event = ev(text="客服态度差，我要投诉！")
    assert matches({"field": "sentiment", "op": "eq", "value": "negative"}, event)
    assert matches({"field": "category", "op": "eq", "value": "complaint"}, event)
    assert not matches({"field": "category", "op": "eq", "value": "complaint"}, ev(text="不是投诉，只是建议"))
    assert not matches({"field": "sentiment", "op": "exists"}, ev())  # no text, no sentiment


def test_derived_facts_are_computed_lazily_and_once():
    calls = []
    facts = Facts(ev(), first_contact=lambda: calls.append(1) or True)
    assert facts.derived() == {}
    assert matches({"field": "channel", "op": "eq", "value": "app"}, facts)
    assert calls == []  # nobody asked
    for _ in range(3):
        assert matches({"field": "is_first_contact", "op": "eq", "value": True}, facts)
    assert calls == [1] and facts.derived() == {"is_first_contact": True}


def test_is_first_contact_is_the_first_event_seen_and_stable_under_replay():
    engine = Engine(MemoryState())
    [r] = rules({"field": "is_first_contact", "op": "eq", "value": True}, dedup={"cooldown": "1s"})
    assert len(engine.process([r], ev(1), NOW)) == 1
    assert engine.process([r], ev(2, at=T0 + timedelta(hours=1)), NOW) == []
    assert [o.outcome for o in engine.process([r], ev(1), NOW)] == ["raised"]  # replay: same answer
    assert len(engine.process([r], ev(3, customer="C2"), NOW)) == 1


def test_derived_fact_values_are_validated():
    with pytest.raises(RuleError) as info:
        rules({"field": "category", "op": "eq", "value": "angry"})
    assert info.value.errors[0].startswith("rules.0.when.value: category is one of")


# windows ----------------------------------------------------------------------------------

COMPLAINTS_3_IN_7D = {
    "window": {
        "count": {
            "at_least": 3,
            "within": "7d",
            "where": {"field": "category", "op": "eq", "value": "complaint"},
        }
    }
}


def complaint(n, days, customer="C1"):
    return ev(n, customer=customer, at=T0 + timedelta(days=days), text="送货太慢，我要投诉！")


def test_count_window_fires_on_the_third_complaint_within_seven_days():
    engine = Engine(MemoryState())
    [r] = rules(COMPLAINTS_3_IN_7D)
    assert engine.process([r], complaint(1, 0), NOW) == []
    assert engine.process([r], ev(9, at=T0 + timedelta(days=1), text="服务很好"), NOW) == []  # not counted
    assert engine.process([r], complaint(2, 2), NOW) == []
    [outcome] = engine.process([r], complaint(3, 6.9), NOW)
    assert outcome.outcome == "raised"
    [leaf] = outcome.trace
    assert leaf["window"] == "count" and leaf["actual"] == {"count": 3, "at_least": 3, "within": "7d"}


def test_count_window_near_miss_and_other_customers():
    engine = Engine(MemoryState())
    [r] = rules(COMPLAINTS_3_IN_7D)
    for n, day in ((1, 0), (2, 4), (3, 7.5)):  # the first has left the window by the third
        assert engine.process([r], complaint(n, day), NOW) == []
    for n in (4, 5):
        assert engine.process([r], complaint(n, 1, customer=f"X{n}"), NOW) == []


def test_count_window_counts_by_event_time_and_ignores_replays():
    engine = Engine(MemoryState())
    [r] = rules(COMPLAINTS_3_IN_7D)
    engine.process([r], complaint(1, 5), NOW)
    for _ in range(3):
        assert engine.process([r], complaint(1, 5), NOW) == []  # the same event thrice
    engine.process([r], complaint(2, 1), NOW)  # arrives late, happened earlier
    assert [o.outcome for o in engine.process([r], complaint(3, 3), NOW)] == ["raised"]


def test_windows_count_even_when_a_group_short_circuits():
    engine = Engine(MemoryState())
    [r] = rules({"all": [{"field": "channel", "op": "eq", "value": "phone"}, COMPLAINTS_3_IN_7D]})
    engine.process([r], complaint(1, 0), NOW)
    engine.process([r], complaint(2, 1), NOW)
    [o] = engine.process([r], dict(complaint(3, 2), channel="phone"), NOW)
    assert o.outcome == "raised"


class LaterHitsState(MemoryState):
    """In-memory state where, between an event's hit and any later read, another
    worker's hits on the same window land (the interleaving of concurrent workers)."""

    def __init__(self):
        super().__init__()
        self.later: list[tuple] = []

    def hit_times(self, window, customer_id, since, until):
        for args in self.later:
            super().record_hit(window, customer_id, *args)
        self.later = []
        return super().hit_times(window, customer_id, since, until)


def test_a_counted_window_is_judged_as_the_events_own_hit_left_it():
    """The window an event counted in is the one its own write returned: a hit another
    worker records just after it never completes the window for this event too."""
    state = LaterHitsState()
    engine = Engine(state)
    [r] = rules(COMPLAINTS_3_IN_7D)
    engine.process([r], complaint(1, 0), NOW)
    third = ("app\x1fe3", (T0 + timedelta(days=2)).timestamp(), 7 * 86400)
    state.later = [third]  # lands right after the second complaint's hit
    assert engine.process([r], complaint(2, 1), NOW) == []
    assert [o.outcome for o in engine.process([r], complaint(3, 2), NOW)] == ["raised"]
    # MemoryState returns the window as of the write, untouched by later ones
    [window] = {w for w, _ in state.hits}
    seen = state.record_hit(window, "C1", "app\x1fe9", T0.timestamp(), 60)
    state.record_hit(window, "C1", "app\x1fe10", T0.timestamp(), 60)
    assert sorted(seen) == ["app\x1fe1", "app\x1fe2", "app\x1fe3", "app\x1fe9"]


DROP = {"window": {"score_drop": {"score": "nps", "by": 4, "within": "30d", "min_events": 2}}}


def scored(n, days, nps, customer="C1"):
    return ev(n, customer=customer, at=T0 + timedelta(days=days), scores={"nps": nps})


def test_score_drop_against_the_customers_own_rolling_average():
    engine = Engine(MemoryState())
    [r] = rules(DROP)
    assert engine.process([r], scored(1, 0, 9), NOW) == []
    assert engine.process([r], scored(2, 0, 2), NOW) == []  # only one earlier score: min_events 2
    assert engine.process([r], scored(3, 1, 10), NOW) == []
    [o] = engine.process([r], scored(4, 2, 3), NOW)  # average of 9, 2, 10 is 7; drop 4
    assert o.trace[0]["actual"]["average"] == 7 and o.trace[0]["actual"]["drop"] == 4
    assert engine.process([r], scored(5, 40, 1, customer="C1"), NOW) == []  # history too old
    assert engine.process([r], scored(6, 2, 0, customer="C9"), NOW) == []


@pytest.mark.parametrize(
    "window, path",
    [
        (
            {"count": {"at_least": 0, "within": "7d", "where": {"field": "a", "op": "eq", "value": 1}}},
            "rules.0.when.window.count.at_least: must be a whole number",
        ),
        (
            {"count": {"at_least": 3, "within": "7 days", "where": {"field": "a", "op": "eq", "value": 1}}},
            "rules.0.when.window.count.within: must be a duration",
        ),
        (
            {"count": {"at_least": 3, "within": "0d", "where": {"field": "a", "op": "eq", "value": 1}}},
            "rules.0.when.window.count.within: must be a duration",
        ),
        ({"count": {"at_least": 3, "within": "7d"}}, "rules.0.when.window.count.where: is required"),
        (
            {"count": {"at_least": 3, "within": "7d", "where": {"field": "a", "op": "??"}}},
            "rules.0.when.window.count.where.op: unknown operator",
        ),
        (
            {"count": {"at_least": 3, "within": "7d", "where": COMPLAINTS_3_IN_7D}},
            "rules.0.when.window.count.where.window: a window cannot be nested",
        ),
        ({"score_drop": {"score": "mood", "by": 3, "within": "30d"}}, "rules.0.when.window.score_drop.score"),
        (
            {"score_drop": {"score": "nps", "by": -1, "within": "30d"}},
            "rules.0.when.window.score_drop.by: must be a positive number",
        ),
        (
            {"score_drop": {"score": "nps", "by": 2, "within": "30d", "since": 1}},
            "rules.0.when.window.score_drop: unknown keys",
        ),
        ({"median": {}}, "rules.0.when.window: must be one of"),
    ],
)
def test_window_errors_name_the_path(window, path):
    with pytest.raises(RuleError) as info:
        rules({"all": [{"window": window}]} if False else {"window": window})
    assert any(e.startswith(path) for e in info.value.errors), info.value.errors


# dedup and throttle -----------------------------------------------------------------------------

LOW_NPS = {"field": "scores.nps", "op": "lte", "value": 6}


def test_repeats_inside_the_cooldown_attach_to_the_open_alert():
    state = MemoryState()
    engine = Engine(state)
    [r] = rules(LOW_NPS, dedup={"cooldown": "24h"})
    outcomes = [engine.process([r], scored(n, n / 10, 3), NOW)[0] for n in range(4)]
    assert [o.outcome for o in outcomes] == ["raised", "attached", "attached", "attached"]
    [alert] = state.alerts.values()
    assert alert["count"] == 4 and alert["last_seen"]["event_id"] == "e3"
    assert alert["dedup"]["key"] == "r0|customer.id=C1"
    [o] = engine.process([r], scored(9, 1.5, 3), NOW)  # after the cool-down: a new alert
    assert o.outcome == "raised" and len(state.alerts) == 2


def test_dedup_by_touchpoint_and_custom_fields():
    engine = Engine(MemoryState())
    [r] = rules(LOW_NPS, dedup={"by": ["touchpoint", "attributes.store"], "cooldown": "1d"})
    a = engine.process([r], dict(scored(1, 0, 3), touchpoint="delivery", attributes={"store": "S1"}), NOW)
    b = engine.process([r], dict(scored(2, 0, 3), touchpoint="billing", attributes={"store": "S1"}), NOW)
    c = engine.process([r], dict(scored(3, 0, 3), touchpoint="delivery", attributes={"store": "S1"}), NOW)
    assert [x[0].outcome for x in (a, b, c)] == ["raised", "raised", "attached"]
    assert a[0].dedup_key == "r0|customer.id=C1|touchpoint=delivery|attributes.store=S1"


def test_throttle_caps_new_alerts_per_period_and_counts_the_rest():
    state = MemoryState()
    engine = Engine(state)
    [r] = rules(LOW_NPS, throttle={"max_alerts": 2, "per": "1h"})
    outs = [engine.process([r], scored(n, 0, 2, customer=f"C{n}"), NOW)[0].outcome for n in range(5)]
    assert outs == ["raised", "raised", "suppressed", "suppressed", "suppressed"]
    assert len(state.suppressed["r0"]) == 3
    later = engine.process([r], ev(7, customer="C7", at=T0 + timedelta(hours=2), scores={"nps": 1}), NOW)
    assert later[0].outcome == "raised"  # the next period has room again


@pytest.mark.parametrize(
    "dedup, throttle, path",
    [
        ({"by": ["colour"]}, None, "rules.0.dedup.by.0: unknown dedup field"),
        ({"by": ["attributes."]}, None, "rules.0.dedup.by.0: unknown dedup field"),
        ({"by": ["customer.id"]}, None, "rules.0.dedup.by.0: customer.id is always part"),
        ({"cooldown": "0h"}, None, "rules.0.dedup.cooldown: must be a duration"),
        ({"cooldown": "-5m"}, None, "rules.0.dedup.cooldown: must be a duration"),
        ({"by": ["touchpoint", "touchpoint"]}, None, "rules.0.dedup.by: listed twice"),
        ({"window": "1h"}, None, "rules.0.dedup.window: Unknown field"),
        (None, {"max_alerts": 0, "per": "1h"}, "rules.0.throttle.max_alerts"),
        (None, {"max_alerts": 5, "per": "soon"}, "rules.0.throttle.per: must be a duration"),
        (None, {"max_alerts": 5}, "rules.0.throttle.per: Missing data"),
    ],
)
def test_dedup_and_throttle_settings_that_cannot_work_are_rejected(dedup, throttle, path):
    extra = {}
    if dedup is not None:
        extra["dedup"] = dedup
    if throttle is not None:
        extra["throttle"] = throttle
    with pytest.raises(RuleError) as info:
        rules(LOW_NPS, **extra)
    assert any(e.startswith(path) for e in info.value.errors), info.value.errors


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=3600 * 23), min_size=1, max_size=12),
    nps=st.lists(st.integers(min_value=0, max_value=6), min_size=12, max_size=12),
    replays=st.lists(st.integers(min_value=0, max_value=11), max_size=6),
)
def test_property_n_matching_events_in_a_cooldown_make_exactly_one_alert(offsets, nps, replays):
    """Any order, any replays, scores varying: one alert whose count is the distinct events."""
    state = MemoryState()
    engine = Engine(state)
    [r] = rules(LOW_NPS, dedup={"cooldown": "24h"})
    start = min(offsets)
    events = [
        scored(i, 0, nps[i]) | {"occurred_at": T0 + timedelta(seconds=o - start)}
        for i, o in enumerate(offsets)
    ]
    order = events + [events[i] for i in replays if i < len(events)]
    outcomes = [o for e in order for o in engine.process([r], e, NOW)]
    assert sum(o.outcome == "raised" and o.alert_id != outcomes[0].alert_id for o in outcomes) == 0
    assert len(state.alerts) == 1
    [alert] = state.alerts.values()
    assert alert["count"] == len(events)


def test_an_event_the_window_does_not_count_sees_only_the_window_ending_with_it():
    engine = Engine(MemoryState())
    [r] = rules(COMPLAINTS_3_IN_7D)
    for n, day in ((1, 0), (2, 2)):
        engine.process([r], complaint(n, day), NOW)
    engine.process([r], complaint(3, 6), NOW)  # raises
    praise = ev(9, at=T0 + timedelta(days=5), text="服务很好")
    _, trace = engine.evaluate_rule(r, engine.facts(praise))
    assert trace[0]["actual"]["count"] == 2  # the complaint on day 6 is after it


NO_RESPONSE = {
    "window": {
        "no_response": {"after": {"field": "is_detractor", "op": "eq", "value": True}, "within": "48h"}
    }
}


def test_no_response_fires_when_the_deadline_passes_unanswered():
    state = MemoryState()
    engine = Engine(state)
    [r] = rules(NO_RESPONSE)
    assert engine.process([r], scored(1, 0, 2), NOW) == []  # never on the event itself
    engine.process([r], scored(1, 0, 2), NOW)  # replay: still one deadline
    engine.process([r], scored(2, 0, 9, customer="C2"), NOW)  # a promoter: nothing to wait for
    assert engine.fire_due([r], T0 + timedelta(hours=47)) == []
    [o] = engine.fire_due([r], T0 + timedelta(hours=49))
    assert o.outcome == "raised" and o.trace[0]["actual"]["responded"] is False
    assert engine.fire_due([r], T0 + timedelta(hours=99)) == []  # fired once


def test_a_response_before_the_deadline_stops_the_wait():
    engine = Engine(MemoryState())
    [r] = rules(NO_RESPONSE)
    engine.process([r], scored(1, 0, 2), NOW)
    engine.process([r], scored(2, 3, 1), NOW)  # a later survey, after the response
    assert engine.respond("C1", T0 + timedelta(hours=10)) == 1
    assert engine.fire_due([r], T0 + timedelta(days=2, hours=1)) == []
    [o] = engine.fire_due([r], T0 + timedelta(days=5, hours=1))
    assert o.alert_id and o.outcome == "raised"


def test_no_response_must_be_the_whole_condition():
    with pytest.raises(RuleError) as info:
        rules({"all": [LOW_NPS, NO_RESPONSE]})
    assert info.value.errors == [
        "rules.0.when.all.1.window.no_response: must be the whole condition (when: {window: ...})"
    ]


def test_dry_run_fires_no_response_deadlines_within_the_files_time_span():
    import json

    from services.alerts.dryrun import dry_run

    [r] = rules(NO_RESPONSE)

    def line(n, days, nps):
        body = {
            "schema_version": 1,
            "source": "app",
            "event_id": f"e{n}",
            "occurred_at": (T0 + timedelta(days=days)).isoformat(),
            "customer": {"id": f"C{n % 2}"},
            "channel": "app",
            "scores": {"nps": nps},
        }
        return json.dumps(body)

    report = dry_run([r], [line(1, 0, 2), line(2, 1, 9), line(3, 3, 8)], NOW)
    assert report["rules"]["r0"]["raised"] == 1
    assert report["rules"]["r0"]["examples"][0]["event_id"] == "e1"


def test_the_engine_reads_first_contact_only_when_a_rule_asks():
    class Counting(MemoryState):
        reads = 0

        def first_event(self, customer_id):
            Counting.reads += 1
            return super().first_event(customer_id)

    engine = Engine(Counting())
    [plain] = rules(LOW_NPS)
    [asks] = rules({"field": "is_first_contact", "op": "eq", "value": False})
    for n in range(3):
        engine.process([plain], scored(n, n, 9), NOW)
    assert Counting.reads == 0 and len(engine.state.customers) == 1  # registered, never read
    assert engine.process([asks], scored(7, 4, 9), NOW)[0].outcome == "raised"
    assert Counting.reads == 1


def test_fields_of_lists_every_field_a_rule_reads():
    from services.alerts.conditions import fields_of

    when = {
        "all": [LOW_NPS, {"not": {"field": "channel", "op": "eq", "value": "x"}}, COMPLAINTS_3_IN_7D, DROP]
    }
    assert fields_of(when) == {"scores.nps", "channel", "category"}
