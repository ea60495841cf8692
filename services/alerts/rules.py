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
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from contracts.base import Pattern
from contracts.base import StrictInt as StrictIntField
from contracts.messages import LEVELS, OWNER_KINDS
from services.alerts import group_rules
from services.alerts.conditions import (
    CHANNELS,
    DEDUP_FIELDS,
    DEDUP_PREFIXES,
    RuleError,
    check_condition,
    field_allowed,
    misplaced_timers,
    parse_duration,
    shown,
    windows_of,
)
from services.common.validation import load_valid


class ConditionField(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        errors = check_condition(value)
        if not errors:
            errors = misplaced_timers(value)
        if errors:
            grouped: dict[str, list[str]] = {}
            for path, message in errors:
                grouped.setdefault(path, []).append(message)
            raise ValidationError(grouped)
        return value


class GroupField(fields.Field):
    """A group rule's ``group`` part (services/alerts/group_rules.py), defaults filled in."""

    def _deserialize(self, value, attr, data, **kwargs):
        errors = group_rules.check_group(value, "")
        if errors:
            grouped: dict[str, list[str]] = {}
            for path, message in errors:
                grouped.setdefault(path.lstrip("."), []).append(message)
            raise ValidationError(grouped)
        return group_rules.defaults(value)


class OwnerSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(OWNER_KINDS))
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))


def _dedup_field_ok(name: Any) -> bool:
    return field_allowed(name, DEDUP_FIELDS, DEDUP_PREFIXES)


class DedupSchema(Schema):
    """Repeated matches with the same key inside ``cooldown`` attach to the open alert."""

    class Meta:
        unknown = RAISE

    by = fields.List(fields.String(), load_default=list)
    cooldown = fields.String(load_default="24h")

    @validates_schema
    def _check(self, data, **_):
        errors: dict[str, list[str]] = {}
        names = data.get("by", [])
        for i, name in enumerate(names):
            if name == "customer.id":
                errors[f"by.{i}"] = ["customer.id is always part of the key"]
            elif not _dedup_field_ok(name):
                errors[f"by.{i}"] = [
                    f"unknown dedup field {shown(name)}; use {', '.join(DEDUP_FIELDS)}, "
                    "customer.attributes.<name> or attributes.<name>"
                ]
        if len(set(names)) != len(names):
            errors["by"] = ["listed twice"]
        try:
            parse_duration(data.get("cooldown", "24h"))
        except ValueError as exc:
            errors["cooldown"] = [str(exc)]
        if errors:
            raise ValidationError(errors)


class ThrottleSchema(Schema):
    """At most ``max_alerts`` new alerts per ``per`` for the rule; the rest are counted."""

    class Meta:
        unknown = RAISE

    max_alerts = StrictIntField(required=True, validate=validate.Range(min=1, max=1000))
    per = fields.String(required=True)

    @validates_schema
    def _check(self, data, **_):
        try:
            parse_duration(data.get("per"))
        except ValueError as exc:
            raise ValidationError(str(exc), field_name="per") from None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class ActiveHoursSchema(Schema):
    """When the rule may fire, by the event's own time in ``timezone``:
    ``{days: [mon, …], from: "09:00", to: "18:00", timezone: Asia/Shanghai}``.
    ``to`` before ``from`` spans midnight (22:00–06:00 belongs to the day it starts)."""

    class Meta:
        unknown = RAISE

    days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), load_default=lambda: list(WEEKDAYS))
    from_ = fields.String(required=True, data_key="from", attribute="from")
    to = fields.String(required=True)
    timezone = fields.String(load_default="Asia/Shanghai")

    @validates_schema
    def _check(self, data, **_):
        errors: dict[str, list[str]] = {}
        for key in ("from", "to"):
            if key in data and not CLOCK.fullmatch(data[key]):
                errors[key] = ["must be a time of day like 09:00 (24-hour HH:MM)"]
        if not errors and data.get("from") == data.get("to"):
            errors["to"] = ["must differ from from (for all day, leave active_hours out)"]
        if not data.get("days", WEEKDAYS):
            errors["days"] = ["must list at least one day"]
        try:
            ZoneInfo(data.get("timezone", "Asia/Shanghai"))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            errors["timezone"] = [f"unknown time zone {shown(data.get('timezone'))}; e.g. Asia/Shanghai"]
        if errors:
            raise ValidationError(errors)


def is_active(rule: dict, moment: datetime) -> bool:
    """Whether ``rule`` may fire for an event that occurred at ``moment``."""
    hours = rule.get("active_hours")
    if not hours:
        return True
    local = moment.astimezone(ZoneInfo(hours.get("timezone", "Asia/Shanghai")))
    minute = local.hour * 60 + local.minute
    start, end = (int(hours[k][:2]) * 60 + int(hours[k][3:]) for k in ("from", "to"))
    days = hours.get("days", WEEKDAYS)
    if start < end:
        return WEEKDAYS[local.weekday()] in days and start <= minute < end
    if minute >= start:  # the evening part: today's range
        return WEEKDAYS[local.weekday()] in days
    return minute < end and WEEKDAYS[(local.weekday() - 1) % 7] in days  # after midnight: yesterday's


class RuleSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(
        required=True,
        validate=Pattern(r"^[a-z0-9][a-z0-9_-]{0,127}$", error="lowercase letters, digits, '_' or '-'"),
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
    dedup = fields.Nested(DedupSchema, load_default=lambda: {"by": [], "cooldown": "24h"})
    throttle = fields.Nested(ThrottleSchema, load_default=None, allow_none=True)
    active_hours = fields.Nested(ActiveHoursSchema, load_default=None, allow_none=True)
    group = GroupField(load_default=None, allow_none=True)

    @validates_schema
    def _unique_channels(self, data, **_):
        channels = data.get("channels") or []
        if len(set(channels)) != len(channels):
            raise ValidationError("listed twice", field_name="channels")

    @validates_schema
    def _group_rule(self, data, **_):
        """A group rule's ``when`` picks the events its group counts: no customer
        windows in it, and its alerts are keyed by the group, not by dedup fields."""
        if not data.get("group"):
            return
        errors: dict[str, list[str]] = {}
        for path, _spec in windows_of(data.get("when") or {}):
            errors[f"{path}.window"] = ["a group rule counts events per group: no customer windows in when"]
        if (data.get("dedup") or {}).get("by"):
            errors["dedup.by"] = [
                "a group rule's alerts are keyed by its group (group.by): leave dedup.by out"
            ]
        if errors:
            raise ValidationError(errors)

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
    shape = "a rule file is a list of rules or {rules: [...]}"
    return load_valid(RuleSetSchema, document, shape=shape, error=RuleError)["rules"]


def load_rule(document: Any) -> dict:
    """Validate one rule; errors name paths from the rule (``when.all.0.op``)."""
    return load_valid(RuleSchema, document, shape="a rule is an object", error=RuleError)
