"""The review lexicon and the decision over it (textanalysis/text.py, lexicon/*.txt):
customers' words across touchpoints, degree, contrast, wishes, verdict patterns, emoticons,
star ratings, traditional characters, and negation never flipped by any of it."""

import json
from pathlib import Path

import pytest

from services.profiles.accuracy import REVIEW_SETS, evaluate, load
from textanalysis import lexicon as lists
from textanalysis import text
from textanalysis.text import analyze

WITH_LEXICON, AFTER_TUNING, LAST = REVIEW_SETS
# Measured 2026-12-06 (docs/rules.md): 180 reviews written with the lexicon 176/180 polarity;
# 70 written after its first pass 60/70; 50 written after its second pass, in other trades,
# 35/50 (the lexicon before: 72/180, 38/70, 18/50).
WITH_LEXICON_FLOOR = 0.90
AFTER_TUNING_FLOOR = 0.80
LAST_FLOOR = 0.65


def test_the_lexicon_is_large_and_each_word_has_one_polarity():
    base = lists.base_lists()
    positive, negative = set(base["positive"]), set(base["negative"])
    assert len(positive) + len(negative) >= 1500
    assert positive & negative == set()
    assert not (positive | negative) & set(base["negators"])
    assert len(base["complaint"]) >= 60


@pytest.mark.parametrize("name", ["positive", "negative"])
def test_every_sentiment_word_finds_its_polarity_on_its_own(name):
    # catches a word jieba cuts differently, or one a negator glued to it would flip
    wrong = [w for w in lists.base_lists()[name] if analyze(w).sentiment != name]
    assert wrong == []


def rows(path: Path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_the_review_sets_are_balanced_and_apart():
    sets = [rows(path) for path in REVIEW_SETS]
    for reviews in sets:
        counts = {s: sum(r["sentiment"] == s for r in reviews) for s in text.SENTIMENTS}
        assert counts["positive"] == counts["negative"] >= 20 and counts["neutral"] >= 10
    texts = [{r["text"] for r in reviews} for reviews in sets]
    assert sum(map(len, texts)) == len(set().union(*texts)) == sum(map(len, sets))


@pytest.mark.parametrize(
    "path, floor",
    [(WITH_LEXICON, WITH_LEXICON_FLOOR), (AFTER_TUNING, AFTER_TUNING_FLOOR), (LAST, LAST_FLOOR)],
)
def test_review_polarity_meets_the_floor(path, floor):
    report = evaluate(load(path))
    assert report.polarity.accuracy >= floor, report.polarity.accuracy


@pytest.mark.parametrize(
    "comment, sentiment",
    [
        ("一星差评，再也不买了！！！", "negative"),
        ("踩雷了，太坑了，别买", "negative"),
        ("五星好评，物超所值，会回购", "positive"),
        ("快递小哥很给力，包装严实", "positive"),
        ("客服爱理不理", "negative"),
        ("物流龟速", "negative"),
        ("性价比超高", "positive"),
        ("好慢啊", "negative"),  # 好 before a sentiment character is a degree, not praise
        ("今天刚装好，明天再试试。", "neutral"),  # 装好 is done, not good
        ("Terrible service, total waste of money", "negative"),
    ],
)
def test_customers_words(comment, sentiment):
    assert analyze(comment).sentiment == sentiment


@pytest.mark.parametrize(
    "comment, sentiment",
    [
        ("没有踩雷", "positive"),
        ("完全没有踩雷", "positive"),
        ("不推荐购买", "negative"),
        ("一点都不好用", "negative"),
        ("完全不值这个价", "negative"),
        ("没毛病", "positive"),
        ("不卡，很流畅", "positive"),
        ("不会再买了", "negative"),
        ("不退钱", "negative"),  # listed as negative: not 退钱 negated
        ("不好", "negative"),
        ("并不便宜", "negative"),
        ("一点也不贵", "positive"),
    ],
)
def test_negated_phrases_are_never_flipped(comment, sentiment):
    assert analyze(comment).sentiment == sentiment


def test_degree_words_scale_and_a_negated_word_is_not_scaled():
    assert analyze("非常满意").score > analyze("满意").score > analyze("有点满意").score > 0
    assert analyze("太慢了").score < analyze("慢").score < analyze("稍微慢").score < 0
    assert analyze("不是很满意").score == analyze("不满意").score


def test_what_follows_but_weighs_more_and_a_reservation_less():
    assert analyze("外观好看，但是质量太差").sentiment == "negative"
    assert analyze("虽然贵了点，但是质量很好").sentiment == "positive"
    assert analyze("很满意，就是物流慢了点").sentiment == "positive"
    assert analyze("说好三天发货，结果十天了还没发").sentiment == "negative"


def test_rhetorical_and_exasperated_questions_complain():
    rhetorical = analyze("难道不应该退款吗？？？")  # 难道 asks for the refund, it does not negate it
    assert rhetorical.category == "complaint" and "退款" not in rhetorical.negated_words()
    late = analyze("怎么还不发货")
    assert late.sentiment == "negative" and "怎么还不" in late.drivers
    assert analyze("等了两个小时，没人管").sentiment == "negative"


def test_a_question_or_a_wish_that_names_a_problem_asks_rather_than_complains():
    assert (analyze("请问怎么退货？").sentiment, analyze("请问怎么退货？").category) == ("neutral", "inquiry")
    wish = analyze("建议账单里把每一项费用写清楚")  # 清楚 is the wish, not praise
    assert (wish.sentiment, wish.category) == ("neutral", "suggestion")
    assert analyze("能不能快点处理，太慢了").sentiment == "negative"  # the problem still counts


def test_emoticons_stars_and_traditional_characters():
    assert analyze("👍").sentiment == "positive" and analyze("😡").sentiment == "negative"
    assert analyze("收到了 :)").sentiment == "positive" and analyze("又坏了 :(").sentiment == "negative"
    assert analyze("给1星").sentiment == "negative" and analyze("5颗星").sentiment == "positive"
    assert analyze("五星级酒店").sentiment == "neutral"  # a hotel's class, not a rating
    assert analyze("服務態度很差").sentiment == "negative"
    assert analyze("東西質量很好，推薦").sentiment == "positive"


def test_a_rule_keyword_of_several_words_matches_a_lexicon_word_jieba_keeps_whole():
    glued = analyze("这次送货慢得离谱")
    assert "送货慢" in glued.words and text.find_keyword(glued, "送货 慢")
    assert not text.find_keyword(analyze("送货不慢"), "送货 慢")
    assert not text.find_keyword(analyze("慢慢送货"), "送货 慢")


def test_a_removed_review_word_no_longer_counts():
    assert analyze("很给力").sentiment == "positive"
    edited = text.Lexicon.with_overlay(
        [{"list": "positive", "word": "给力", "state": "removed", "aspect": None}], 1
    )
    assert text.Analyzer(edited).analyze("很给力").sentiment == "neutral"


def test_the_data_files_name_the_line_of_a_mistake(tmp_path, monkeypatch):
    (tmp_path / "modifiers.txt").write_text("很 1.5\n太\n", "utf-8")
    (tmp_path / "cues.txt").write_text("-1 (怎么\n", "utf-8")
    monkeypatch.setattr(lists, "LEXICON_DIR", tmp_path)
    for loader, where in ((lists.modifiers, "modifiers.txt:2"), (lists.cues, "cues.txt:1")):
        loader.cache_clear()
        try:
            with pytest.raises(ValueError, match=where):
                loader()
        finally:
            loader.cache_clear()
