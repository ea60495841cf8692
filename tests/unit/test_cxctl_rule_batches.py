"""cxctl rules apply: a rule set of any size goes through the RPC limits in batches."""

from __future__ import annotations

import json

import pytest
from nameko import config

from cxctl.alerts import RULES_PER_CALL, apply_rule_set, rule_batches
from services.alerts.rules import RuleError
from services.common import settings


def rule(n: int) -> dict:
    return {
        "id": f"store-{n}-low-nps",
        "name": f"门店 {n} 低分 / store {n} low NPS",
        "level": "P3",
        "owner": {"kind": "person", "id": f"manager-{n}"},
        "channels": ["email"],
        "when": {
            "all": [
                {"field": "store.id", "op": "eq", "value": f"S{n}"},
                {"field": "scores.nps", "op": "lte", "value": 6},
            ]
        },
    }


class LimitedApply:
    """The apply_rules RPC as the guard sees it: bounded payload and entries per call."""

    def __init__(self):
        self.calls: list[int] = []
        self.stored: dict[str, dict] = {}

    def __call__(self, document: dict) -> dict:
        size = len(json.dumps(document, ensure_ascii=False).encode("utf-8"))
        assert size <= settings.get("RPC_MAX_BYTES") and len(document["rules"]) <= settings.get(
            "RPC_MAX_ITEMS"
        )
        self.calls.append(len(document["rules"]))
        summary = {"created": [], "updated": [], "unchanged": []}
        for r in document["rules"]:
            key = "unchanged" if self.stored.get(r["id"]) == r else "created"
            self.stored[r["id"]] = r
            summary[key].append(r["id"] if key == "unchanged" else f"{r['id']}@v1")
        return summary


# the limits scaled down 20 times (the defaults: 4 MiB, 10,000 entries), to keep the test quick
SMALL_LIMITS = {"RPC_MAX_BYTES": 4 * 1024 * 1024 // 20, "RPC_MAX_ITEMS": 10_000 // 20}


@pytest.fixture
def small_limits():
    with config.patch(SMALL_LIMITS):
        yield


def test_a_rule_set_over_the_rpc_limits_is_applied_in_batches(small_limits):
    document = {"rules": [rule(n) for n in range(1_500)]}
    whole = len(json.dumps(document, ensure_ascii=False).encode("utf-8"))
    # one call would be refused on both counts
    assert whole > settings.get("RPC_MAX_BYTES") and 1_500 > settings.get("RPC_MAX_ITEMS")
    apply = LimitedApply()
    summary = apply_rule_set(apply, document, per_call=250)
    assert apply.calls == [250] * 6
    assert len(summary["created"]) == 1_500 and len(apply.stored) == 1_500
    # applied again (e.g. after a run cut off half-way): nothing changes
    again = apply_rule_set(apply, [rule(n) for n in range(1_500)], per_call=250)
    assert len(again["unchanged"]) == 1_500 and not again["created"]


def test_the_default_batch_fits_the_default_limits():
    batch = {"rules": [rule(10**9 + n) for n in range(RULES_PER_CALL)]}
    assert len(json.dumps(batch, ensure_ascii=False).encode("utf-8")) * 4 < settings.get("RPC_MAX_BYTES")
    assert RULES_PER_CALL * 4 <= settings.get("RPC_MAX_ITEMS")


def test_one_bad_rule_stores_nothing_and_is_named_by_its_place_in_the_file():
    rules = [rule(n) for n in range(1_200)]
    rules[1_100]["level"] = "P9"
    apply = LimitedApply()
    with pytest.raises(RuleError) as info:
        apply_rule_set(apply, rules)
    assert apply.calls == []
    assert any(e.startswith("rules.1100.level:") for e in info.value.errors)


def test_batches_also_close_on_size():
    rules = [rule(n) for n in range(10)]
    weight = len(json.dumps(rules[0], ensure_ascii=False).encode("utf-8"))
    batches = rule_batches(rules, per_call=500, max_bytes=3 * weight + weight // 2)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [len(b) for b in rule_batches(rules, per_call=500, max_bytes=1)] == [1] * 10  # one alone
