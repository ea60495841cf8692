"""Group rules: alerts about a group of events (a store, a touchpoint, a channel …),
not one customer. Pure code: validation of the ``group`` part of a rule, the
counters an event adds to its group, and the condition judged on them.

A group rule is an ordinary rule with a ``group`` part; its ``when`` says which
events count in the group::

    when: {field: touchpoint, op: eq, value: store}
    group:
      by: [attributes.store]            # the group: events sharing these values
      window: 1h                        # judged over the last hour
      score_below: {score: nps, below: 0, min_responses: 20}

Conditions (exactly one):

* ``score_below: {score, below, min_responses}``: the group's NPS (net score,
  -100…100), or its average CSAT / CES, over the window is below ``below`` with at
  least ``min_responses`` responses carrying the score;
* ``spike: {where, factor, weeks, min_count}``: the events matching ``where`` in the
  window are at least ``factor`` × their average in the same window of each of the
  ``weeks`` previous weeks, and at least ``min_count``;
* ``negative_share: {above, min_comments}``: the share of negative comments
  (``sentiment``) among the window's comments is above ``above`` with at least
  ``min_comments`` comments.

State is O(1) per event: counters per (rule, group, bucket) where a bucket is a
sixth of the window, aligned to epoch time; the window is the event's bucket and
the five before it, so it covers between 5/6 of the window and the whole of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from services.alerts.conditions import (
    check_condition,
    check_duration,
    check_int,
    check_keys,
    field_allowed,
    join_path,
    parse_duration,
    shown,
)
from services.alerts.facts import MISSING, Facts
from services.alerts.storage import digest

CONDITIONS = ("score_below", "spike", "negative_share")
GROUP_FIELDS = ("touchpoint", "channel", "source", "customer.tier")
GROUP_PREFIXES = ("attributes.", "customer.attributes.")
SLICES = 6  # buckets per window
WEEK = 7 * 86400
SCORE_RANGES = {"nps": (-100, 100), "csat": (1, 5), "ces": (1, 7)}
MAX_BY = 4


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_group(spec: Any, path: str = "group") -> list[tuple[str, str]]:
    """Validate a rule's ``group`` part; (path, message) pairs naming the bad part."""
    if not isinstance(spec, dict):
        return [(path, "must be an object {by, window, <condition>}")]
    errors = check_keys(spec, path, {"by", "window"}, set(CONDITIONS))
    errors += _check_by(spec.get("by"), join_path(path, "by")) if "by" in spec else []
    errors += check_duration(spec, "window", path)
    if not errors and "window" in spec and parse_duration(spec["window"]) % 60:
        errors.append((join_path(path, "window"), "must be a whole number of minutes (e.g. 30m, 1h, 7d)"))
    kinds = [k for k in CONDITIONS if k in spec]
    if len(kinds) != 1:
        errors.append((path, f"needs exactly one condition of {', '.join(CONDITIONS)}"))
        return errors
    kind = kinds[0]
    body, where = spec[kind], join_path(path, kind)
    if not isinstance(body, dict):
        return errors + [(where, "must be an object")]
    if kind == "score_below":
        errors += check_keys(body, where, {"score", "below"}, {"min_responses"})
        score = body.get("score")
        if "score" in body and (not isinstance(score, str) or score not in SCORE_RANGES):
            errors.append((join_path(where, "score"), f"must be one of {', '.join(SCORE_RANGES)}"))
        elif "below" in body:
            low, high = SCORE_RANGES.get(str(score), (-100, 100))
            if not _number(body["below"]) or not low < body["below"] <= high:
                errors.append((join_path(where, "below"), f"must be a number above {low}, at most {high}"))
        errors += check_int(body, "min_responses", where, 1, 100_000)
    elif kind == "spike":
        errors += check_keys(body, where, {"where", "factor"}, {"weeks", "min_count"})
        if "where" in body:
            errors += check_condition(body["where"], join_path(where, "where"), 1, windows=False)
        if "factor" in body and (not _number(body["factor"]) or not 1 <= body["factor"] <= 1000):
            errors.append((join_path(where, "factor"), "must be a number from 1 to 1000"))
        errors += check_int(body, "weeks", where, 1, 8)
        errors += check_int(body, "min_count", where, 1, 100_000)
        if "window" in spec and not errors and parse_duration(spec["window"]) > WEEK:
            errors.append((join_path(path, "window"), "a spike compares weeks: at most 7d"))
    else:
        errors += check_keys(body, where, {"above"}, {"min_comments"})
        if "above" in body and (not _number(body["above"]) or not 0 <= body["above"] < 1):
            errors.append((join_path(where, "above"), "must be a share from 0 to below 1 (0.4 = 40 %)"))
        errors += check_int(body, "min_comments", where, 1, 100_000)
    return errors


