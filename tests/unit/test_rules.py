from datetime import UTC, datetime

import pytest

from services.alerts.conditions import OPERATORS
from services.alerts.engine import Engine
from services.alerts.evaluate import MISSING, alert_id_for, evaluate, resolve
from services.alerts.memory import MemoryState
from services.alerts.rules import RuleError, load_rules

EVENT = {
    "source": "app",
    "event_id": "e1",
    "occurred_at": datetime(2026, 11, 20, tzinfo=UTC),
    "customer": {"id": "C1", "tier": "vip", "attributes": {"region": "华东"}},
    "channel": "wechat",
    "touchpoint": "delivery",
    "scores": {"nps": 3, "csat": 2},
    "text": "我要退款，太失望了",
    "tags": ["投诉", "物流"],
}


def rule(**overrides):
    base = {
        "id": "r1",
        "name": "R",
        "level": "P2",
        "owner": {"kind": "person", "id": "li.na"},
        "channels": ["email"],
        "when": {"field": "scores.nps", "op": "lte", "value": 6},
    }
    base.update(overrides)
    return base


def errors_of(document):
    with pytest.raises(RuleError) as info:
        load_rules(document)
    return info.value.errors


def test_a_valid_rule_set_gets_defaults_and_a_fingerprint():
    [r] = load_rules({"rules": [rule()]})
    assert r["enabled"] is True and r["tags"] == [] and len(r["fingerprint"]) == 64
    assert load_rules([rule()])[0]["fingerprint"] == r["fingerprint"]
    assert load_rules([rule(level="P1")])[0]["fingerprint"] != r["fingerprint"]


@pytest.mark.parametrize(
    "when, path",
    [
        ({"field": "scores.nps", "op": "lesser", "value": 1}, "rules.0.when.op: unknown operator"),
        (
            {
                "all": [
                    {"field": "a", "op": "eq", "value": 1},
                    {"not": {"field": "b", "op": "between", "value": [5, 1]}},
                ]
            },
            "rules.0.when.all.1.not.value: low must not exceed high",
        ),
        ({"any": []}, "rules.0.when.any: must be a non-empty list"),
        (
            {"all": [{"any": [{"field": "x", "op": "gt", "value": "3"}]}]},
            "rules.0.when.all.0.any.0.value: must be a number",
        ),
        ({"field": "text", "op": "regex", "value": "("}, "rules.0.when.value: invalid regular"),
        ({"field": "$where", "op": "eq", "value": 1}, "rules.0.when.field: must be a dotted"),
        ({"field": "a", "op": "in", "value": []}, "rules.0.when.value: must be a non-empty list"),
        ({"all": [], "any": []}, "rules.0.when: a group has exactly one key"),
        ({"field": "a", "op": "eq"}, "rules.0.when.value: value is required"),
        (5, "rules.0.when: must be an object"),
    ],
)
def test_invalid_conditions_name_the_path(when, path):
    assert any(e.startswith(path) for e in errors_of([rule(when=when)])), errors_of([rule(when=when)])


def test_metadata_errors_name_the_field():
    errs = errors_of(
        [rule(level="P5", owner={"kind": "robot", "id": ""}, channels=["fax"], extra=1), rule(id="r1")]
    )
    joined = "\n".join(errs)
    assert "rules.0.level" in joined and "rules.0.owner.kind" in joined
    assert "rules.0.owner.id" in joined and "rules.0.channels.0" in joined
    assert "rules.0.extra: Unknown field" in joined
    assert errors_of([rule(), rule()]) == ["rules: duplicate rule ids: r1"]
    assert errors_of("nope")[0].startswith("_schema")


def test_deep_nesting_is_bounded():
    node = {"field": "a", "op": "eq", "value": 1}
    for _ in range(40):
        node = {"not": node}
    assert "nested deeper" in errors_of([rule(when=node)])[0]


