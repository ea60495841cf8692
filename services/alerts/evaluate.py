"""Evaluate rule conditions against a feedback event: pure code, no I/O.

``evaluate(condition, event)`` returns ``(matched, trace)``; the trace lists
each leaf condition with the value it saw and its outcome, which is what
"why did this alert fire" shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from contracts.feedback import SCORE_NAMES
from services.alerts.facts import MISSING, Facts, resolve
from textanalysis.text import TextAnalysis

__all__ = ["MISSING", "Facts", "resolve", "evaluate", "alert_id_for", "event_summary"]

# (path, window spec) → (result, what the window saw); supplied by the engine.
WindowCheck = Callable[[str, dict], tuple[bool, dict]]


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _keywords(facts: Facts, field: str, actual: Any, keywords: list) -> list[str]:
    """The keywords found: whole words of a text (negation-aware) or list items."""
    if isinstance(actual, list):
        items = {str(a).strip().lower() for a in actual}
        return [k for k in keywords if str(k).strip().lower() in items]
    if isinstance(actual, str):
        analysis = facts.text() if field == "text" else None
        if analysis is None:
            analysis = facts.analyzer.analyze(actual)
        return [k for k in keywords if facts.analyzer.find_keyword(analysis, str(k))]
    return []


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        wanted = True if expected is None else expected
        return (actual is not MISSING and actual is not None) == wanted
    if actual is MISSING or actual is None:
        # an absent field satisfies only "not equal" / "not in"
        return op in ("ne", "not_in")
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op in ("lt", "lte", "gt", "gte"):
        if not _number(actual):
            return False
        return {
            "lt": actual < expected,
            "lte": actual <= expected,
            "gt": actual > expected,
            "gte": actual >= expected,
        }[op]
    if op == "between":
        return _number(actual) and expected[0] <= actual <= expected[1]
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "contains":
        if isinstance(actual, str):
            return str(expected) in actual
        if isinstance(actual, list):
            return expected in actual
        return False
    if op == "starts_with":
        return isinstance(actual, str) and actual.startswith(expected)
    if op == "regex":
        return isinstance(actual, str) and _regex(expected).search(actual) is not None
    raise ValueError(f"unknown operator {op!r}")  # validation makes this unreachable


def _shown(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    return value


def evaluate(
    node: dict, event: dict | Facts, path: str = "when", windows: WindowCheck | None = None
) -> tuple[bool, list[dict]]:
    """Evaluate a validated condition tree. Groups short-circuit like Python.

    ``event`` is an event or its ``Facts``; ``windows`` answers window
    conditions (the engine's, backed by stored state). Without it a window
    condition is an error: it cannot be answered from one event alone.
    """
    facts = event if isinstance(event, Facts) else Facts(event)
    if "all" in node or "any" in node:
        group = "all" if "all" in node else "any"
        trace: list[dict] = []
        for i, child in enumerate(node[group]):
            ok, sub = evaluate(child, facts, f"{path}.{group}.{i}", windows)
            trace += sub
            if group == "all" and not ok:
                return False, trace
            if group == "any" and ok:
                return True, trace
        return group == "all", trace
    if "not" in node:
        ok, trace = evaluate(node["not"], facts, f"{path}.not", windows)
        return not ok, trace
    if "window" in node:
        if windows is None:
            raise ValueError(f"{path}: a window condition needs stored state (use the engine)")
        kind = next(iter(node["window"]))
        result, seen = windows(path, node["window"])
        return result, [
            {"path": path, "window": kind, "value": node["window"][kind], "actual": seen, "result": result}
        ]
    field, op = node["field"], node["op"]
    actual = facts.get(field)
    entry: dict[str, Any] = {"path": path, "field": field, "op": op, "value": node.get("value")}
    if op in ("contains_any", "contains_all"):
        found = _keywords(facts, field, actual, node["value"])
        result = bool(found) if op == "contains_any" else len(found) == len(node["value"])
        entry["matched"] = found
        if field == "text" and (analysis := facts.text()) is not None and analysis.negated_words():
            entry["negated"] = sorted(analysis.negated_words())
    else:
        result = _compare(op, actual, node.get("value"))
    entry["actual"] = _shown(actual)
    entry["result"] = result
    if field in TEXT_FACTS and (analysis := facts.text()) is not None:
        entry["because"] = because(field, analysis)
    return result, [entry]


# Derived facts read from the comment's analysis: a trace leaf on one names what drove it.
TEXT_FACTS = ("sentiment", "category", "aspects")


def because(field: str, analysis: TextAnalysis) -> dict:
    """The words and features behind a text fact (explain, the case view, dry runs).

    sentiment: what decided it (lexicon or model) and its drivers (不满意 for a negated
    满意; a model's features); category: the cue words, or the sentiment's drivers when
    the score decided; aspects: the terms that found each. Also the lexicon version."""
    why: dict[str, Any] = {"lexicon_version": analysis.lexicon_version}
    if field == "aspects":
        why["terms"] = analysis.summary()["aspect_terms"]
        return why
    why["source"] = analysis.source
    if analysis.model_version and analysis.source == "model":
        why["model_version"] = analysis.model_version
    if field == "category" and analysis.category_cues:
        why["cues"] = list(analysis.category_cues)
    else:
        why["drivers"] = list(analysis.drivers)
    if analysis.negated_words():
        why["negated"] = sorted(analysis.negated_words())
    return why


def alert_id_for(rule_id: str, event: dict) -> str:
    """One alert per rule per event, whatever the rule's version: a stable id."""
    key = f"{rule_id}\x1f{event['source']}\x1f{event['event_id']}"
    return "AL-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


SCALARS = (str, int, float, bool)


def event_summary(event: dict) -> dict:
    summary = {k: event[k] for k in ("source", "event_id", "occurred_at", "channel")}
    for key in ("touchpoint", "text", "tags"):
        if key in event:
            summary[key] = event[key]
    # every alert names the event's attributes (store, region …): which group it belongs to.
    # Only plain values: a nested object is the integration's own and may be anything, even
    # kombu's {"__type__": "datetime", …} marker, which every consumer's decoder would
    # then try to turn into a date (a fuzzed event dead-lettered profiles' alert_raised)
    summary["attributes"] = {
        k: v for k, v in (event.get("attributes") or {}).items() if v is None or isinstance(v, SCALARS)
    }
    if "scores" in event:
        # only the contract's scores: unknown keys are kept on the event, but
        # alert_raised carries integers (an extra {"x": [1]} broke its dispatch)
        summary["scores"] = {k: v for k, v in event["scores"].items() if k in SCORE_NAMES}
    return summary
