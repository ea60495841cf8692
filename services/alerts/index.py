"""Rule index: an event reaches only the rules that could match it.

For every condition (a rule's ``when``, a ``count`` window's ``where``, a
``no_response`` window's ``after``) we derive a *guard*: a set of keys such
that, whenever the condition is true on an event, the event produces at least
one of those keys. The index maps each key to the conditions guarded by it;
an event's keys are looked up, and only those conditions (plus the ones that
have no guard, the always-evaluate list) are evaluated. Evaluation itself is
unchanged, so an indexed run gives exactly the answers of a brute-force run
(the property test in tests/unit/test_rule_index.py checks it). One visible
difference: an alert's ``facts`` lists the derived facts computed so far on the
event, which depends on which other rules were evaluated first (as it always did
with rule order), so it may now hold fewer or more of them.

Guards (``None`` = no guard, always evaluate):

* ``eq`` / ``in`` on any field but ``is_first_contact``: ``(eq, field, value)``;
* ``lt`` / ``lte`` / ``gt`` / ``gte`` / ``between`` on a score
  (``scores.nps``, ``scores.csat``, ``scores.ces``): ``(range, field, bucket)``
  for every whole-number bucket the range can reach, out-of-scale values
  clamped to one bucket below and one above the scale;
* ``contains_any`` / ``contains_all``: per keyword, its first word as a text
  anchor (``(word, field, w)``, or ``(sub, field, w)`` where a Chinese keyword
  may match inside a longer word) and its item form for list fields
  (``(item, field, k)``); ``contains_all`` needs only one of its keywords;
* ``all``: the guard of one child (the one with the fewest keys);
* ``any``: the union of its children's guards (none if any child has none);
* ``not``, ``ne``, ``not_in``, ``exists``, ``regex``, ``starts_with``,
  ``contains`` and windows: none; a ``no_response`` window never matches an
  event (its timer raises it), so its guard is empty.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from services.alerts.conditions import SCORES, parse_duration, window_key, windows_of
from services.alerts.facts import MISSING, Facts
from textanalysis import text as textmod
from textanalysis.text import _ENGLISH_WORD, Analyzer

UNINDEXED_FIELDS = ("is_first_contact",)  # reads state: never derived just to look it up
RANGE_OPS = ("lt", "lte", "gt", "gte", "between")


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _scale(field: str) -> tuple[int, int] | None:
    if field.startswith("scores.") and field[7:] in SCORES:
        low, high = SCORES[field[7:]]
        return low - 1, high + 1
    return None


def _bucket(value: float, scale: tuple[int, int] | None) -> int | None:
    if scale is None or isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    low, high = scale
    if math.isinf(value):
        return high if value > 0 else low
    return min(max(math.floor(value), low), high)


def _range_guard(field: str, op: str, value: Any) -> frozenset | None:
    scale = _scale(field)
    if scale is None:
        return None
    low, high = {
        "lt": (-math.inf, value),
        "lte": (-math.inf, value),
        "gt": (value, math.inf),
        "gte": (value, math.inf),
        "between": tuple(value) if isinstance(value, list) else (None, None),
    }[op]
    first, last = _bucket(low, scale), _bucket(high, scale)
    if first is None or last is None:
        return None
    return frozenset(("range", field, b) for b in range(first, last + 1))


def _keyword_keys(field: str, keyword: Any, analyzer: Analyzer) -> frozenset | None:
    text = str(keyword)
    form = analyzer.keyword_form(text)
    if not form:
        return None
    head, joined = form[0], "".join(form)
    # find_keyword: a Chinese keyword of 2+ characters also matches inside a word, a keyword
    # of several words joined too (送货 慢 in 送货慢)
    chinese = len(joined) >= 2 and not any(_ENGLISH_WORD.match(w) for w in form)
    keys = {("item", field, text.strip().lower())}
    if chinese:
        keys.add(("sub", field, joined))
    if not chinese or len(form) > 1:
        keys.add(("word", field, head))
    return frozenset(keys)


def guard(node: dict, analyzer: Analyzer | None = None) -> frozenset | None:
    """Keys of which an event that satisfies ``node`` has at least one; None if unknown.

    Keyword keys are the keywords as ``analyzer`` segments them (default: the current one).
    """
    analyzer = analyzer or textmod.current()
    if "all" in node:
        best: frozenset | None = None
        for child in node["all"]:
            narrow = guard(child, analyzer)
            if narrow is not None and (best is None or len(narrow) < len(best)):
                best = narrow
        return best
    if "any" in node:
        keys: set = set()
        for child in node["any"]:
            sub = guard(child, analyzer)
            if sub is None:
                return None
            keys |= sub
        return frozenset(keys)
    if "not" in node:
        return None
    if "window" in node:
        return frozenset() if "no_response" in node["window"] else None
    field, op = node["field"], node["op"]
    value: Any = node.get("value")
    if op in ("eq", "in") and field not in UNINDEXED_FIELDS:
        values = [value] if op == "eq" else value
        if not all(_hashable(v) for v in values):
            return None
        return frozenset(("eq", field, v) for v in values)
    if op in RANGE_OPS:
        return _range_guard(field, op, value)
    if op in ("contains_any", "contains_all"):
        keywords = value if op == "contains_any" else value[:1]
        found: set = set()
        for keyword in keywords:
            words = _keyword_keys(field, keyword, analyzer)
            if words is None:
                return None
            found |= words
        return frozenset(found)
    return None


class ConditionIndex:
    """Items guarded by conditions; ``candidates(facts)`` in insertion order."""

    def __init__(
        self, entries: Iterable[tuple[Any, dict]], indexed: bool = True, analyzer: Analyzer | None = None
    ):
        self.items: list[Any] = []
        self.always: list[int] = []
        self.keys: dict[tuple, list[int]] = defaultdict(list)
        self.eq_fields: set[str] = set()
        self.range_fields: set[str] = set()
        self.text_fields: set[str] = set()
        self.sub_lengths: dict[str, set[int]] = defaultdict(set)
        for position, (item, condition) in enumerate(entries):
            self.items.append(item)
            keys = guard(condition, analyzer) if indexed else None
            if keys is None:
                self.always.append(position)
                continue
            for key in keys:
                self.keys[key].append(position)
                kind, field, value = key
                if kind == "eq":
                    self.eq_fields.add(field)
                elif kind == "range":
                    self.range_fields.add(field)
                else:
                    self.text_fields.add(field)
                    if kind == "sub":
                        self.sub_lengths[field].add(len(value))
        self.keys = dict(self.keys)

    def __len__(self) -> int:
        return len(self.items)

    def event_keys(self, facts: Facts) -> Iterable[tuple]:
        for field in self.eq_fields:
            actual = facts.get(field)
            if actual is not MISSING and _hashable(actual):
                yield ("eq", field, actual)
        for field in self.range_fields:
            bucket = _bucket(facts.get(field), _scale(field))
            if bucket is not None:
                yield ("range", field, bucket)
        for field in self.text_fields:
            actual = facts.get(field)
            if isinstance(actual, list):
                for item in actual:
                    yield ("item", field, str(item).strip().lower())
            elif isinstance(actual, str):
                analysis = facts.text() if field == "text" else None
                words = {t.word for t in (analysis or facts.analyzer.analyze(actual)).tokens}
                lengths = self.sub_lengths.get(field, ())
                for word in words:
                    yield ("word", field, word)
                    for size in lengths:
                        for start in range(len(word) - size + 1):
                            yield ("sub", field, word[start : start + size])

    def candidates(self, facts: Facts) -> list[Any]:
        if not self.keys:
            return [self.items[p] for p in self.always]
        found = set(self.always)
        for key in self.event_keys(facts):
            hits = self.keys.get(key)
            if hits:
                found.update(hits)
        return [self.items[p] for p in sorted(found)]


class RuleIndex:
    """The enabled rules of a rule set, indexed for ``Engine.process``.

    ``indexed=False`` gives the brute-force behaviour (every rule evaluated),
    which tests and the benchmark compare against.
    """

    def __init__(self, rules: Iterable[dict], indexed: bool = True, analyzer: Analyzer | None = None):
        # keywords are indexed as this analyzer segments them: evaluate with the same one
        self.analyzer = analyzer = analyzer or textmod.current()
        self.indexed = indexed
        self.rules = [r for r in rules if r.get("enabled", True) and not r.get("deleted")]
        self.by_id = {r["id"]: r for r in self.rules}
        customer = [r for r in self.rules if not r.get("group")]
        self.when = ConditionIndex(((r, r["when"]) for r in customer), indexed, analyzer)
        # group rules (services/alerts/group_rules.py): guarded by the ``when`` that
        # picks the events their groups count
        grouped = ((r, r["when"]) for r in self.rules if r.get("group"))
        self.grouped = ConditionIndex(grouped, indexed, analyzer)
        counted: list = []
        waiting: list = []
        scores: dict = {}
        for rule in customer:
            for _, spec in windows_of(rule["when"]):
                if "count" in spec:
                    counted.append(((rule, spec), spec["count"]["where"]))
                elif "no_response" in spec:
                    waiting.append(((rule, spec), spec["no_response"]["after"]))
                else:
                    body = spec["score_drop"]
                    keep = parse_duration(body["within"])
                    scores[body["score"]] = max(keep, scores.get(body["score"], 0))
        self.counted = ConditionIndex(counted, indexed, analyzer)
        self.waiting = ConditionIndex(waiting, indexed, analyzer)
        # score → longest score_drop window over it: every event with the score is recorded
        self.scores = scores
        self._window_keys: dict[tuple[str, int], tuple[dict, str]] = {}

    def window_key(self, rule_id: str, spec: dict) -> str:
        """``engine.window_key``, computed once per window of this rule set."""
        found = self._window_keys.get((rule_id, id(spec)))
        if found is None or found[0] is not spec:
            found = self._window_keys[(rule_id, id(spec))] = (spec, window_key(rule_id, spec))
        return found[1]

    def __len__(self) -> int:
        return len(self.rules)

    def stats(self) -> dict:
        return {
            "rules": len(self.rules),
            "always": len(self.when.always),
            "keys": len(self.when.keys),
            "windows_always": len(self.counted.always) + len(self.waiting.always),
            "group_rules": len(self.grouped),
            "group_always": len(self.grouped.always),
        }
