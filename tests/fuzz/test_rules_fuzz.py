"""The rule-language validator under hostile documents: load, or RuleError naming the path.

Valid rules are drawn from the language (conditions, groups, windows, dedup,
throttle, active hours), then one place in them is replaced by something
hostile: a value of the wrong type at any depth (unhashable ones where a name
is expected), deep nesting, huge lists and strings, non-finite numbers,
invalid or catastrophic regular expressions. ``load_rules`` must return or
raise RuleError whose lines are ``path: message``, short, and name the
replaced place; any other exception fails the test.
"""

import math
import re
import subprocess
import sys
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.messages import LEVELS, OWNER_KINDS
from services.alerts.conditions import CHANNELS, MAX_ERRORS, MAX_SHOWN, regex_problem
from services.alerts.rules import RuleError, load_rules
from tests.fuzz.budget import DOCUMENT_SETTINGS

pytestmark = pytest.mark.unit


SAFE_REGEXES = [
    "退款|refund",
    r"^\d{11}$",
    "(foo|bar)baz",
    "a+b+c+",
    r"[\w\s]+",
    r"https?://\S+",
    "(?:ab)+c",
    "(退款|退货|投诉)+",
    r"(\d{3}-)+\d{4}",
    "(foo|foobar)+",
    r"(\s*,\s*\w+)*",
    r"^(\w+\.)*\w+$",
    r"(\S+\s+){3,}",
    r"(\w|\d)+",
    "(a|ab)+",
    "(x(a|aa))+",
    "(a++)+",
    "(?>a+)+b",
]
CATASTROPHIC = [
    "(a+)+$",
    "(a*)*b",
    "(x+x+)+y",
    "(.*a){12}",
    "(a|aa)+$",
    "(a|a)+$",
    "(ab|a|b)+$",
    "((ab)*)+c",
    r"(\w+\s?)+$",
    r"^(\d+)*$",
    r"(\d+|x)+$",
    "(a|a?)+$",
    "([a-z]+)*@",
    "(a{1,200})+$",
]
INVALID_REGEXES = ["(", "[", "a{2,1}", "(?P<x>", "\\", "*a", "(?<=a+)b"]

FIELDS = st.sampled_from(
    ["scores.nps", "scores.csat", "channel", "touchpoint", "text", "tags", "customer.tier"]
)
SCALARS = st.one_of(st.text(max_size=10), st.integers(-100, 100), st.booleans())
NUMBERS = st.one_of(st.integers(-100, 100), st.floats(-100, 100))


TEXT_OPS = ("regex", "starts_with", "contains_any", "contains_all")


def _leaf(op: str, value) -> dict:
    return {"field": "text" if op in TEXT_OPS else "scores.nps", "op": op, "value": value}


LEAVES = st.one_of(
    st.builds(
        lambda f, o, v: {"field": f, "op": o, "value": v}, FIELDS, st.sampled_from(["eq", "ne"]), SCALARS
    ),
    st.builds(lambda o, v: _leaf(o, v), st.sampled_from(["lt", "lte", "gt", "gte"]), NUMBERS),
    st.builds(lambda a, b: _leaf("between", sorted([a, b])), NUMBERS, NUMBERS),
    st.builds(
        lambda o, v: _leaf(o, v), st.sampled_from(["in", "not_in"]), st.lists(SCALARS, min_size=1, max_size=4)
    ),
    st.builds(lambda f: {"field": f, "op": "exists"}, FIELDS),
    st.builds(
        lambda o, v: _leaf(o, v),
        st.sampled_from(["contains_any", "contains_all"]),
        st.lists(st.sampled_from(["退款", "慢", "refund", "12315"]), min_size=1, max_size=3),
    ),
    st.builds(lambda v: _leaf("starts_with", v), st.text(max_size=5)),
    st.builds(lambda v: _leaf("regex", v), st.sampled_from(SAFE_REGEXES)),
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"any": c}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=6,
)
WINDOWS = st.one_of(
    st.builds(
        lambda n, w, where: {"window": {"count": {"at_least": n, "within": w, "where": where}}},
        st.integers(1, 50),
        st.sampled_from(["30m", "24h", "7d"]),
        CONDITIONS,
    ),
    st.builds(
        lambda s, by, w: {"window": {"score_drop": {"score": s, "by": by, "within": w}}},
        st.sampled_from(["nps", "csat", "ces"]),
        st.integers(1, 5),
        st.sampled_from(["7d", "30d"]),
    ),
)
WHEN = st.one_of(CONDITIONS, st.builds(lambda c, w: {"all": [c, w]}, CONDITIONS, WINDOWS), WINDOWS)
RULES = st.fixed_dictionaries(
    {
        "id": st.from_regex(r"^[a-z0-9][a-z0-9_-]{0,20}$", fullmatch=True),
        "name": st.text(min_size=1, max_size=30),
        "level": st.sampled_from(LEVELS),
        "owner": st.fixed_dictionaries(
            {"kind": st.sampled_from(OWNER_KINDS), "id": st.text(min_size=1, max_size=20)}
        ),
        "channels": st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True),
        "when": WHEN,
    },
    optional={
        "tags": st.lists(st.text(min_size=1, max_size=10), max_size=3),
        "enabled": st.booleans(),
        "dedup": st.fixed_dictionaries(
            {
                "by": st.lists(st.sampled_from(["channel", "touchpoint"]), unique=True),
                "cooldown": st.just("2h"),
            }
        ),
        "throttle": st.fixed_dictionaries({"max_alerts": st.integers(1, 10), "per": st.just("1h")}),
        "active_hours": st.fixed_dictionaries({"from": st.just("09:00"), "to": st.just("18:00")}),
    },
)


