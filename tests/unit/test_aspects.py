"""Aspects: what a comment is about, in the text analysis and as the ``aspects`` rule fact."""

import json
from datetime import UTC, datetime

import pytest

from services.alerts.engine import Engine
from services.alerts.evaluate import evaluate
from services.alerts.facts import Facts
from services.alerts.index import RuleIndex
from services.alerts.memory import MemoryState
from services.alerts.rules import RuleError
from tests.unit.test_engine import rules
from textanalysis.text import ASPECT_TERMS, ASPECTS, analyze, segment

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_the_aspect_set_is_the_documented_one():
    assert ASPECTS == (
        "delivery",
        "price",
        "product_quality",
        "staff_attitude",
        "after_sales",
        "waiting_time",
        "billing",
        "app_website",
    )


@pytest.mark.parametrize(
    "text, aspects",
    [
        ("快递三天还没到", ["delivery"]),
        ("价格太贵了", ["price"]),
        ("用了两天就坏了，做工很差", ["product_quality"]),
        ("在线客服态度恶劣", ["staff_attitude"]),  # 客服 inside a word jieba keeps whole
        ("申请退款一直没人处理", ["after_sales"]),
        ("排队排了一个小时", ["waiting_time"]),
        ("账单上多收了五十块", ["billing"]),
        ("小程序老是闪退", ["app_website"]),  # 小 程序: a term of two words
        ("快递没有丢", ["delivery"]),  # negated, still about delivery
        ("物流很快，但是价格不便宜", ["delivery", "price"]),
        ("The delivery was late and the app crashes", ["app_website", "delivery"]),
        ("I was charged twice on my bill", ["billing"]),
        ("rude staff, waited an hour", ["staff_attitude", "waiting_time"]),
        ("not happy with the refund", ["after_sales"]),
        ("整体很满意，谢谢", []),
        ("thanks, all good", []),
    ],
)
def test_aspects_found_in_chinese_and_english_comments(text, aspects):
    assert list(analyze(text).aspects) == aspects


def test_aspects_name_their_terms_and_stay_json_ready():
    result = analyze("快递太慢了，等了三天，客服也不理人")
    assert result.aspects == ("delivery", "staff_attitude", "waiting_time")
    assert ("delivery", "快递") in result.aspect_terms
    assert ("waiting_time", "等了") in result.aspect_terms
    summary = json.loads(json.dumps(result.summary(), ensure_ascii=False))
    assert summary["aspects"] == ["delivery", "staff_attitude", "waiting_time"]
    assert summary["aspect_terms"]["staff_attitude"] == ["客服"]


def test_every_lexicon_term_finds_its_aspect_on_its_own():
    for form, code in ASPECT_TERMS.items():
        text = " ".join(form) if form[0].isascii() else "".join(form)
        assert code in analyze(text).aspects, (form, code, [t.word for t in segment(text)])


# the rule fact ------------------------------------------------------------------


def ev(n=1, text=None, **extra):
    event = {
        "source": "app",
        "event_id": f"e{n}",
        "occurred_at": T0,
        "customer": {"id": "C1"},
        "channel": "app",
    }
    if text is not None:
        event["text"] = text
    return event | extra


ABOUT_DELIVERY_OR_WAIT = {"field": "aspects", "op": "contains_any", "value": ["delivery", "waiting_time"]}


@pytest.mark.parametrize(
    "text, fires",
    [
        ("快递太慢了", True),
        ("快递没有丢，还行", True),
        ("排队等了好久", True),
        ("价格太贵了", False),
        ("非常满意", False),
        (None, False),  # no text, no aspects
    ],
)
def test_a_rule_on_aspects_through_the_engine(text, fires):
    [rule] = rules({"all": [{"field": "sentiment", "op": "exists"}, ABOUT_DELIVERY_OR_WAIT]})
    [plain] = rules(ABOUT_DELIVERY_OR_WAIT)
    for indexed in (True, False):
        outcomes = Engine(MemoryState()).process(RuleIndex([plain], indexed=indexed), ev(text=text), NOW)
        assert [o.outcome for o in outcomes] == (["raised"] if fires else [])
    assert evaluate(rule["when"], ev(text=text))[0] == fires


def test_aspect_operators_and_trace():
    event = ev(text="账单多收了钱，app 也登录不上")
    both = {"field": "aspects", "op": "contains_all", "value": ["billing", "app_website"]}
    ok, trace = evaluate(both, Facts(event))
    assert ok and trace[0]["matched"] == ["billing", "app_website"]
    assert trace[0]["actual"] == ["app_website", "billing"]
    assert evaluate({"field": "aspects", "op": "contains", "value": "billing"}, event)[0]
    assert not evaluate({"field": "aspects", "op": "contains_all", "value": ["billing", "price"]}, event)[0]
    assert not evaluate({"field": "aspects", "op": "exists"}, ev())[0]
    assert evaluate({"not": ABOUT_DELIVERY_OR_WAIT}, event)[0]


@pytest.mark.parametrize(
    "when, error",
    [
        (
            {"all": [{"field": "aspects", "op": "contains_any", "value": ["delivery", "speed"]}]},
            "rules.0.when.all.0.value: aspects holds delivery, price,",
        ),
        ({"field": "aspects", "op": "contains", "value": "Delivery"}, "rules.0.when.value: aspects holds"),
        ({"field": "aspects", "op": "in", "value": ["delivery"]}, "rules.0.when.op: aspects is a list: use"),
        ({"field": "aspects", "op": "eq", "value": "delivery"}, "rules.0.when.op: aspects is a list: use"),
    ],
)
def test_aspect_rules_are_validated(when, error):
    with pytest.raises(RuleError) as info:
        rules(when)
    assert info.value.errors[0].startswith(error), info.value.errors
    assert "speed" not in error or "'speed'" in info.value.errors[0]
