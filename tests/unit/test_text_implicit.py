"""Negative comments a word list misses (issue 21): rhetorical questions, sarcasm, unmet
expectations, comparisons, repeats, demands, curt replies; each found by a mechanism that
names itself among the drivers, and none of them alarming neutral comments.

The development set (tests/unit/fixtures/reviews_implicit_dev.jsonl, docs/rules.md
"Implicit negatives") was written before the analyzer ran on it; its rows marked
``"part": "tune"`` were tuned on, those marked ``"held"`` were measured once, at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.dev_sets import assert_has_shape, assert_meets_floors, part
from textanalysis.text import analyze

DEV_SET = Path(__file__).parent / "fixtures" / "reviews_implicit_dev.jsonl"
# Measured 2026-12-06 (docs/rules.md). Tuned part, 201 rows: polarity 105 → 158/167, negatives
# called neutral 48 → 7/100, complaint recall 50 → 92/100 at precision 90.9 → 100 %, neutral
# rows called positive or negative 3 → 0/34. Held part, 99 rows: 56 → 71/83, 23 → 10/50,
# 24 → 39/50 at 92.3 → 95.1 %, 1 → 1/16. Floors a few points under.
FLOORS = {
    "tune": {"polarity": 0.90, "neutralised": 12, "recall": 0.85, "precision": 0.93, "alarms": 2},
    "held": {"polarity": 0.80, "neutralised": 13, "recall": 0.70, "precision": 0.90, "alarms": 1},
}


def test_the_set_has_its_shape_and_two_parts():
    assert_has_shape(DEV_SET, {"negative": 150, "positive": 100, "neutral": 50}, {"tune": 201, "held": 99})


@pytest.mark.parametrize("name", ["tune", "held"])
def test_the_set_meets_its_floors(name):
    assert_meets_floors(part(DEV_SET, name), FLOORS[name])


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("这也叫服务？", "这也叫服务"),
        ("有这么做生意的吗？", "有这么做生意的吗"),
        ("凭什么不给退？", "凭什么"),
        ("这么小的份量好意思卖三十八？", "好意思卖"),
        ("修了三次还是一样，你们到底会不会修？", "到底会不会"),
        ("真是太棒了，等了三个小时才上菜", "sarcasm:太棒了"),
        ("效率真高啊，退个款退了一个月", "sarcasm:效率真高"),
        ("谢谢你们让我在寒风里等了半小时", "谢谢你们让我在寒风里等"),
        ("本以为是实木的，没想到是压缩板", "unmet:本以为"),
        ("宣传说续航十小时，实际三小时就没电了", "unmet:宣传说"),
        ("说是包邮，下单以后又让补运费", "unmet:说是"),
        ("还不如我自己做的", "还不如"),
        ("第三次了，同样的问题", "同样的问题"),
        ("已经是第三次了", "已经是第三次了"),
        ("又是这样，每次都要催", "每次都要催"),
        ("保险理赔材料交了四次，每次都说少东西", "每次都说"),
        ("给个说法", "给个说法"),
        ("必须给我换一个新的", "必须给我换"),
        ("这个月第二次停水了，一点通知都没有", "一点通知都没有"),
        ("搬家公司报价八百，搬完要一千五", "报价八百，搬完要一千五"),  # the cue's match is the driver
        ("买的是128G，到手一看是64G的", "wrong_item"),
        ("房间里的空调开了一晚上还是热的", "waiting:一晚上还是"),
        ("客服每次都说在加急处理，加急了十天", "waiting:加急了十天"),
        ("真有你们的，连发票都能开错", "fault:开错"),
        ("期待了很久，结果就这", "就这"),
    ],
)
def test_implicit_complaints_are_negative_and_name_their_mechanism(text, driver):
    result = analyze(text)
    assert (result.sentiment, result.category) == ("negative", "complaint"), (text, result.drivers)
    assert driver in result.drivers


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("本来怕排队，结果进去就有位置", "relief:本来怕"),
        ("以为要等很久，没想到五分钟就叫到号了", "relief:以为"),
        ("之前在别家踩过坑，这家完全没问题", "other:坑"),
        ("别家都很贵，这家便宜", "other:贵"),
        ("比想象中的好", "比想象中的好"),
        ("以前觉得贵，用过以后觉得值", "值"),
    ],
)
def test_an_expectation_exceeded_or_a_competitor_blamed_is_praise(text, driver):
    result = analyze(text)
    assert result.sentiment == "positive", (text, result.drivers)
    assert driver in result.drivers


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("本以为便宜没好货，没想到质量这么好", "positive"),  # the outcome decides
        ("原本担心尺码不合适，结果刚刚好", "positive"),  # the worry does not count
        ("真是太棒了，完全符合预期", "positive"),  # praise with no problem is not sarcasm
        ("很好吃，就是等了一个小时", "positive"),  # a reservation said as one is sincere
        ("虽然等了一个小时，但是很好吃", "positive"),
        ("谢谢师傅，辛苦了", "positive"),
        ("隔壁很吵", "negative"),  # a hotel's next room is no competitor
        ("客服说明天发货", "neutral"),  # a claim with nothing after it
        ("我还以为是真皮的", "neutral"),
        ("尺码偏大还是偏小？", "neutral"),  # a choice question's options
        ("麻烦查一下", "neutral"),  # 麻烦 before a verb asks
        ("请问退款一般几天到账？", "neutral"),
        ("别担心，没问题", "positive"),
        ("本来想买黑色的，最后选了白色", "neutral"),  # an intent is no expectation
        ("第二次了，这次想试试新口味", "neutral"),
        ("谢谢你们让我度过了愉快的假期", "positive"),  # thanks for no harm
        ("又一次被惊艳到", "positive"),
        ("不要再迟到了", "negative"),  # 不要再 asks to stop: 迟到 is not negated
        ("把钱退给我，别再拖了", "negative"),
        ("刚修好没两天又漏水了", "negative"),  # 没两天 counts time, it negates nothing
        ("没几天就坏了", "negative"),
        ("护士打针一点都不疼", "positive"),
        ("搬家师傅很小心，一件东西都没磕坏", "positive"),
    ],
)
def test_what_the_mechanisms_leave_alone(text, sentiment):
    assert analyze(text).sentiment == sentiment, analyze(text).drivers


def test_a_polite_complaint_is_a_complaint_and_a_polite_question_asks():
    assert analyze("这次体验不太理想，希望能重视一下").category == "complaint"
    assert analyze("建议账单里把每一项费用写清楚").category == "suggestion"
    assert analyze("请问退款一般几天到账？").category == "inquiry"