def _deep(depth: int):
    node: object = 1
    for _ in range(depth):
        node = [node]
    return node


class Big:
    """A huge or deep value, built only when used: hypothesis prints drawn values, and
    printing a list nested 5,000 deep overflows its printer's stack."""

    def __init__(self, kind: str, size: int):
        self.kind, self.size = kind, size

    def build(self):
        return {"deep": _deep, "list": lambda n: list(range(n)), "text": lambda n: "x" * n}[self.kind](
            self.size
        )

    def __repr__(self):
        return f"Big({self.kind!r}, {self.size})"


HOSTILE = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3),  # unhashable where a name is expected
    st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=3),
    st.builds(Big, st.just("deep"), st.integers(50, 5000)),
    st.builds(Big, st.just("list"), st.integers(1001, 30_000)),
    st.builds(Big, st.just("text"), st.integers(1000, 200_000)),
    st.sampled_from([float("nan"), float("inf"), 10**40, -(10**40), None, 1.5, date(2026, 11, 20), ""]),
    st.integers(),
    st.text(max_size=20),
    st.sampled_from(INVALID_REGEXES + CATASTROPHIC),
)
# places where no structured value (list, object, null, date) or non-finite number is
# valid (a condition's value may be a list, throttle and active_hours may be null)
STRICT_KEYS = {
    "id", "name", "level", "owner", "kind", "channels", "tags", "enabled", "when", "all", "any",
    "not", "window", "count", "score_drop", "op", "field", "at_least", "within", "score", "by",
    "dedup", "cooldown", "max_alerts", "per", "from", "to",
}  # fmt: skip


