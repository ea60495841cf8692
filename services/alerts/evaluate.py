"""Evaluate rule conditions against a feedback event: pure code, no I/O.

``evaluate(condition, event)`` returns ``(matched, trace)``; the trace lists
each leaf condition with the value it saw and its outcome, which is what
"why did this alert fire" shows.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

MISSING = object()


def resolve(event: dict, path: str) -> Any:
    """Value at a dotted path of the event, or MISSING."""
    value: Any = event
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def evaluate(node: dict, event: dict, path: str = "when") -> tuple[bool, list[dict]]:
    """Evaluate a validated condition tree. Groups short-circuit like Python."""
    if "all" in node or "any" in node:
        group = "all" if "all" in node else "any"
        trace: list[dict] = []
        for i, child in enumerate(node[group]):
            ok, sub = evaluate(child, event, f"{path}.{group}.{i}")
            trace += sub
            if group == "all" and not ok:
                return False, trace
            if group == "any" and ok:
                return True, trace
        return group == "all", trace
    if "not" in node:
        ok, trace = evaluate(node["not"], event, f"{path}.not")
        return not ok, trace
    actual = resolve(event, node["field"])
    result = _compare(node["op"], actual, node.get("value"))
    return result, [
        {
            "path": path,
            "field": node["field"],
            "op": node["op"],
            "value": node.get("value"),
            "actual": _shown(actual),
            "result": result,
        }
    ]


def alert_id_for(rule_id: str, event: dict) -> str:
    """One alert per rule per event, whatever the rule's version: a stable id."""
    key = f"{rule_id}\x1f{event['source']}\x1f{event['event_id']}"
    return "AL-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def event_summary(event: dict) -> dict:
    summary = {k: event[k] for k in ("source", "event_id", "occurred_at", "channel")}
    for key in ("touchpoint", "text", "tags", "scores"):
        if key in event:
            summary[key] = event[key]
    return summary


def match_rules(rules: list[dict], event: dict, now: datetime) -> list[dict]:
    """The alerts that ``event`` raises under the enabled ``rules`` (pure)."""
    alerts = []
    for rule in rules:
        if not rule.get("enabled", True):
            continue
        matched, trace = evaluate(rule["when"], event)
        if not matched:
            continue
        customer = event["customer"]
        alerts.append(
            {
                "_id": alert_id_for(rule["id"], event),
                "raised_at": now,
                "level": rule["level"],
                "rule": {"id": rule["id"], "version": rule["version"], "name": rule["name"]},
                "owner": rule["owner"],
                "channels": rule["channels"],
                "customer": {k: customer[k] for k in ("id", "name", "tier") if k in customer},
                "event": event_summary(event),
                "trace": trace,
            }
        )
    return alerts
