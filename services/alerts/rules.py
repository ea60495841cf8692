"""Alert rules: the document CX admins write, and its validation.

A rule is data (YAML or JSON)::

    id: nps-detractor
    name: NPS 贬损者 / NPS detractor
    level: P2
    owner: {kind: person, id: li.na}
    channels: [email]
    when:
      all:
        - {field: scores.nps, op: lte, value: 6}
        - not: {field: channel, op: eq, value: social}

``when`` is a tree of ``all`` / ``any`` / ``not`` groups over leaf conditions
``{field, op, value}``. Errors name the path of the bad part, e.g.
``rules.0.when.all.1.op: unknown operator 'lesser'``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from contracts.base import flatten_errors
from contracts.messages import LEVELS, OWNER_KINDS

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
    "starts_with": "string",
    "regex": "regex",
}
GROUPS = ("all", "any", "not")
MAX_DEPTH = 32
FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_\-]+)*$")
CHANNELS = ("email", "wecom", "dingtalk", "feishu", "slack", "teams", "webhook")


class RuleError(ValueError):
    """A rule document is invalid; ``errors`` are ``path: message`` lines."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _check_value(op: str, value: Any, present: bool) -> str | None:
    kind = OPERATORS[op]
    if not present:
        return None if kind == "bool" else "value is required for this operator"
    if kind == "scalar" and not isinstance(value, (str, int, float, bool)):
        return "must be a string, number or boolean"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "must be a number"
    if kind == "string" and not isinstance(value, str):
        return "must be a string"
    if kind == "bool" and not isinstance(value, bool):
        return "must be true or false"
    if kind == "list" and (not isinstance(value, list) or not value):
        return "must be a non-empty list"
    if kind == "range":
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )
        if not ok:
            return "must be [low, high]"
        if value[0] > value[1]:
            return "low must not exceed high"
    if kind == "regex":
        if not isinstance(value, str):
            return "must be a regular expression string"
        try:
            re.compile(value)
        except re.error as exc:
            return f"invalid regular expression: {exc}"
    return None


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def check_condition(node: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Validate a condition tree; return (path, message) pairs, path relative to ``when``."""
    if depth > MAX_DEPTH:
        return [(path, f"nested deeper than {MAX_DEPTH} levels")]
    if not isinstance(node, dict):
        return [(path, "must be an object (a group or a condition)")]
    groups = [g for g in GROUPS if g in node]
    if groups:
        if len(node) != 1:
            return [(path, f"a group has exactly one key ({'/'.join(GROUPS)}), got {sorted(node)}")]
        group = groups[0]
        inner = node[group]
        if group == "not":
            return check_condition(inner, _join(path, "not"), depth + 1)
        if not isinstance(inner, list) or not inner:
            return [(_join(path, group), "must be a non-empty list")]
        errors: list[tuple[str, str]] = []
        for i, child in enumerate(inner):
            errors += check_condition(child, _join(path, f"{group}.{i}"), depth + 1)
        return errors
    errors = []
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        errors.append((path, f"unknown keys {sorted(unknown)}"))
    field = node.get("field")
    if not isinstance(field, str) or not FIELD_PATTERN.match(field):
        errors.append((_join(path, "field"), "must be a dotted field path like scores.nps"))
    op = node.get("op")
    if op not in OPERATORS:
        errors.append((_join(path, "op"), f"unknown operator {op!r}; one of {', '.join(OPERATORS)}"))
    else:
        problem = _check_value(op, node.get("value"), "value" in node)
        if problem:
            errors.append((_join(path, "value"), problem))
    return errors


class ConditionField(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        errors = check_condition(value)
        if errors:
            grouped: dict[str, list[str]] = {}
            for path, message in errors:
                grouped.setdefault(path, []).append(message)
            raise ValidationError(grouped)
        return value


class OwnerSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(OWNER_KINDS))
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))


class RuleSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[a-z0-9][a-z0-9_-]{0,127}$", error="lowercase letters, digits, '_' or '-'"
        ),
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    owner = fields.Nested(OwnerSchema, required=True)
    channels = fields.List(
        fields.String(validate=validate.OneOf(CHANNELS)), required=True, validate=validate.Length(min=1)
    )
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list)
    enabled = fields.Boolean(load_default=True)
    when = ConditionField(required=True)

    @validates_schema
    def _unique_channels(self, data, **_):
        channels = data.get("channels") or []
        if len(set(channels)) != len(channels):
            raise ValidationError("listed twice", field_name="channels")

    @post_load
    def _fingerprint(self, data, **_):
        data["fingerprint"] = fingerprint(data)
        return data


class RuleSetSchema(Schema):
    class Meta:
        unknown = RAISE

    rules = fields.List(fields.Nested(RuleSchema), required=True)

    @validates_schema
    def _unique_ids(self, data, **_):
        ids = [r["id"] for r in data.get("rules", [])]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValidationError(f"duplicate rule ids: {', '.join(dupes)}", field_name="rules")


def fingerprint(rule: dict) -> str:
    """Content hash of a rule's definition: a new version only when it changes."""
    body = {k: v for k, v in rule.items() if k not in ("fingerprint", "version")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def load_rules(document: Any) -> list[dict]:
    """Validate a rule set (``{"rules": [...]}`` or a bare list); raise RuleError."""
    if isinstance(document, list):
        document = {"rules": document}
    if not isinstance(document, dict):
        raise RuleError(["_schema: a rule file is a list of rules or {rules: [...]}"])
    try:
        return RuleSetSchema().load(document)["rules"]
    except ValidationError as exc:
        raise RuleError(flatten_errors(exc.messages)) from None
