"""The ten rules in docs/rules.md are valid and do what the text says."""

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def doc_rule_set() -> dict:
    """The fenced ``rules:`` block of docs/rules.md, as the YAML document a reader applies."""
    blocks = re.findall(r"```yaml\n(rules:\n.*?)```", DOC.read_text("utf-8"), re.S)
    assert len(blocks) == 1
    return yaml.safe_load(blocks[0])


def doc_rules():
    return [dict(r, version=1) for r in load_rules(doc_rule_set())]


def event(n, text, **extra):
    return {
        "source": "app",
        "event_id": f"e{n}",
        "occurred_at": datetime(2026, 11, 20, 10, n, tzinfo=UTC),
        "customer": {"id": f"C{n}", "tier": "standard", "attributes": {"region": "华东"}},
        "channel": "app",
        "text": text,
        **extra,
    }


def fired(rules, ev):
    return {o.rule_id for o in Engine(MemoryState()).process(rules, ev, NOW) if o.outcome == "raised"}


def test_the_ten_documented_rules_are_valid_and_distinct():
    rules = doc_rules()
    assert len(rules) == 10 and len({r["id"] for r in rules}) == 10


def test_documented_rules_fire_as_described():
    rules = doc_rules()
    assert "complaint-wording" in fired(rules, event(1, "再不处理我就打12315投诉"))
    assert "complaint-wording" not in fired(rules, event(2, "不是投诉，只是建议"))
    assert "product-suggestion" in fired(rules, event(2, "不是投诉，只是建议说明书写简单点"))
    assert {"bad-first-impression", "complaint-wording"} <= fired(
        rules, event(3, "我要退款", scores={"nps": 2})
    )
    assert "vip-detractor" in fired(
        rules, dict(event(4, "一般"), customer={"id": "V1", "tier": "vip"}, scores={"csat": 1})
    )
    assert "delivery-install-trouble" in fired(
        rules, event(5, "安装师傅迟到了4个小时", touchpoint="installation")
    )
    assert "unexpected-charges" in fired(rules, event(6, "安装师傅收了58元的材料费"))
    assert "hotline-effort" in fired(rules, event(7, "客服电话打不通", channel="phone"))
    assert "churn-threat-east" in fired(rules, event(8, "再掉线我就销户"))
    assert "churn-threat-east" not in fired(rules, event(9, "再掉线我就销户", channel="social"))
