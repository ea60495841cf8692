"""The second pass on implicit negatives: complaints told as a failure, a delay, blame passed
around, something forced or ignored, harm, ads, effort, rhetorical questions; and the words
that looked like verdicts but tell when (晚点再来), ask (麻烦多给) or mean "almost" (快到期).

The development set (tests/unit/fixtures/reviews_implicit_dev2.jsonl, docs/rules.md
"Implicit negatives, second pass") was written and committed before the analyzer ran on it;
its ``"tune"`` rows were tuned on, its ``"held"`` rows (every third of each label) only
measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.dev_sets import assert_has_shape, assert_meets_floors, part
from textanalysis.text import analyze

DEV_SET = Path(__file__).parent / "fixtures" / "reviews_implicit_dev2.jsonl"
DOMAINS = {"ecommerce", "telecom", "banking", "hotel", "food", "apps", "after_sales"}
# Measured 2026-12-06 (docs/rules.md). Tuned, 136 rows: polarity 70 → 92/94, negatives called
# neutral 17 → 1/52, complaint recall 35 → 51/52 at precision 87.5 → 96.2 %, neutral rows called
# positive or negative 5 → 1/42. Held, 67 rows: 34 → 38/46, 8 → 5/25, 16 → 19/25 at 88.9 →
# 90.5 %, 0 → 0/21. Floors a few points under.
FLOORS = {
    "tune": {"polarity": 0.95, "neutralised": 3, "recall": 0.93, "precision": 0.93, "alarms": 2},
    "held": {"polarity": 0.80, "neutralised": 6, "recall": 0.72, "precision": 0.88, "alarms": 1},
}


def test_the_set_has_its_shape():
    assert_has_shape(
        DEV_SET,
        {"negative": 77, "positive": 63, "neutral": 63},
        {"tune": 136, "held": 67},
        (DOMAINS, {"negative": 11, "positive": 9, "neutral": 9}),
    )


@pytest.mark.parametrize("name", ["tune", "held"])
def test_the_set_meets_its_floors(name):
    assert_meets_floors(part(DEV_SET, name), FLOORS[name])


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("物业让找开发商，开发商让找物业", "物业让找开发商，开发商让找物业"),
        ("门店说是总部的问题，总部说是门店的问题", "门店说是总部的问题，总部说是门店"),
        ("两家互相推，没人管", "互相推"),
        ("非要我本人到场才给办", "非要"),
        ("前台硬是给我们换了个小房间", "硬是"),
        ("特意交代了要打包好，结果散了一地", "交代了要打包好，结果"),
        ("就这还敢叫旗舰店？", "就这还"),
        ("这就是你们的会员专享价？", "这就是你们的会员专享价？"),
        ("这笔钱谁来赔", "这笔钱谁来赔"),
        ("昨晚吃了他家的烤肉，拉了一宿肚子", "拉了一宿肚子"),
        ("打开全是弹窗", "全是弹窗"),
        ("推送的消息比正文还多，广告满天飞", "广告满天飞"),
        ("得爬到楼顶才有信号", "得爬到楼顶才有"),
        ("人脸识别刷了五次才过", "五次才过"),
        ("装了个寂寞", "了个寂寞"),
        ("热线永远是忙音", "永远是忙音"),
        ("同样的价钱在京东能买两瓶", "同样的价钱在京东能"),
        ("打开盒子只剩三个", "打开盒子只剩"),
        ("撞了人连句道歉都没有", "连句道歉都没有"),
        ("等得黄花菜都凉了", "黄花菜都凉了"),
        ("再来我就是小狗", "再来我就是小狗"),
    ],
)
def test_second_pass_complaints_are_negative_and_name_their_cue(text, driver):
    result = analyze(text)
    assert result.sentiment == "negative", (text, result.drivers)
    assert driver in result.drivers


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("押金一周了还冻在卡里", "waiting:一周了还冻"),
        ("第三天了快递还停在中转站", "waiting:三天了快递还停"),
        ("退款说要等五个工作日才到", "waiting:等五个工作日"),
        ("视频看到一半就崩", "fault:崩"),
    ],
)
def test_still_pending_and_crashes_are_facts(text, driver):
    result = analyze(text)
    assert result.sentiment == "negative", (text, result.drivers)
    assert driver in result.drivers


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("提交材料后秒批", "秒批"),
        ("这家的口感一直在线", "口感一直在线"),
        ("前台小哥一会儿就办好了", "fast:一会儿就办好"),
        ("这个app用了两年了从来没崩过", "durable"),
        ("安装师傅很讲究，带了鞋套", "讲究"),
    ],
)
def test_second_pass_praise(text, driver):
    result = analyze(text)
    assert result.sentiment == "positive", (text, result.drivers)
    assert driver in result.drivers


@pytest.mark.parametrize(
    "text",
    [
        "快递到了还没拆，晚点再来评",  # 晚点再 tells when
        "我会晚点到，帮我留一下房",
        "宽带快到期了，续费有没有优惠",  # 快到期: almost, not fast
        "会员快用完了",
        "麻烦多给两双筷子",  # 麻烦 opening a request asks
        "非要说的话，包装可以再好一点",
        "要等几个工作日才能到账？",  # asks how long
        "请问退款一般几天到账",  # a question without its question mark
        "你好，请问退款要几天",
        "同样的价格能买到更大的吗？",
    ],
)
def test_what_the_second_pass_leaves_neutral(text):
    result = analyze(text)
    assert result.sentiment == "neutral", (text, result.drivers)
    assert result.category != "complaint"


@pytest.mark.parametrize(
    "text",
    [
        "吃了三年从来没闹肚子",
        "吃完没拉过肚子",
        "没有硬给我换，尊重我的选择",
        "备注了不要香菜，结果真的没放，好评",
        "同样的价格在别家只能买一件，这家能买两件",
        "航班晚点不是酒店的错，前台还帮我们留了早餐",
    ],
)
def test_negated_or_answered_cues_do_not_blame(text):
    assert analyze(text).sentiment != "negative", analyze(text).drivers


def test_a_delay_and_a_nuisance_still_count():
    assert analyze("航班晚点两个小时").sentiment == "negative"
    assert analyze("退货太麻烦了").sentiment == "negative"
    assert analyze("等了几天还没到").sentiment == "negative"


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("优惠券也没退回来", "也没退"),
        ("停水一整天，也不出个通知", "也不出个通知"),
        ("快递盒子里竟然是空的", "盒子里竟然是空的"),
        ("说帮我升级，然后就没有然后了", "没有然后了"),
        ("账户里莫名少了两百", "莫名少了"),
        ("行李要另外收费，订票时没说", "另外收费"),
        ("运费比东西还贵", "比东西还贵"),
        ("门铃按了好几次才有人开门", "按了好几次才"),
        ("房间和照片差太多", "和照片差太多"),
        ("花钱买了加速包有什么用", "买了加速包有什么用"),
        ("明明已经预约了还要排队", "明明已经预约了还要"),
    ],
)
def test_more_implicit_complaints(text, driver):
    result = analyze(text)
    assert result.sentiment == "negative", (text, result.drivers)
    assert driver in result.drivers


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("说是今天发货，果然今天就发了", "neutral"),  # the claim held: nothing unmet
        ("写着今天发货，确实今天就发了", "neutral"),
        ("标着有货，结果付完款说没货", "negative"),  # a claim and what turned out
        ("里面是空的吗？还是要自己装", "neutral"),
        ("还没退货的话能取消吗", "positive"),  # as before: 退货 negated
        ("用了三年了还没坏", "positive"),
        ("一个月了还没吃腻", "neutral"),  # lasting is no wait
        ("三个月了还没到", "negative"),
        ("装修师傅很细心，垃圾都带走了", "positive"),  # the rubbish itself
        ("这家店真垃圾", "negative"),
        ("垃圾都不如", "negative"),
        ("我都快被感动哭了", "positive"),  # 快被: almost
    ],
)
def test_what_the_third_cues_leave_alone(text, sentiment):
    assert analyze(text).sentiment == sentiment, analyze(text).drivers


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("一个多月了，工单状态没动过", "no_show"),
        ("解锁还得跑柜台", "还得跑"),
        ("第五天了物流还停在中转站", "waiting:五天了物流还停"),
        ("你们家的东西我再买我就是狗", "再买我就是狗"),  # outweighs 再买
        ("等到花儿都谢了", "花儿都谢了"),
        ("提示系统繁忙", "繁忙"),
        ("下单时显示有货，付完款告诉我缺货", "缺货"),
        ("ATM吞卡了", "吞卡"),
    ],
)
def test_facts_and_words_of_the_second_pass(text, driver):
    result = analyze(text)
    assert result.sentiment == "negative", (text, result.drivers)
    assert driver in result.drivers
