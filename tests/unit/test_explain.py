"""Explain trees and version diffs (services/alerts/explain.py)."""

from datetime import UTC, datetime

from services.alerts.evaluate import evaluate
from services.alerts.explain import explain_tree, render_tree, rule_diff, versions_with_diffs

EVENT = {
    "source": "app",
    "event_id": "e1",
    "occurred_at": datetime(2026, 11, 20, tzinfo=UTC),
    "customer": {"id": "C1", "tier": "vip"},
    "channel": "wechat",
    "scores": {"nps": 3},
    "text": "不是投诉，但是要退款",
}
WHEN = {
    "all": [
        {"field": "scores.nps", "op": "lte", "value": 6},
        {
            "any": [
                {"field": "text", "op": "contains_any", "value": ["退款"]},
                {"field": "channel", "op": "eq", "value": "phone"},
            ]
        },
        {"not": {"field": "customer.tier", "op": "eq", "value": "vip"}},
        {"field": "touchpoint", "op": "exists"},
    ]
}


def test_the_tree_marks_results_actual_values_and_what_was_not_evaluated():
    matched, trace = evaluate(WHEN, EVENT)
    tree = explain_tree(WHEN, trace)
    assert matched is False and tree["result"] is False
    nps, any_, not_, skipped = tree["children"]
    assert nps["result"] is True and nps["actual"] == 3
    assert any_["result"] is True and any_["children"][0]["matched"] == ["退款"]
    assert any_["children"][1]["result"] is None  # any stopped at the first match
    assert not_["result"] is False and not_["children"][0]["actual"] == "vip"
    assert skipped["result"] is None  # all stopped at the not
    lines = render_tree(tree)
    assert lines[0] == "✗ ALL"
    assert "  ✓ scores.nps lte 6   actual: 3" in lines
    assert any("matched: [退款]" in line and "negated: [投诉]" in line for line in lines)
    assert lines[-1] == "  · touchpoint exists None   (not evaluated)"


def test_version_diffs_are_readable_yaml():
    v1 = {
        "id": "r",
        "level": "P2",
        "when": {"field": "scores.nps", "op": "lte", "value": 6},
        "fingerprint": "a",
    }
    v2 = {**v1, "level": "P1", "fingerprint": "b"}
    diff = rule_diff(v1, v2, "v1", "v2")
    assert "-level: P2\n+level: P1\n" in diff and "fingerprint" not in diff
    assert rule_diff(v1, v1, "v1", "v1") == ""
    at = datetime(2026, 11, 23, tzinfo=UTC)
    versions = [
        {"version": 1, "definition": v1, "created_at": at, "created_by": "li.na"},
        {"version": 2, "definition": v2, "created_at": at, "created_by": "wang.lei", "action": "updated"},
    ]
    shown = versions_with_diffs(versions)
    assert shown[0]["diff"].startswith("--- (none)\n+++ v1") and shown[1]["action"] == "updated"


def test_text_facts_in_a_trace_name_the_words_that_drove_them():
    from services.alerts.evaluate import evaluate
    from services.alerts.explain import explain_tree, render_tree
    from services.profiles.insight import comment_insight

    event = {"text": "快递太慢了，很不满意，我要投诉", "customer": {"id": "C1"}}
    node = {
        "all": [
            {"field": "sentiment", "op": "eq", "value": "negative"},
            {"field": "category", "op": "eq", "value": "complaint"},
            {"field": "aspects", "op": "contains_any", "value": ["delivery"]},
            {"field": "scores.nps", "op": "exists", "value": False},
        ]
    }
    matched, trace = evaluate(node, event)
    assert matched
    sentiment, category, aspects, nps = trace
    assert sentiment["because"]["source"] == "lexicon" and "不满意" in sentiment["because"]["drivers"]
    assert sentiment["because"]["negated"] == ["满意"] and sentiment["because"]["lexicon_version"] == 0
    assert category["because"]["cues"] == ["投诉"]
    assert aspects["because"]["terms"]["delivery"] == ["快递"]
    assert "because" not in nps  # not a text fact
    lines = render_tree(explain_tree(node, trace))
    assert "because: lexicon · drivers " in lines[1] and "不满意" in lines[1] and "negated 满意" in lines[1]
    assert "because: lexicon · cues 投诉" in lines[2] and "delivery: 快递" in lines[3]
    why = comment_insight(event["text"])["why"]
    assert "不满意" in why["drivers"] and why["cues"] == ["投诉"] and why["terms"]["delivery"] == ["快递"]
    assert why["negated"] == ["满意"] and why["source"] == "lexicon"


def test_a_category_the_score_decided_names_the_sentiment_words():
    from services.alerts.evaluate import evaluate

    _, [leaf] = evaluate({"field": "category", "op": "eq", "value": "complaint"}, {"text": "服务太差了"})
    assert leaf["result"] and "cues" not in leaf["because"] and leaf["because"]["drivers"]