def _check_by(names: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(names, list) or not names or len(names) > MAX_BY:
        return [(path, f"must list 1 to {MAX_BY} fields")]
    errors = []
    for i, name in enumerate(names):
        if not field_allowed(name, GROUP_FIELDS, GROUP_PREFIXES):
            known = ", ".join(GROUP_FIELDS)
            errors.append(
                (f"{path}.{i}", f"unknown group field {shown(name)}; use {known} or attributes.<name>")
            )
    if len(set(map(str, names))) != len(names):
        errors.append((path, "listed twice"))
    return errors


def condition_of(spec: dict) -> tuple[str, dict]:
    kind = next(k for k in CONDITIONS if k in spec)
    return kind, spec[kind]


def defaults(spec: dict) -> dict:
    """The group part with its condition's defaults filled in (what is stored)."""
    kind, body = condition_of(spec)
    filled = {
        "score_below": {"min_responses": 10},
        "spike": {"weeks": 4, "min_count": 5},
        "negative_share": {"min_comments": 10},
    }[kind]
    return {**spec, kind: {**filled, **body}}


def lookback(spec: dict) -> int:
    """Seconds of events before an instant its judgement reads (backtests warm these)."""
    window = parse_duration(spec["window"])
    kind, body = condition_of(spec)
    return window + (body.get("weeks", 4) * WEEK if kind == "spike" else 0)


# counting -------------------------------------------------------------------------


@dataclass
class GroupHit:
    """What one event adds to one bucket of its group."""

    bucket: str  # bucket id
    key: str  # the event's key (marker: counted once)
    fields: dict[str, float]  # counter -> increment
    expires: float  # epoch seconds after which the bucket is no longer read
    meta: dict  # rule, group key, bucket start: stored on the bucket for people reading it


def group_key(spec: dict, facts: Facts) -> dict[str, str] | None:
    """The event's group (path -> value as text), None when it lacks a ``by`` field."""
    key = {}
    for path in spec["by"]:
        value = facts.get(path)
        if value is MISSING or value is None or isinstance(value, (dict, list)):
            return None
        key[path] = str(value)
    return key


def step(spec: dict) -> int:
    return parse_duration(spec["window"]) // SLICES


def bucket_id(rule_id: str, spec_key: str, key: dict[str, str], index: int) -> str:
    return digest(rule_id, spec_key, json.dumps(key, sort_keys=True, ensure_ascii=False), str(index))


def increments(spec: dict, facts: Facts, evaluate_where) -> dict[str, float] | None:
    """The counters the event moves under the rule's condition, None when it moves none."""
    kind, body = condition_of(spec)
    if kind == "score_below":
        value: Any = (facts.event.get("scores") or {}).get(body["score"])
        if not _number(value):
            return None
        fields: dict[str, float] = {"n": 1, "sum": value}
        if body["score"] == "nps":
            fields.update(pro=int(value >= 9), det=int(value <= 6))
        return fields
    if kind == "spike":
        return {"n": 1} if evaluate_where(body["where"], facts) else None
    sentiment = facts.get("sentiment")
    if sentiment is MISSING:
        return None
    return {"n": 1, "neg": int(sentiment == "negative")}


def window_buckets(spec: dict, at: float, shift: int = 0) -> list[int]:
    """Bucket indexes of the window ending at ``at - shift`` (its bucket and the five before)."""
    last = int((at - shift) // step(spec))
    return list(range(last - SLICES + 1, last + 1))


def read_buckets(spec: dict, at: float) -> list[tuple[int, list[int]]]:
    """(weeks back, bucket indexes) the judgement at ``at`` reads: the window, and for a
    spike the same window of each previous week."""
    kind, body = condition_of(spec)
    weeks = body.get("weeks", 4) if kind == "spike" else 0
    return [(w, window_buckets(spec, at, w * WEEK)) for w in range(weeks + 1)]


def judge(spec: dict, windows: list[dict[str, float]]) -> tuple[bool, dict]:
    """The condition on the summed counters of the window (``windows[0]``) and, for a
    spike, of the same window in each previous week: (result, what was observed)."""
    kind, body = condition_of(spec)
    now = windows[0]
    n = int(now.get("n", 0))
    if kind == "score_below":
        observed: dict[str, Any] = {"score": body["score"], "count": n, "threshold": body["below"]}
        observed["min_responses"] = body["min_responses"]
        if not n:
            return False, {**observed, "value": None}
        if body["score"] == "nps":
            value = round(100 * (now.get("pro", 0) - now.get("det", 0)) / n, 1)
        else:
            value = round(now.get("sum", 0) / n, 2)
        observed["value"] = value
        return n >= body["min_responses"] and value < body["below"], observed
    if kind == "spike":
        past = [int(w.get("n", 0)) for w in windows[1:]]
        baseline = round(sum(past) / len(past), 2) if past else 0.0
        threshold = round(body["factor"] * baseline, 2)
        observed = {"value": n, "count": n, "baseline": baseline, "weeks": past, "threshold": threshold}
        observed["min_count"] = body["min_count"]
        return n >= body["min_count"] and n >= threshold, observed
    share = round(now.get("neg", 0) / n, 3) if n else None
    observed = {"value": share, "count": n, "negative": int(now.get("neg", 0)), "threshold": body["above"]}
    observed["min_comments"] = body["min_comments"]
    return share is not None and n >= body["min_comments"] and share > body["above"], observed


def key_text(key: dict[str, str]) -> str:
    """A group as people read it: ``attributes.store=S1|touchpoint=store``."""
    return "|".join(f"{path}={value}" for path, value in key.items())


def dedup_key(rule_id: str, key: dict[str, str]) -> str:
    """One open alert per rule and group: ``rule|group|attributes.store=S1``."""
    return f"{rule_id}|group|{key_text(key)}"
