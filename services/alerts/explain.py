"""Readable views of rules and evaluations: version diffs and explain trees."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

# Fields of a stored rule that are bookkeeping, not definition.
_BOOKKEEPING = ("_id", "fingerprint", "version", "updated_at", "updated_by", "deleted")


def definition_text(rule: dict) -> str:
    body = {k: v for k, v in rule.items() if k not in _BOOKKEEPING}
    return yaml.safe_dump(body, allow_unicode=True, sort_keys=True, default_flow_style=False)


def rule_diff(old: dict | None, new: dict, old_label: str, new_label: str) -> str:
    """A unified diff of two rule definitions as YAML ('' when equal)."""
    before = definition_text(old).splitlines(keepends=True) if old else []
    after = definition_text(new).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, old_label, new_label))


def versions_with_diffs(versions: list[dict]) -> list[dict]:
    """Each version (who, when, action) with the diff from the one before: of the texts
    typed for them (``source``) when both have one, comments included; else of the
    definitions."""
    out = []
    previous = None
    for v in versions:
        labels = (f"v{previous['version']}" if previous else "(none)", f"v{v['version']}")
        if "source" in v and (previous is None or "source" in previous):
            before: list[str] = previous["source"].splitlines(keepends=True) if previous else []
            diff = "".join(difflib.unified_diff(before, v["source"].splitlines(keepends=True), *labels))
        else:
            diff = rule_diff(previous and previous["definition"], v["definition"], *labels)
        out.append(
            {
                "version": v["version"],
                "action": v.get("action", "applied"),
                "created_at": v["created_at"],
                "created_by": v["created_by"],
                "diff": diff,
            }
        )
        previous = v
    return out


def explain_tree(node: dict, trace: list[dict], path: str = "when") -> dict:
    """The condition tree with each leaf's actual value and result from ``trace``.

    Leaves a short-circuit skipped have ``result: None`` ("not evaluated");
    a group's result follows from its children.
    """
    leaves = {t["path"]: t for t in trace}
    return _tree(node, leaves, path)


def rule_tree(rule: dict, trace: list[dict]) -> dict:
    """``explain_tree`` of the rule's ``when``; for a group rule (services/alerts/group_rules.py)
    an ``all`` of it and the group condition, with what the group's window held."""
    tree = explain_tree(rule["when"], trace)
    spec = rule.get("group")
    if not spec:
        return tree
    judged = next((t for t in trace if t.get("path") == "group"), None)
    leaf: dict[str, Any] = {"path": "group", "condition": {"group": spec}, "result": None}
    if judged is not None:
        leaf.update(actual=judged.get("actual"), result=judged.get("result"))
    results = [tree["result"], leaf["result"]]
    result: Any = False if False in results else (True if all(results) else None)
    return {"path": "rule", "group": "all", "result": result, "children": [tree, leaf]}


def _tree(node: dict, leaves: dict[str, dict], path: str) -> dict:
    for group in ("all", "any"):
        if group in node:
            children = [_tree(c, leaves, f"{path}.{group}.{i}") for i, c in enumerate(node[group])]
            results = [c["result"] for c in children]
            wanted = group == "any"  # the value that decides the group
            if wanted in results:
                result: Any = wanted
            elif all(r is (not wanted) for r in results):
                result = not wanted
            else:
                result = None
            return {"path": path, "group": group, "result": result, "children": children}
    if "not" in node:
        child = _tree(node["not"], leaves, f"{path}.not")
        result = None if child["result"] is None else not child["result"]
        return {"path": path, "group": "not", "result": result, "children": [child]}
    leaf = leaves.get(path)
    if leaf is None:
        return {"path": path, "condition": node, "result": None}
    return {"path": path, "condition": node, **{k: v for k, v in leaf.items() if k != "path"}}


def render_tree(tree: dict, indent: int = 0) -> list[str]:
    """Plain-text lines for a tree from explain_tree (cxctl)."""
    mark = {True: "✓", False: "✗", None: "·"}[tree["result"]]
    pad = "  " * indent
    if "group" in tree:
        lines = [f"{pad}{mark} {tree['group'].upper()}"]
        for child in tree["children"]:
            lines += render_tree(child, indent + 1)
        return lines
    cond = tree["condition"]
    if "window" in cond:
        kind, body = next(iter(cond["window"].items()))
        text = f"window {kind} {_short(body)}"
    elif "group" in cond:
        spec = cond["group"]
        kind = next(k for k in ("score_below", "spike", "negative_share") if k in spec)
        text = f"group {kind} {_short(spec[kind])} by {_short(spec['by'])} over {spec['window']}"
    else:
        text = f"{cond['field']} {cond['op']} {_short(cond.get('value'))}"
    if tree["result"] is None:
        return [f"{pad}{mark} {text}   (not evaluated)"]
    seen = f"   actual: {_short(tree.get('actual'))}"
    if tree.get("matched") is not None:
        seen += f"   matched: {_short(tree['matched'])}"
    if tree.get("negated"):
        seen += f"   negated: {_short(tree['negated'])}"
    if tree.get("because"):
        seen += f"   because: {_because(tree['because'])}"
    return [f"{pad}{mark} {text}{seen}"]


def _because(why: dict) -> str:
    """``because`` of a text fact (evaluate.because) in one line: the words behind it."""
    parts = []
    if why.get("source"):
        parts.append(why["source"] + (f" {why['model_version']}" if why.get("model_version") else ""))
    for key in ("cues", "drivers", "negated"):
        if why.get(key):
            parts.append(f"{key} {', '.join(why[key])}")
    if why.get("terms"):
        parts.append("; ".join(f"{code}: {', '.join(terms)}" for code, terms in why["terms"].items()))
    return " · ".join(parts) or "-"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    text = str(value)
    return text if len(text) <= 80 else text[:80] + "…"
