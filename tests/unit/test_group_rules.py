"""Group rules on the engine's in-memory state: each condition at its window's edges,
minimum responses, the spike baseline over previous weeks, one alert per episode,
re-arming on recovery, validation naming the field path, and the rule index."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.engine import Engine
from services.alerts.explain import render_tree, rule_tree
from services.alerts.group_rules import SLICES
from services.alerts.index import RuleIndex
from services.alerts.memory import MemoryState
from services.alerts.rules import RuleError, load_rule

# a Monday, on an hour boundary (buckets are aligned to epoch time)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def group_rule(group, when=None, **extra):
    doc = {
        "id": "store-watch",
        "name": "门店 / Store",
        "level": "P1",
        "owner": {"kind": "team", "id": "ops"},
        "channels": ["email"],
        "when": when or {"field": "touchpoint", "op": "eq", "value": "store"},
        "group": group,
        **extra,
    }
    return {**load_rule(doc), "version": 1}


def ev(n, at, store="S1", nps=None, text=None, customer=None, touchpoint="store"):
    event = {
        "source": "pos",
        "event_id": f"e{n}",
        "occurred_at": at,
        "customer": {"id": customer or f"C{n}"},
        "channel": "app",
        "touchpoint": touchpoint,
        "attributes": {"store": store, "region": "华东"},
    }
    if nps is not None:
        event["scores"] = {"nps": nps}
    if text is not None:
        event["text"] = text
    return event


def run(rule, events, state=None, batch=False):
    engine = Engine(state or MemoryState())
    index = RuleIndex([rule])
    if batch:
        return engine.process_many(index, events, NOW)
    return [o for e in events for o in engine.process(index, e, NOW)]


NPS_BELOW = {
    "by": ["attributes.store"],
    "window": "1h",
    "score_below": {"score": "nps", "below": 0, "min_responses": 5},
}


def raised(outcomes):
    return [o for o in outcomes if o.outcome == "raised"]


def test_nps_below_needs_min_responses_then_raises_once_per_episode():
    # 4 detractors: NPS -100 but below min_responses; the 5th raises, later ones attach
    events = [ev(i, T0 + timedelta(minutes=i), nps=2) for i in range(8)]
    outcomes = run(group_rule(NPS_BELOW), events)
    assert [o.outcome for o in outcomes] == ["raised", "attached", "attached", "attached"]
    alert = outcomes[0].alert
    assert alert["scope"] == "group"
    assert alert["group"]["key"] == {"attributes.store": "S1"}
    assert alert["group"]["condition"] == "score_below"
    assert alert["group"]["observed"]["count"] == 5
    assert alert["group"]["observed"]["value"] == -100.0
    assert alert["dedup"]["key"] == "store-watch|group|attributes.store=S1"
    assert alert["event"]["event_id"] == "e4"  # the event that tipped it
    assert alert["event"]["attributes"] == {"store": "S1", "region": "华东"}


def test_groups_are_separate_and_events_outside_when_do_not_count():
    events = [ev(i, T0 + timedelta(minutes=i), store=f"S{i % 2}", nps=1) for i in range(10)]
    events += [ev(100 + i, T0 + timedelta(minutes=20), store="S9", nps=0, touchpoint="web") for i in range(9)]
    outcomes = raised(run(group_rule(NPS_BELOW), events))
    assert sorted(o.alert["group"]["key"]["attributes.store"] for o in outcomes) == ["S0", "S1"]


def test_promoters_keep_the_net_score_up():
    # 5 detractors and 6 promoters: NPS = (6 - 5) / 11 > 0, never below 0
    events = [ev(i, T0 + timedelta(minutes=i), nps=3 if i % 2 else 10) for i in range(11)]
    events.sort(key=lambda e: e["scores"]["nps"], reverse=True)  # promoters first
    for i, e in enumerate(events):
        e["occurred_at"] = T0 + timedelta(minutes=i)
    assert raised(run(group_rule(NPS_BELOW), events)) == []


def test_window_edges_old_responses_fall_out():
    # 1h window in 10-minute buckets: the window is the event's bucket and the five before
    rule = group_rule(NPS_BELOW)
    old = [ev(i, T0 + timedelta(minutes=i), nps=0) for i in range(4)]  # bucket 09:00
    # 10:00 is six buckets later: 09:00 is out of the window, so 1 response only
    out = run(rule, [*old, ev(9, T0 + timedelta(minutes=60), nps=0)])
    assert raised(out) == []
    # 09:59 is in the bucket 09:50: 09:00 is its sixth bucket back, still inside
    out = run(rule, [*old, ev(9, T0 + timedelta(minutes=59), nps=0)])
    assert len(raised(out)) == 1
    assert SLICES == 6


def test_recovery_re_arms_the_group():
    rule = group_rule(NPS_BELOW)
    state = MemoryState()
    bad = [ev(i, T0 + timedelta(minutes=i), nps=0) for i in range(5)]
    assert len(raised(run(rule, bad, state))) == 1
    # promoters: while the NPS stays below 0 they attach; at 5 against 5 it is 0, the episode ends
    good = [ev(10 + i, T0 + timedelta(minutes=10 + i), nps=10) for i in range(6)]
    assert [o.outcome for o in run(rule, good, state)] == ["attached"] * 4
    assert state.dedup["store-watch|group|attributes.store=S1"][1] == (T0 + timedelta(minutes=14)).timestamp()
    # a new collapse later raises a second alert, not an attach to the first
    again = [ev(30 + i, T0 + timedelta(hours=3, minutes=i), nps=0) for i in range(5)]
    outcomes = run(rule, again, state)
    assert [o.outcome for o in outcomes] == ["raised"]


def test_batch_gives_the_outcomes_of_one_by_one():
    rule = group_rule(NPS_BELOW)
    events = [ev(i, T0 + timedelta(minutes=i), nps=0 if i < 7 else 10) for i in range(20)]
    one = [(o.outcome, o.alert_id) for o in run(rule, events)]
    many = [(o.outcome, o.alert_id) for o in run(rule, events, batch=True)]
    assert one == many and one[0][0] == "raised"


def test_csat_average_below():
    rule = group_rule(
        {
            "by": ["touchpoint"],
            "window": "1d",
            "score_below": {"score": "csat", "below": 3, "min_responses": 3},
        }
    )
    events = [ev(i, T0 + timedelta(hours=i), nps=None) for i in range(3)]
    for e, csat in zip(events, (2, 3, 4), strict=True):
        e["scores"] = {"csat": csat}  # average 3: not below 3
    assert raised(run(rule, events)) == []
    events[2]["scores"] = {"csat": 3}  # average 2.67
    outcomes = raised(run(rule, events))
    assert len(outcomes) == 1 and outcomes[0].alert["group"]["observed"]["value"] == 2.67


SPIKE = {
    "by": ["attributes.store"],
    "window": "1h",
    "spike": {
        "where": {"field": "aspects", "op": "contains_any", "value": ["delivery"]},
        "factor": 3,
        "weeks": 2,
        "min_count": 4,
    },
}


def complaints(start, n, first=0, store="S1"):
    return [
        ev(first + i, start + timedelta(minutes=i), store=store, text="快递太慢了，物流一直不更新")
        for i in range(n)
    ]


def test_spike_against_the_previous_weeks():
    rule = group_rule(SPIKE)
    week = timedelta(days=7)
    # two and three complaints in the same hour of the two previous weeks: baseline 2.5
    history = complaints(T0 - 2 * week, 2, 100) + complaints(T0 - week, 3, 200)
    state = MemoryState()
    assert raised(run(rule, history, state)) == []
    outcomes = run(rule, complaints(T0, 8), state)
    first = raised(outcomes)
    assert len(first) == 1
    observed = first[0].alert["group"]["observed"]
    # 3 × 2.5 = 7.5: the 8th complaint is the first at or above it
    assert observed == {
        "value": 8,
        "count": 8,
        "baseline": 2.5,
        "weeks": [3, 2],
        "threshold": 7.5,
        "min_count": 4,
    }


def test_spike_needs_min_count_without_history_and_ignores_other_events():
    rule = group_rule(SPIKE)
    other = [ev(50 + i, T0 + timedelta(minutes=i), text="店员态度很好") for i in range(5)]
    out = run(rule, [*other, *complaints(T0, 3)])
    assert raised(out) == []
    out = run(rule, complaints(T0, 4))
    assert len(raised(out)) == 1 and raised(out)[0].alert["group"]["observed"]["baseline"] == 0


def test_negative_share_above():
    rule = group_rule(
        {"by": ["touchpoint"], "window": "30m", "negative_share": {"above": 0.5, "min_comments": 4}}
    )
    texts = ["服务很好，很满意", "太差了，非常失望", "太差了，非常失望", "太差了，非常失望"]
    events = [ev(i, T0 + timedelta(minutes=i), text=t) for i, t in enumerate(texts)]
    outcomes = raised(run(rule, events))
    assert len(outcomes) == 1
    assert outcomes[0].alert["group"]["observed"]["value"] == 0.75
    # three of five negative at most: 0.5 is not above 0.5
    calm = [ev(i, T0 + timedelta(minutes=i), text=t) for i, t in enumerate(texts[:3] + texts[:1])]
    assert raised(run(rule, calm)) == []


def test_explain_tree_shows_the_group_condition():
    rule = group_rule(NPS_BELOW)
    alert = raised(run(rule, [ev(i, T0 + timedelta(minutes=i), nps=0) for i in range(5)]))[0].alert
    tree = rule_tree(rule, alert["trace"])
    lines = render_tree(tree)
    assert tree["result"] is True
    assert any("group score_below" in line and "value: -100.0" in line for line in lines)
    assert any("touchpoint eq store" in line for line in lines)


def test_index_skips_group_rules_the_event_cannot_concern():
    rule = group_rule(NPS_BELOW)
    index = RuleIndex([rule])
    assert len(index.grouped) == 1 and index.grouped.always == []
    assert index.when.items == []  # never evaluated as a customer rule
    engine = Engine(MemoryState())
    assert engine.process(index, ev(1, T0, nps=0, touchpoint="web"), NOW) == []


@pytest.mark.parametrize(
    "group, error",
    [
        ({"by": ["attributes.store"], "window": "1h"}, "group: needs exactly one condition"),
        (
            {"by": ["store"], "window": "1h", "score_below": {"score": "nps", "below": 0}},
            "group.by.0: unknown group field",
        ),
        (
            {"by": ["touchpoint"], "window": "90s", "score_below": {"score": "nps", "below": 0}},
            "group.window: must be a whole number of minutes",
        ),
        (
            {"by": ["touchpoint"], "window": "1h", "score_below": {"score": "nps", "below": 300}},
            "group.score_below.below:",
        ),
        (
            {
                "by": ["touchpoint"],
                "window": "1h",
                "spike": {"where": {"field": "x", "op": "lesser"}, "factor": 2},
            },
            "group.spike.where.op: unknown operator",
        ),
        (
            {
                "by": ["touchpoint"],
                "window": "8d",
                "spike": {"where": {"field": "x", "op": "exists"}, "factor": 2},
            },
            "group.window: a spike compares weeks",
        ),
        (
            {"by": ["touchpoint"], "window": "1h", "negative_share": {"above": 1.5}},
            "group.negative_share.above:",
        ),
    ],
)
def test_invalid_group_rules_name_the_field(group, error):
    with pytest.raises(RuleError) as caught:
        group_rule(group)
    assert any(line.startswith(error) for line in caught.value.errors), caught.value.errors


def test_group_rule_refuses_customer_windows_and_dedup_fields():
    window = {"window": {"count": {"at_least": 2, "within": "1d", "where": {"field": "x", "op": "exists"}}}}
    with pytest.raises(RuleError) as caught:
        group_rule(
            NPS_BELOW,
            when={"all": [{"field": "touchpoint", "op": "eq", "value": "store"}, window]},
            dedup={"by": ["channel"]},
        )
    assert (
        "when.all.1.window: a group rule counts events per group: no customer windows in when"
        in caught.value.errors
    )
    assert any(e.startswith("dedup.by:") for e in caught.value.errors)


def test_rules_test_and_backtest_replay_group_rules():
    from services.alerts.dryrun import backtest, dry_run, lookback_seconds

    rule = group_rule(SPIKE)
    assert lookback_seconds(rule) == 3600 + 2 * 7 * 86400  # the window and the weeks compared
    week = timedelta(days=7)
    events = complaints(T0 - 2 * week, 2, 100) + complaints(T0 - week, 3, 200) + complaints(T0, 8)
    report = backtest(rule, iter(events), T0 - timedelta(hours=1), T0 + timedelta(hours=1), NOW)
    assert report["alerts"] == 1 and report["events"] == 8
    assert report["groups"] == {"attributes.store=S1": 1}
    [example] = report["examples"]
    assert example["group"]["observed"]["baseline"] == 2.5
    assert example["tree"]["children"][1]["result"] is True
    lines = [
        json.dumps({**e, "schema_version": 1, "occurred_at": e["occurred_at"].isoformat()}) for e in events
    ]
    tested = dry_run([rule], lines, NOW)
    assert tested["invalid"] == [] and tested["rules"]["store-watch"]["raised"] == 1
    assert tested["rules"]["store-watch"]["groups"] == {"attributes.store=S1": 1}


def test_indexed_group_rules_give_the_outcomes_of_evaluating_every_rule():
    import random

    rng = random.Random(17)
    conditions = [
        NPS_BELOW,
        SPIKE,
        {"by": ["touchpoint"], "window": "30m", "negative_share": {"above": 0.3, "min_comments": 2}},
    ]
    rules = []
    for n in range(30):
        when = rng.choice(
            [
                {"field": "attributes.store", "op": "eq", "value": f"S{n % 4}"},
                {"field": "touchpoint", "op": "in", "value": ["store", "web"]},
                {"not": {"field": "touchpoint", "op": "eq", "value": "web"}},
            ]
        )
        rules.append({**group_rule(rng.choice(conditions), when=when), "id": f"g{n}"})
    texts = [None, "快递太慢了，物流一直不更新", "太差了，非常失望", "服务很好，很满意"]
    events = [
        ev(
            i,
            T0 + timedelta(minutes=rng.randrange(120)),
            store=f"S{rng.randrange(4)}",
            nps=rng.choice([None, 0, 3, 8, 10]),
            text=rng.choice(texts),
            touchpoint=rng.choice(["store", "web", "phone"]),
        )
        for i in range(200)
    ]
    events.sort(key=lambda e: e["occurred_at"])
    runs = []
    for indexed in (True, False):
        index = RuleIndex(rules, indexed=indexed)
        engine = Engine(MemoryState())
        runs.append([(o.rule_id, o.outcome, o.alert_id) for o in engine.process_many(index, events, NOW)])
    assert runs[0] == runs[1] and any(outcome == "raised" for _, outcome, _ in runs[0])


JUNK = [
    None,
    True,
    -1,
    0.5,
    float("nan"),
    "",
    "x" * 300,
    [],
    [1, [2]],
    {},
    {"a": {"b": 1}},
    "1h",
    ["touchpoint"],
]


SHARE = {"by": ["touchpoint"], "window": "1h", "negative_share": {"above": 0.3}}
HOSTILE = [
    *((NPS_BELOW, p) for p in ("by", "by.0", "window", "score_below", "score_below.score", "extra")),
    *((NPS_BELOW, p) for p in ("score_below.below", "score_below.min_responses")),
    *((SPIKE, p) for p in ("spike", "spike.where", "spike.factor", "spike.weeks", "spike.min_count")),
    *((SHARE, p) for p in ("negative_share.above", "negative_share.min_comments")),
]


@pytest.mark.parametrize("base, path", HOSTILE)
@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_hostile_group_parts_are_refused_with_their_path_or_loaded(base, path, junk):
    spec = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    node = spec
    for part in parents:
        node = node[part]
    node[int(last) if isinstance(node, list) else last] = junk
    try:
        group_rule(spec)
    except RuleError as exc:
        assert exc.errors and all(line.startswith("group") and len(line) < 400 for line in exc.errors), (
            exc.errors
        )


def test_every_alert_carries_the_events_attributes():
    customer_rule = {
        **load_rule(
            {
                **{
                    k: v
                    for k, v in group_rule(NPS_BELOW).items()
                    if k not in ("group", "version", "fingerprint")
                },
                "id": "c",
            }
        ),
        "version": 1,
    }
    engine = Engine(MemoryState())
    [with_attrs] = engine.process([customer_rule], ev(1, T0, nps=0), NOW)
    assert with_attrs.alert["scope"] == "customer" and with_attrs.alert["group"] is None
    assert with_attrs.alert["event"]["attributes"] == {"store": "S1", "region": "华东"}
    bare = {**ev(2, T0, nps=0, customer="C9")}
    del bare["attributes"]
    [without] = engine.process([customer_rule], bare, NOW)
    assert without.alert["event"]["attributes"] == {}


def test_an_episode_still_open_after_the_cooldown_raises_again():
    rule = group_rule(NPS_BELOW, dedup={"cooldown": "1h"})
    # a detractor every 5 minutes for 2.5 hours: never recovers
    events = [ev(i, T0 + timedelta(minutes=5 * i), nps=0) for i in range(30)]
    outcomes = run(rule, events)
    raised_at = [o.alert["event"]["occurred_at"] for o in raised(outcomes)]
    # the 5th event raises (09:20), the first match at or after 10:20 and 11:20 again
    assert raised_at == [T0 + timedelta(minutes=m) for m in (20, 80, 140)]


def test_an_alerts_event_carries_plain_attributes_only():
    """An integration's nested attribute (even kombu's datetime marker) stays on the
    event; the alert names the plain ones, which group keys read."""
    from services.alerts.evaluate import event_summary

    event = {
        "source": "s",
        "event_id": "e",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "channel": "app",
        "attributes": {
            "store": "SH-01",
            "n": 3,
            "vip": True,
            "x": {"__type__": "datetime", "__value__": "1.5"},
        },
    }
    assert event_summary(event)["attributes"] == {"store": "SH-01", "n": 3, "vip": True}