@pytest.mark.parametrize(
    "op, field, value, expected",
    [
        ("eq", "channel", "wechat", True),
        ("eq", "channel", "web", False),
        ("ne", "channel", "web", True),
        ("ne", "missing", 1, True),
        ("lt", "scores.nps", 3, False),
        ("lte", "scores.nps", 3, True),
        ("gt", "scores.csat", 1, True),
        ("gte", "scores.csat", 3, False),
        ("lte", "scores.ces", 6, False),  # absent field never satisfies a comparison
        ("between", "scores.nps", [0, 6], True),
        ("between", "scores.nps", [4, 6], False),
        ("in", "touchpoint", ["delivery", "billing"], True),
        ("in", "touchpoint", ["x"], False),
        ("not_in", "touchpoint", ["billing"], True),
        ("not_in", "missing", ["x"], True),
        ("exists", "scores.nps", True, True),
        ("exists", "scores.ces", True, False),
        ("exists", "scores.ces", False, True),
        ("contains", "text", "退款", True),
        ("contains", "tags", "物流", True),
        ("contains", "tags", "物", False),
        ("starts_with", "text", "我要", True),
        ("starts_with", "scores.nps", "3", False),
        ("regex", "text", "退款|投诉", True),
        ("regex", "text", "^太", False),
        ("eq", "customer.attributes.region", "华东", True),
        ("eq", "tags.0", "投诉", True),
    ],
)
def test_every_operator(op, field, value, expected):
    assert set(OPERATORS) >= {op}
    matched, trace = evaluate({"field": field, "op": op, "value": value}, EVENT)
    assert matched is expected
    assert trace[0]["field"] == field and trace[0]["result"] is expected


def test_groups_short_circuit_and_trace_what_was_evaluated():
    when = {
        "all": [
            {"field": "scores.nps", "op": "lte", "value": 6},
            {
                "any": [
                    {"field": "channel", "op": "eq", "value": "web"},
                    {"not": {"field": "customer.tier", "op": "eq", "value": "standard"}},
                ]
            },
            {"field": "text", "op": "contains", "value": "退款"},
        ]
    }
    matched, trace = evaluate(when, EVENT)
    assert matched
    assert [t["path"] for t in trace] == [
        "when.all.0",
        "when.all.1.any.0",
        "when.all.1.any.1.not",
        "when.all.2",
    ]
    matched, trace = evaluate(
        {
            "any": [
                {"field": "channel", "op": "eq", "value": "wechat"},
                {"field": "x", "op": "eq", "value": 1},
            ]
        },
        EVENT,
    )
    assert matched and len(trace) == 1


def test_resolve_paths():
    assert resolve(EVENT, "scores.nps") == 3
    assert resolve(EVENT, "scores.nope") is MISSING
    assert resolve(EVENT, "tags.5") is MISSING


def match_rules(rules, event, now):
    return [o.alert for o in Engine(MemoryState()).process(rules, event, now) if o.outcome == "raised"]


def test_match_rules_gives_stable_ids_and_skips_disabled_rules():
    rules = [dict(r, version=2) for r in load_rules([rule(), rule(id="off", enabled=False)])]
    now = datetime(2026, 11, 21, tzinfo=UTC)
    [alert] = match_rules(rules, EVENT, now)
    assert alert["_id"] == alert_id_for("r1", EVENT) == match_rules(rules, EVENT, now)[0]["_id"]
    assert alert["rule"] == {"id": "r1", "version": 2, "name": "R"}
    assert alert["customer"] == {"id": "C1", "tier": "vip"}
    assert alert["event"]["text"] == EVENT["text"]
    assert alert["dedup"]["key"] == "r1|customer.id=C1"
    assert alert_id_for("r1", {**EVENT, "event_id": "e2"}) != alert["_id"]


# Leaves whose truth on EVENT is known (from the operator table above).
LEAVES = [
    ({"field": "channel", "op": "eq", "value": "wechat"}, True),
    ({"field": "scores.nps", "op": "lt", "value": 3}, False),
    ({"field": "text", "op": "contains", "value": "退款"}, True),
    ({"field": "touchpoint", "op": "in", "value": ["x"]}, False),
    ({"field": "scores.ces", "op": "exists", "value": False}, True),
]


def _trees():
    from hypothesis import strategies as st

    leaf = st.sampled_from(LEAVES)

    def grow(children):
        def group(kind):
            def build(items):
                conditions = [c for c, _ in items]
                truths = [t for _, t in items]
                return {kind: conditions}, (all(truths) if kind == "all" else any(truths))

            return st.lists(children, min_size=1, max_size=4).map(build)

        negated = children.map(lambda item: ({"not": item[0]}, not item[1]))
        return st.one_of(group("all"), group("any"), negated)

    return st.recursive(leaf, grow, max_leaves=12)


def test_property_nested_groups_follow_boolean_logic():
    from hypothesis import given, settings

    @settings(max_examples=200, deadline=None)
    @given(_trees())
    def check(tree_and_truth):
        tree, truth = tree_and_truth
        matched, trace = evaluate(tree, EVENT)
        assert matched is truth
        known = {(leaf["field"], leaf["op"]): t for leaf, t in LEAVES}
        for step in trace:  # the leaves evaluated, each with its own truth
            if not step["path"].endswith(".not"):
                assert step["result"] is known[(step["field"], step["op"])], step

    check()
