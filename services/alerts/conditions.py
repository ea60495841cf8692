"""The condition grammar of alert rules: the operators, the ``when`` tree of ``all`` /
``any`` / ``not`` groups over leaf conditions and windows, and its checks, each error
naming the path of the bad part (e.g. ``rules.0.when.all.1.op: unknown operator
'lesser'``). The rule document around it is services/alerts/rules.py; a group rule's
``group`` part is services/alerts/group_rules.py; both build on these checks.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import reprlib
from typing import Any

from services.alerts.regex_check import regex_problem
from textanalysis import text

# op → what ``value`` must be (checked at validation, so evaluation never guesses)
OPERATORS: dict[str, str] = {
    "eq": "scalar",
    "ne": "scalar",
    "lt": "number",
    "lte": "number",
    "gt": "number",
    "gte": "number",
    "between": "range",
    "in": "list",
    "not_in": "list",
    "exists": "bool",
    "contains": "scalar",
    "contains_any": "keywords",
    "contains_all": "keywords",
    "starts_with": "string",
    "regex": "regex",
}
GROUPS = ("all", "any", "not")
# Facts derived from the event (services/alerts/facts.py), usable as fields.
DERIVED_FACTS = {
    "sentiment": ("positive", "neutral", "negative"),
    "category": ("complaint", "suggestion", "inquiry", "praise", "other"),
    "is_detractor": (True, False),
    "is_first_contact": (True, False),
}
# Derived facts that are lists: read with the list operators only, each value checked.
# field → its values now: the live aspect codes (shipped in textanalysis/lexicon/aspects.txt,
# or added by an admin; the process's current lexicon, services/common/lexicon.py)
LIST_FACTS = {"aspects": text.aspects}
LIST_FACT_OPS = ("contains_any", "contains_all", "contains", "exists")
SCORES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
# Event paths a dedup key may use: bounded, single-valued fields of the contract.
DEDUP_FIELDS = ("channel", "touchpoint", "source", "customer.tier", "sentiment", "category")
DEDUP_PREFIXES = ("customer.attributes.", "attributes.")
DURATION = re.compile(r"^([1-9][0-9]{0,8})([smhd])$")
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_SECONDS = 400 * 86400
MAX_DEPTH = 32
MAX_GROUP = 1000  # conditions in one all/any group
MAX_LIST = 10_000  # values of in / not_in / contains_any / contains_all
MAX_REGEX_CHARS = 500
MAX_SHOWN = 60  # characters of a bad value quoted back in an error
FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_\-]+)*$")
WINDOW_KINDS = ("count", "score_drop", "no_response")
CHANNELS = ("email", "wecom", "dingtalk", "feishu", "slack", "teams", "webhook")


MAX_ERRORS = 50  # a 100,000-item list of bad channels is one problem, not 100,000 lines


class RuleError(ValueError):
    """A rule document is invalid; ``errors`` are ``path: message`` lines (at most MAX_ERRORS)."""

    def __init__(self, errors: list[str]):
        if len(errors) > MAX_ERRORS:
            errors = errors[:MAX_ERRORS] + [f"_schema: and {len(errors) - MAX_ERRORS} more errors"]
        super().__init__("; ".join(errors))
        self.errors = errors


_SHORT = reprlib.Repr()  # repr() of a list nested 2,000 deep overflows the stack
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, MAX_SHOWN, MAX_SHOWN


def shown(value: Any) -> str:
    """A bad value quoted back in an error, cut short (it may be a megabyte of YAML)."""
    text = _SHORT.repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # NaN never equals anything, so a rule on it never fires
    return isinstance(value, (str, int, bool))


def _check_value(op: str, value: Any, present: bool) -> str | None:
    kind = OPERATORS[op]
    if not present:
        return None if kind == "bool" else "value is required for this operator"
    if kind == "scalar" and not _scalar(value):
        return "must be a string, a finite number or a boolean"
    if kind == "number" and (isinstance(value, bool) or not _scalar(value) or isinstance(value, str)):
        return "must be a number"
    if kind == "string" and not isinstance(value, str):
        return "must be a string"
    if kind == "bool" and not isinstance(value, bool):
        return "must be true or false"
    if kind in ("list", "keywords") and isinstance(value, list) and len(value) > MAX_LIST:
        return f"at most {MAX_LIST} values"
    if kind == "list":
        if not isinstance(value, list) or not value:
            return "must be a non-empty list"
        if not all(_scalar(v) for v in value):
            return "every value must be a string, a finite number or a boolean"
    if kind == "keywords":
        if not isinstance(value, list) or not value:
            return "must be a non-empty list of keywords"
        # YAML reads 12315 as a number; a keyword is its text either way.
        if not all((isinstance(v, str) and v.strip()) or type(v) is int for v in value):
            return "every keyword must be a non-empty string (or a whole number)"
    if kind == "range":
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(_scalar(v) and not isinstance(v, (bool, str)) for v in value)
        )
        if not ok:
            return "must be [low, high]"
        if value[0] > value[1]:
            return "low must not exceed high"
    if kind == "regex":
        if not isinstance(value, str):
            return "must be a regular expression string"
        if len(value) > MAX_REGEX_CHARS:
            return f"a regular expression of at most {MAX_REGEX_CHARS} characters"
        try:
            re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            return f"invalid regular expression: {exc}"
        return regex_problem(value)
    return None


def join_path(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def parse_duration(value: Any) -> int:
    """'7d' / '24h' / '30m' / '90s' → seconds; ValueError with a readable reason."""
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("must be a duration like 90s, 30m, 24h or 7d (a positive whole number)")
    seconds = int(match.group(1)) * DURATION_SECONDS[match.group(2)]
    if seconds > MAX_WINDOW_SECONDS:
        raise ValueError("must be at most 400d")
    return seconds


def check_keys(spec: dict, path: str, required: set[str], optional: set[str]) -> list[tuple[str, str]]:
    errors = [(join_path(path, k), "is required") for k in sorted(required - set(spec))]
    unknown = set(spec) - required - optional
    if unknown:
        errors.append((path, f"unknown keys {sorted(unknown)}"))
    return errors


def check_int(spec: dict, key: str, path: str, low: int, high: int) -> list[tuple[str, str]]:
    value = spec.get(key)
    if key in spec and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        return [(join_path(path, key), f"must be a whole number from {low} to {high}")]
    return []


def check_duration(spec: dict, key: str, path: str) -> list[tuple[str, str]]:
    if key not in spec:
        return []
    try:
        parse_duration(spec[key])
    except ValueError as exc:
        return [(join_path(path, key), str(exc))]
    return []


def check_window(node: Any, path: str, depth: int) -> list[tuple[str, str]]:
    """Validate ``{window: {count: {...}}}`` or ``{window: {score_drop: {...}}}``."""
    if len(node) != 1:
        return [(path, "a window condition has exactly one key (window)")]
    spec = node["window"]
    path = join_path(path, "window")
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in WINDOW_KINDS:
        return [(path, f"must be one of {{{', '.join(k + ': {...}' for k in WINDOW_KINDS)}}}")]
    kind, body = next(iter(spec.items()))
    path = join_path(path, kind)
    if not isinstance(body, dict):
        return [(path, "must be an object")]
    if kind == "count":
        errors = check_keys(body, path, {"at_least", "within", "where"}, set())
        errors += check_int(body, "at_least", path, 1, 10_000)
        errors += check_duration(body, "within", path)
        if "where" in body:
            errors += check_condition(body["where"], join_path(path, "where"), depth + 1, windows=False)
        return errors
    if kind == "no_response":
        errors = check_keys(body, path, {"after", "within"}, set())
        errors += check_duration(body, "within", path)
        if "after" in body:
            errors += check_condition(body["after"], join_path(path, "after"), depth + 1, windows=False)
        return errors
    errors = check_keys(body, path, {"score", "by", "within"}, {"min_events"})
    if "score" in body and (not isinstance(body["score"], str) or body["score"] not in SCORES):
        errors.append((join_path(path, "score"), f"must be one of {', '.join(SCORES)}"))
    by: Any = body.get("by")
    if "by" in body and (isinstance(by, (bool, str)) or not _scalar(by) or by <= 0):
        errors.append((join_path(path, "by"), "must be a positive number"))
    errors += check_duration(body, "within", path)
    errors += check_int(body, "min_events", path, 1, 1000)
    return errors


def check_condition(node: Any, path: str = "", depth: int = 0, windows: bool = True) -> list[tuple[str, str]]:
    """Validate a condition tree; return (path, message) pairs, path relative to ``when``.

    ``windows=False`` inside a window's ``where``: a window counts events, it
    cannot count other windows.
    """
    if depth > MAX_DEPTH:
        return [(path, f"nested deeper than {MAX_DEPTH} levels")]
    if not isinstance(node, dict):
        return [(path, "must be an object (a group or a condition)")]
    if "window" in node:
        if not windows:
            return [(join_path(path, "window"), "a window cannot be nested inside a window's where")]
        return check_window(node, path, depth)
    groups = [g for g in GROUPS if g in node]
    if groups:
        if len(node) != 1:
            return [(path, f"a group has exactly one key ({'/'.join(GROUPS)}), got {sorted(node)}")]
        group = groups[0]
        inner = node[group]
        if group == "not":
            return check_condition(inner, join_path(path, "not"), depth + 1, windows)
        if not isinstance(inner, list) or not inner:
            return [(join_path(path, group), "must be a non-empty list")]
        if len(inner) > MAX_GROUP:
            return [(join_path(path, group), f"at most {MAX_GROUP} conditions in one group")]
        errors: list[tuple[str, str]] = []
        for i, child in enumerate(inner):
            errors += check_condition(child, join_path(path, f"{group}.{i}"), depth + 1, windows)
        return errors
    errors = []
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        errors.append((path, f"unknown keys {sorted(unknown)}"))
    field = node.get("field")
    if not isinstance(field, str) or not FIELD_PATTERN.fullmatch(field):
        errors.append((join_path(path, "field"), "must be a dotted field path like scores.nps"))
    op = node.get("op")
    if not isinstance(op, str) or op not in OPERATORS:  # a list or a dict is no operator (nor hashable)
        errors.append((join_path(path, "op"), f"unknown operator {shown(op)}; one of {', '.join(OPERATORS)}"))
    else:
        problem = _check_value(op, node.get("value"), "value" in node)
        if (
            not problem
            and isinstance(field, str)
            and field in DERIVED_FACTS
            and op in ("eq", "ne", "in", "not_in")
        ):
            problem = _check_fact_value(field, op, node.get("value"))
        if isinstance(field, str) and field in LIST_FACTS and op not in LIST_FACT_OPS:
            errors.append((join_path(path, "op"), f"{field} is a list: use {', '.join(LIST_FACT_OPS)}"))
        elif not problem and isinstance(field, str) and field in LIST_FACTS and op != "exists":
            problem = _check_list_fact(field, node.get("value"))
        if problem:
            errors.append((join_path(path, "value"), problem))
    return errors


def _check_fact_value(field: str, op: str, value: Any) -> str | None:
    allowed = DERIVED_FACTS[field]
    values = value if op in ("in", "not_in") else [value]
    bad = [v for v in values if v not in allowed or isinstance(v, bool) != isinstance(allowed[0], bool)]
    if bad:
        return f"{field} is one of {', '.join(map(str, allowed))}; got {shown(bad[0])}"
    return None


def _check_list_fact(field: str, value: Any) -> str | None:
    allowed = LIST_FACTS[field]()
    bad = [v for v in (value if isinstance(value, list) else [value]) if v not in allowed]
    if bad:
        return f"{field} holds {', '.join(allowed)}; got {shown(bad[0])}"
    return None


def windows_of(node: dict, path: str = "when") -> list[tuple[str, dict]]:
    """Every window node of a validated condition tree, with its path."""
    if "window" in node:
        return [(path, node["window"])]
    if "not" in node:
        return windows_of(node["not"], f"{path}.not")
    for group in ("all", "any"):
        if group in node:
            found = []
            for i, child in enumerate(node[group]):
                found += windows_of(child, f"{path}.{group}.{i}")
            return found
    return []


def window_key(rule_id: str, spec: dict) -> str:
    """Counts belong to a rule and a window definition, so versions that keep the
    same window keep counting, and a changed window starts afresh."""
    body = json.dumps(spec, sort_keys=True, ensure_ascii=False)
    return f"{rule_id}:" + hashlib.sha256(body.encode()).hexdigest()[:16]


def fields_of(node: dict) -> set[str]:
    """Every field a condition tree reads (windows' ``where`` included)."""
    if "window" in node:
        spec = node["window"]
        if "count" in spec:
            return fields_of(spec["count"]["where"])
        if "no_response" in spec:
            return fields_of(spec["no_response"]["after"])
        return {f"scores.{spec['score_drop']['score']}"}
    if "not" in node:
        return fields_of(node["not"])
    for group in ("all", "any"):
        if group in node:
            return set().union(*(fields_of(child) for child in node[group]))
    return {node["field"]}


def misplaced_timers(node: dict) -> list[tuple[str, str]]:
    """A no_response window fires when time passes, not on an event: it must be
    the whole ``when``, never part of a group."""
    nested = windows_of(node, "")
    return [
        (f"{path[1:]}.window.no_response".lstrip("."), "must be the whole condition (when: {window: ...})")
        for path, spec in nested
        if "no_response" in spec and path != ""
    ]


def field_allowed(name: Any, names: tuple[str, ...], prefixes: tuple[str, ...]) -> bool:
    """``name`` is one of ``names`` or a field path under one of ``prefixes``."""
    if name in names:
        return True
    return (
        isinstance(name, str)
        and bool(FIELD_PATTERN.fullmatch(name))
        and any(name.startswith(p) and len(name) > len(p) for p in prefixes)
    )