def _paths(node, path=()):
    """Every (path, key) in a document, the document itself excluded."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield (*path, key)
        yield from _paths(child, (*path, key))


def _replace(document, path, value):
    if not path:
        return value
    head, *rest = path
    if isinstance(document, dict):
        return {**document, head: _replace(document[head], rest, value)}
    copy = list(document)
    copy[head] = _replace(copy[head], rest, value)
    return copy


@st.composite
def mutated(draw):
    rule = draw(RULES)
    paths = list(_paths(rule))
    path = draw(st.sampled_from(paths))
    value = draw(HOSTILE)
    return rule, path, value


def _check_errors(errors: list[str]) -> None:
    assert 1 <= len(errors) <= MAX_ERRORS + 1
    for line in errors:
        where, _, message = line.partition(": ")
        assert message, line
        assert where == "_schema" or where.startswith("rules"), line
        assert len(line) < 1000, line[:200]


@DOCUMENT_SETTINGS
@given(RULES)
def test_drawn_rules_are_valid(rule):
    [loaded] = load_rules([rule])
    assert loaded["id"] == rule["id"]


@DOCUMENT_SETTINGS
@given(mutated())
def test_a_hostile_value_anywhere_loads_or_names_its_path(case):
    rule, path, value = case
    value = value.build() if isinstance(value, Big) else value
    document = [_replace(rule, path, value)]
    try:
        load_rules(document)
    except RuleError as exc:
        _check_errors(exc.errors)
        target = ".".join(["rules", "0", *map(str, path)])
        named = [line.partition(": ")[0] for line in exc.errors]
        assert any(target.startswith(n) or n.startswith(target) for n in named), (target, exc.errors)
    else:
        key = path[-1]
        slot = path[-2] if isinstance(key, int) else key  # an item of channels, all, any, by, tags
        structured = isinstance(value, (list, dict, date)) or value is None
        non_finite = isinstance(value, float) and not math.isfinite(value)
        assert slot not in STRICT_KEYS or not (structured or non_finite), (path, str(value)[:100])


@DOCUMENT_SETTINGS
@given(RULES, st.sampled_from(INVALID_REGEXES + CATASTROPHIC + ["a" * 501]))
def test_invalid_and_catastrophic_regexes_are_refused_at_the_value(rule, pattern):
    rule = {**rule, "when": {"all": [rule["when"], {"field": "text", "op": "regex", "value": pattern}]}}
    with pytest.raises(RuleError) as caught:
        load_rules([rule])
    assert any(line.startswith("rules.0.when.all.1.value: ") for line in caught.value.errors), (
        caught.value.errors
    )


def test_deep_groups_and_huge_documents_are_refused_quickly():
    nested: dict = {"field": "scores.nps", "op": "lte", "value": 6}
    for _ in range(5000):
        nested = {"not": nested}
    base = {
        "id": "r",
        "name": "r",
        "level": "P2",
        "owner": {"kind": "person", "id": "x"},
        "channels": ["email"],
    }
    for when, where in [
        (nested, "rules.0.when"),
        ({"any": [{"field": "x", "op": "eq", "value": 1}] * 50_000}, "rules.0.when.any"),
        ({"field": "x", "op": "in", "value": [_deep(3000)]}, "rules.0.when.value"),
    ]:
        with pytest.raises(RuleError) as caught:
            load_rules([{**base, "when": when}])
        assert caught.value.errors[0].startswith(where), caught.value.errors[:2]
    with pytest.raises(RuleError) as caught:
        load_rules([{**base, "channels": ["pager"] * 100_000, "when": {"field": "x", "op": "exists"}}])
    assert len(caught.value.errors) == MAX_ERRORS + 1 and "more errors" in caught.value.errors[-1]
    with pytest.raises(RuleError) as caught:
        load_rules([{**base, "when": {"field": "x", "op": ["lte"] * 100_000, "value": 1}}])
    assert len(caught.value.errors[0]) < 300 and len(repr(["lte"])) < MAX_SHOWN


# texts that make a backtracking shape explode: runs of one character or pair, then a misfit
HOSTILE_TEXTS = ["a" * 40 + "!", "ab" * 30 + "!", "x" * 40, "1" * 40 + "!", "a " * 30 + "!", "a." * 40 + "!"]


def _slow(pattern: str, seconds: float) -> bool:
    """Whether Python's re, in a child we can kill, needs more than ``seconds`` on HOSTILE_TEXTS."""
    probe = f"import re\nfor t in {HOSTILE_TEXTS!r}: re.search({pattern!r}, t)"
    try:
        subprocess.run([sys.executable, "-c", probe], timeout=seconds, check=True)
    except subprocess.TimeoutExpired:
        return True
    return False


def test_the_regex_check_matches_what_re_really_does():
    assert [p for p in SAFE_REGEXES if regex_problem(p)] == []
    assert [p for p in CATASTROPHIC if not regex_problem(p)] == []
    # the passed ones are fast on the texts that break the refused ones, and the
    # refused ones are really slow there (a sample: each costs the full timeout)
    assert not _slow("|".join(f"(?:{p})" for p in SAFE_REGEXES), 5)
    assert [p for p in ("(a+)+$", "(a|aa)+$", r"(\d+|x)+$") if not _slow(p, 0.5)] == []
    assert re.search("[\\w\\s]+", "x y")  # what docs/rules.md suggests instead
