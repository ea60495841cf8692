"""The rule index changes which rules are evaluated, never what matches.

Property: for random rule sets and random events, every rule whose condition is
true is among the index's candidates, and an engine run through the index gives
exactly the outcomes (and state) of a brute-force run over every rule.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.alerts.engine import Engine
from services.alerts.evaluate import evaluate
from services.alerts.facts import Facts
from services.alerts.index import RuleIndex, guard
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules
from textanalysis.text import ASPECTS

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)

TEXTS = [
    "我要退款，客服不理人",
    "不是投诉，只是建议说明书写简单点",
    "在线客服态度很好，满意",
    "非常不满意，物流太慢了",
    "please call back about my refund",
    "I am not happy with the delivery",
    "送货 慢 而且包装破损",
    "这次送货慢得离谱",
    "12315 投诉",
    "谢谢",
]
KEYWORDS = [
    "退款",
    "投诉",
    "客服",
    "满意",
    "不满意",
    "物流",
    "慢",
    "送货 慢",
    "refund",
    "call back",
    "happy",
    12315,
]
CATEGORICAL = {
    "channel": ["app", "email", "wecom", "phone"],
    "touchpoint": ["checkout", "delivery", "support", "store"],
    "customer.tier": ["gold", "silver", "vip"],
    "source": ["app", "survey"],
    "attributes.region": ["north", "south"],
    "category": ["complaint", "suggestion", "inquiry", "praise", "other"],
    "sentiment": ["positive", "neutral", "negative"],
    "is_detractor": [True, False],
}
SCORE_FIELDS = {"scores.nps": (0, 10), "scores.csat": (1, 5), "scores.ces": (1, 7)}
TAGS = ["vip", "refund", "Delivery", "late"]


def leaf():
    categorical = st.sampled_from(sorted(CATEGORICAL)).flatmap(
        lambda f: st.one_of(
            st.fixed_dictionaries(
                {
                    "field": st.just(f),
                    "op": st.sampled_from(["eq", "ne"]),
                    "value": st.sampled_from(CATEGORICAL[f]),
                }
            ),
            st.fixed_dictionaries(
                {
                    "field": st.just(f),
                    "op": st.sampled_from(["in", "not_in"]),
                    "value": st.lists(st.sampled_from(CATEGORICAL[f]), min_size=1, max_size=3),
                }
            ),
        )
    )
    number = st.one_of(st.integers(-2, 12), st.floats(-2, 12, allow_nan=False).map(lambda x: round(x, 1)))
    scores = st.sampled_from(sorted(SCORE_FIELDS)).flatmap(
        lambda f: st.one_of(
            st.fixed_dictionaries(
                {
                    "field": st.just(f),
                    "op": st.sampled_from(["lt", "lte", "gt", "gte", "eq"]),
                    "value": number,
                }
            ),
            st.tuples(number, number).map(lambda p: {"field": f, "op": "between", "value": [min(p), max(p)]}),
            st.just({"field": f, "op": "exists"}),
        )
    )
    keywords = st.fixed_dictionaries(
        {
            "field": st.sampled_from(["text", "tags"]),
            "op": st.sampled_from(["contains_any", "contains_all"]),
            "value": st.lists(st.sampled_from(KEYWORDS + TAGS), min_size=1, max_size=3),
        }
    )
    aspects = st.one_of(
        st.fixed_dictionaries(
            {
                "field": st.just("aspects"),
                "op": st.sampled_from(["contains_any", "contains_all"]),
                "value": st.lists(st.sampled_from(ASPECTS), min_size=1, max_size=3),
            }
        ),
        st.fixed_dictionaries(
            {"field": st.just("aspects"), "op": st.just("contains"), "value": st.sampled_from(ASPECTS)}
        ),
    )
    other = st.sampled_from(
        [
            {"field": "text", "op": "regex", "value": "退款|refund"},
            {"field": "text", "op": "contains", "value": "慢"},
            {"field": "is_first_contact", "op": "eq", "value": True},
            {"field": "touchpoint", "op": "starts_with", "value": "de"},
        ]
    )
    return st.one_of(categorical, scores, keywords, aspects, other)


conditions = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)


def window(where):
    return {"window": {"count": {"at_least": 2, "within": "3d", "where": where}}}


whens = st.one_of(
    conditions,
    st.tuples(conditions, conditions).map(lambda p: {"all": [p[0], window(p[1])]}),
    conditions.map(lambda c: {"any": [window(c), {"field": "channel", "op": "eq", "value": "app"}]}),
    st.just({"window": {"score_drop": {"score": "nps", "by": 3, "within": "30d"}}}),
)


def make_rules(conds):
    docs = [
        {
            "id": f"r{i}",
            "name": f"R{i}",
            "level": "P3",
            "owner": {"kind": "team", "id": "cx"},
            "channels": ["email"],
            "when": when,
            "dedup": {"by": ["touchpoint"], "cooldown": "1d"},
            "throttle": {"max_alerts": 2, "per": "1d"},
        }
        for i, when in enumerate(conds)
    ]
    return [dict(r, version=1) for r in load_rules(docs)]


@st.composite
def events(draw, n):
    out = []
    for i in range(n):
        event = {
            "source": draw(st.sampled_from(CATEGORICAL["source"])),
            "event_id": f"e{i}",
            "occurred_at": T0 + timedelta(hours=draw(st.integers(0, 24 * 6))),
            "customer": {"id": draw(st.sampled_from(["C1", "C2"]))},
            "channel": draw(st.sampled_from(CATEGORICAL["channel"])),
        }
        if draw(st.booleans()):
            event["customer"]["tier"] = draw(st.sampled_from(CATEGORICAL["customer.tier"]))
        if draw(st.booleans()):
            event["touchpoint"] = draw(st.sampled_from(CATEGORICAL["touchpoint"]))
        if draw(st.booleans()):
            event["text"] = draw(st.sampled_from(TEXTS))
        if draw(st.booleans()):
            event["tags"] = draw(st.lists(st.sampled_from(TAGS + ["VIP ", "other"]), max_size=3))
        scores = {
            f[7:]: draw(st.integers(*bounds)) for f, bounds in SCORE_FIELDS.items() if draw(st.booleans())
        }
        if scores:
            event["scores"] = scores
        if draw(st.booleans()):
            event["attributes"] = {"region": draw(st.sampled_from(CATEGORICAL["attributes.region"]))}
        out.append(event)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(whens, min_size=1, max_size=8), events(1))
def test_candidates_include_every_matching_rule(conds, evs):
    rules = make_rules(conds)
    index = RuleIndex(rules)
    facts = Facts(evs[0], first_contact=lambda: True)
    candidates = {r["id"] for r in index.when.candidates(facts)}
    for rule in rules:
        matched = evaluate(rule["when"], facts, windows=lambda path, spec: (True, {}))[0]
        if matched:
            assert rule["id"] in candidates, (rule["when"], evs[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(whens, min_size=1, max_size=6), events(8))
def test_indexed_engine_equals_brute_force(conds, evs):
    rules = make_rules(conds)
    runs = []
    for indexed in (True, False):
        state = MemoryState()
        engine, index = Engine(state), RuleIndex(rules, indexed=indexed)
        seen = []
        for event in evs:
            outcomes = engine.process(index, event, NOW)
            seen.append([(o.rule_id, o.outcome, o.alert_id, o.dedup_key, o.trace) for o in outcomes])
        # An alert's ``facts`` lists the derived facts computed so far on the event,
        # which depends on which rules were evaluated before it: not compared, on
        # alerts nor on suppressed repeats (which are stored as whole alerts).
        suppressed = {
            rule: {key: _without_facts(a) for key, a in by_key.items()}
            for rule, by_key in state.suppressed.items()
            if by_key
        }
        recorded = [{k: v for k, v in part.items() if v} for part in (state.hits, state.scores)]
        recorded.append(suppressed)
        alerts = {k: _without_facts(a) for k, a in state.alerts.items()}
        runs.append((seen, recorded, alerts, state.deadlines))
    assert runs[0] == runs[1]


def test_guards_of_typical_conditions():
    assert guard({"field": "channel", "op": "in", "value": ["app", "wecom"]}) == {
        ("eq", "channel", "app"),
        ("eq", "channel", "wecom"),
    }
    assert guard({"field": "scores.nps", "op": "lte", "value": 1}) == {
        ("range", "scores.nps", b) for b in (-1, 0, 1)
    }
    assert ("sub", "text", "退款") in guard({"field": "text", "op": "contains_any", "value": ["退款"]})
    assert ("word", "text", "call") in guard({"field": "text", "op": "contains_any", "value": ["call back"]})
    both = {
        "all": [
            {"field": "scores.nps", "op": "lte", "value": 6},
            {"field": "channel", "op": "eq", "value": "app"},
        ]
    }
    assert guard(both) == {("eq", "channel", "app")}  # the narrower child
    assert guard({"any": [{"field": "channel", "op": "eq", "value": "app"}, {"not": both}]}) is None
    assert guard({"field": "is_first_contact", "op": "eq", "value": True}) is None
    assert guard({"window": {"no_response": {"after": both, "within": "1d"}}}) == frozenset()


def test_a_keyword_of_several_words_reaches_a_comment_where_jieba_kept_them_whole():
    # 送货慢 is a lexicon word jieba keeps whole; find_keyword matches 送货 慢 inside it
    keyword = {"field": "text", "op": "contains_any", "value": ["送货 慢"]}
    assert {("sub", "text", "送货慢"), ("word", "text", "送货")} <= guard(keyword)
    index = RuleIndex(make_rules([keyword]))
    event = {"source": "app", "event_id": "x", "occurred_at": T0, "customer": {"id": "C"}}
    for comment in ("这次送货慢得离谱", "送货 慢 而且包装破损"):
        assert [r["id"] for r in index.when.candidates(Facts({**event, "text": comment}))] == ["r0"]


def test_an_event_reaches_only_candidate_rules():
    conds = [{"field": "channel", "op": "eq", "value": f"ch{i}"} for i in range(500)]
    conds.append({"not": {"field": "channel", "op": "eq", "value": "app"}})
    index = RuleIndex(make_rules(conds))
    assert index.stats()["always"] == 1
    event = {"source": "app", "event_id": "x", "occurred_at": T0, "customer": {"id": "C"}, "channel": "ch7"}
    assert [r["id"] for r in index.when.candidates(Facts(event))] == ["r7", "r500"]


def _without_facts(alert: dict) -> dict:
    return {f: v for f, v in alert.items() if f != "facts"}
