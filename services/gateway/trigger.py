"""What triggered a case, as sentences in the reader's language.

The alert's trace (services/alerts/evaluate.py) lists each leaf condition and
window that was evaluated, with what it saw; the case page shows the ones that
held as sentences ("NPS fell 8 points in 30 days: average 8.0, now 0"), field
names, operators and code values translated (i18n_codes.TRIGGER); the trace
table stays below for the exact rule terms.
"""

from __future__ import annotations

import re

from services.gateway.i18n import label

DURATION = re.compile(r"^(\d+)([smhd])$")
# fields whose values are codes, and the catalogue kind that translates them
CODED_FIELDS = {
    "category": "category",
    "sentiment": "sentiment",
    "aspects": "aspect",
    "touchpoint": "touchpoint",
    "channel": "channel",
    "customer.tier": "tier",
}
COMPARISONS = ("lt", "lte", "gt", "gte", "eq", "between")


def sentences(t, trace: list[dict] | None) -> list[str]:
    """One sentence per condition that held (none for a case without a trace)."""
    said = (sentence(t, step) for step in trace or () if step.get("result"))
    return [s[:1].upper() + s[1:] for s in said]


def sentence(t, step: dict) -> str:
    if "window" in step:
        return _window(t, step["window"], step.get("value") or {}, step.get("actual") or {})
    field, op = step.get("field", ""), step.get("op", "")
    name = _field(t, field)
    if op in ("contains_any", "contains_all") and step.get("matched"):
        return t("trigger.mentions", field=name, found=_values(t, field, step["matched"]))
    values = {
        "field": name,
        "op": label(t, "trigger.op", op),
        "value": _values(t, field, step.get("value")),
        "actual": _values(t, field, step.get("actual")),
    }
    if op in COMPARISONS and not isinstance(step.get("actual"), (list, dict)):
        return t("trigger.compare", **values)
    return t("trigger.generic", **values)


def _window(t, kind: str, rule: dict, seen: dict) -> str:
    within = duration(t, seen.get("within") or rule.get("within"))
    if kind == "score_drop":
        return t(
            "trigger.score_drop",
            score=str(seen.get("score") or rule.get("score") or "").upper(),
            within=within,
            drop=_number(seen.get("drop")),
            average=_one_decimal(seen.get("average")),
            current=_number(seen.get("current")),
        )
    if kind == "count":
        return t("trigger.count", within=within, count=seen.get("count"), at_least=seen.get("at_least"))
    return t("trigger.no_response", within=within)


def duration(t, text) -> str:
    """``30d`` as ``30 天`` / ``30 days``; anything else as it is."""
    found = DURATION.match(str(text or ""))
    return t(f"trigger.unit.{found.group(2)}", n=found.group(1)) if found else str(text or "")


def _field(t, field: str) -> str:
    return label(t, "trigger.field", field)


def shown_value(t, field: str, value) -> str:
    """A condition's value, or what the event had, as people read it: a coded field's
    codes (an aspect, a category …) by their labels."""
    return _values(t, field, value) if field in CODED_FIELDS else str(value)


def _values(t, field: str, value) -> str:
    if value is None:
        return t("trigger.missing")
    if isinstance(value, bool):
        return t("common.yes" if value else "common.no")
    if isinstance(value, list):
        return "、".join(_values(t, field, v) for v in value) if value else t("trigger.missing")
    if isinstance(value, float | int):
        return _number(value)
    kind = CODED_FIELDS.get(field)
    return label(t, kind, value) if kind else str(value)


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _one_decimal(value) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else _number(value)
