"""The live lexicon overlay (textanalysis/lexicon.py) merged into an Analyzer (text.py)."""

import pytest

from contracts.feedback import parse_feedback
from services.alerts.engine import Engine
from services.alerts.index import RuleIndex
from services.alerts.memory import MemoryState
from textanalysis import lexicon as lists
from textanalysis import text
from textanalysis.lexicon import LexiconError, apply_edits, merge, validate_edit


def analyzer(*edits, version=1):
    return text.Analyzer(text.Lexicon.with_overlay(apply_edits([], edits), version))


def add(list_name, word, aspect=None):
    return {"op": "add", "list": list_name, "word": word, **({"aspect": aspect} if aspect else {})}


def remove(list_name, word):
    return {"op": "remove", "list": list_name, "word": word}


def test_merge_adds_and_removes_over_the_shipped_lists_without_changing_them():
    base = lists.base_lists()
    assert "满意" in base["positive"] and "丝滑" not in base["positive"]
    overlay = [
        {"list": "positive", "word": "丝滑", "state": "added", "aspect": None},
        {"list": "positive", "word": "满意", "state": "removed", "aspect": None},
        {"list": "aspects", "word": "答非所问", "state": "added", "aspect": "staff_attitude"},
    ]
    merged = merge(base, overlay)
    assert "丝滑" in merged["positive"] and "满意" not in merged["positive"]
    assert merged["aspects"]["答非所问"] == "staff_attitude"
    assert "满意" in base["positive"] and "丝滑" not in base["positive"]  # base untouched
    assert "满意" in lists.base_lists()["positive"]


def test_a_later_draft_edit_of_the_same_word_replaces_the_earlier_one():
    entries = apply_edits([], [add("complaint", "甩锅"), remove("complaint", "甩锅")])
    assert entries == [{"list": "complaint", "word": "甩锅", "state": "removed", "aspect": None}]


def test_an_added_sentiment_word_counts_and_is_negated_like_a_shipped_one():
    assert text.analyze("这个功能很丝滑").sentiment == "neutral"
    live = analyzer(add("positive", "丝滑"))
    result = live.analyze("这个功能很丝滑")  # jieba glues 很丝滑: the added word is carved out
    assert (result.sentiment, result.drivers, result.lexicon_version) == ("positive", ("丝滑",), 1)
    negated = live.analyze("一点都不丝滑")
    assert negated.sentiment == "negative" and negated.drivers == ("不丝滑",)
    assert text.analyze("这个功能很丝滑").sentiment == "neutral"  # the process's analyzer is untouched


def test_a_removed_word_no_longer_counts():
    assert text.analyze("非常满意").sentiment == "positive"
    assert analyzer(remove("positive", "满意")).analyze("非常满意").sentiment == "neutral"


def test_an_added_complaint_word_makes_a_complaint_and_names_its_cue():
    assert text.analyze("客服一直甩锅").category != "complaint"
    result = analyzer(add("complaint", "甩锅")).analyze("客服一直甩锅")
    assert result.category == "complaint" and result.category_cues == ("甩锅",)
    assert analyzer(add("complaint", "甩锅")).analyze("客服没有甩锅").category != "complaint"  # negated


def test_an_added_negator_negates_what_follows():
    assert text.analyze("绝非满意").sentiment == "positive"
    assert analyzer(add("negators", "绝非")).analyze("绝非满意").sentiment == "negative"


def test_an_added_product_name_is_kept_whole_and_an_added_aspect_term_found():
    live = analyzer(add("domain", "云享宽带"), add("aspects", "云享宽带", "product_quality"))
    result = live.analyze("云享宽带网速太慢")
    assert "云享宽带" in result.words and "product_quality" in result.aspects
    assert ("product_quality", "云享宽带") in result.aspect_terms
    assert "云享宽带" not in text.analyze("云享宽带网速太慢").words


def test_rule_keywords_are_indexed_and_matched_with_the_same_analyzer():
    live = analyzer(add("domain", "云享宽带"))
    rule = {
        "id": "product",
        "name": "p",
        "level": "P3",
        "version": 1,
        "when": {"field": "text", "op": "contains_any", "value": ["云享宽带"]},
    }
    event = parse_feedback(
        '{"schema_version": 1, "event_id": "e1", "source": "t", "occurred_at": "2026-11-20T10:00:00+08:00",'
        ' "customer": {"id": "C1"}, "channel": "app", "text": "云享宽带网速太慢"}'
    )
    for engine in (Engine(MemoryState()), Engine(MemoryState(), live)):
        index = RuleIndex([rule], analyzer=engine.analyzer)
        assert [m.rule["id"] for m in engine.match(index, event)] == ["product"]
    assert live.find_keyword(live.analyze("我用的是云享宽带"), "云享宽带")


@pytest.mark.parametrize(
    "edit, field",
    [
        ({"op": "add", "list": "positive", "word": "  "}, "word"),
        ({"op": "add", "list": "positive"}, "word"),
        ({"op": "add", "list": "slang", "word": "绝绝子"}, "list"),
        ({"op": "add", "list": "positive", "word": "好" * (lists.MAX_WORD_CHARS + 1)}, "word"),
        ({"op": "add", "list": "positive", "word": "very good"}, "word"),  # one word only
        ({"op": "add", "list": "positive", "word": "好#评"}, "word"),
        ({"op": "rename", "list": "positive", "word": "好"}, "op"),
        ({"op": "add", "list": "aspects", "word": "快递盒"}, "aspect"),
        ({"op": "add", "list": "aspects", "word": "快递盒", "aspect": "packaging"}, "aspect"),
        ({"op": "add", "list": "positive", "word": "好", "aspect": "price"}, "aspect"),
        ({"op": "add", "list": "positive", "word": "好", "colour": "red"}, "colour"),
        ("好", "edit"),
    ],
)
def test_an_invalid_edit_names_its_field(edit, field):
    with pytest.raises(LexiconError) as caught:
        validate_edit(edit)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


def test_an_edit_is_normalised():
    assert (
        validate_edit({"op": "add", "list": "suggestion", "word": "  Could   You  "})["word"] == "could you"
    )
