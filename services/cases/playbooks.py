"""Standard solutions (标准解决方案): playbooks an agent follows, pure code.

A playbook says which cases it is for (``match``: alert rules, comment aspects,
root causes, optionally levels), the steps to take and a reply to the customer in
zh-CN and en. Admins save playbooks as versions (``stores/playbooks.py``); the case
page and ``cxctl cases playbooks`` suggest the ones that match a case
(``suggest``); using one renders its reply for the case (``render_reply``), which
``playbook_use.py`` records and may send through the customer channels.

The reply is a template with ``{placeholder}`` fields, limited to
``PLACEHOLDERS``; a template naming any other field, or with an unbalanced brace,
is refused when the playbook is saved, so rendering never fails later.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.base import bounded_str, id_str
from contracts.messages import CUSTOMER_CHANNELS, LEVELS
from services.cases.schemas import root_causes
from services.common.validation import StrictSchema, load_valid
from textanalysis import text as analysis

LANGUAGES = ("zh-CN", "en")
PLACEHOLDERS = ("customer_name", "case_id", "case_title", "agent")

# how much each kind of match weighs when playbooks are ranked for a case
WEIGHTS = {"rule": 4, "root_cause": 3, "aspect": 2}


def _template_fields(text: str) -> list[str]:
    """The placeholder names in ``text``; ValueError on an unbalanced brace."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


class Texts(StrictSchema):
    """One text in both languages."""

    zh_cn = bounded_str(4000, required=True, data_key="zh-CN")
    en = bounded_str(4000, required=True)


class Match(StrictSchema):
    rules = fields.List(id_str(128), load_default=list, validate=validate.Length(max=100))
    aspects = fields.List(fields.String(), load_default=list, validate=validate.Length(max=50))
    root_causes = fields.List(fields.String(), load_default=list, validate=validate.Length(max=50))
    levels = fields.List(
        fields.String(validate=validate.OneOf(LEVELS)),
        load_default=list,
        metadata={"description": "only cases of these levels (empty: any)"},
    )

    @validates_schema
    def _known(self, data, **_):
        if not (data["rules"] or data["aspects"] or data["root_causes"]):
            raise ValidationError("name at least one of rules, aspects, root_causes", "rules")
        known = analysis.aspects()  # shipped and added live (the replica's lexicon)
        unknown = [a for a in data["aspects"] if a not in known]
        if unknown:
            raise ValidationError(f"unknown aspect {unknown[0]!r} (known: {', '.join(known)})", "aspects")
        causes = root_causes()
        unknown = [c for c in data["root_causes"] if c not in causes]
        if unknown:
            raise ValidationError(
                f"unknown root cause {unknown[0]!r} (known: {', '.join(causes)})", "root_causes"
            )


class PlaybookDocument(StrictSchema):
    """A playbook as an admin writes it (YAML or JSON)."""

    id = id_str(128, required=True)
    title = fields.Nested(Texts, required=True)
    match = fields.Nested(Match, required=True)
    steps = fields.List(fields.Nested(Texts), required=True, validate=validate.Length(min=1, max=30))
    reply = fields.Nested(Texts, required=True)
    channels = fields.List(
        fields.String(validate=validate.OneOf(CUSTOMER_CHANNELS)),
        load_default=lambda: ["sms", "email"],
        validate=validate.Length(min=1),
        metadata={"description": "customer channels for the reply, in order of preference"},
    )
    enabled = fields.Boolean(load_default=True)

    @validates_schema
    def _reply_fields(self, data, **_):
        for key, text in data["reply"].items():
            language = "zh-CN" if key == "zh_cn" else key
            try:
                names = _template_fields(text)
            except ValueError as exc:
                raise ValidationError(
                    f"{language}: {exc} (write a literal brace as {{{{ or }}}})", "reply"
                ) from None
            unknown = [n for n in names if n not in PLACEHOLDERS]
            if unknown:
                raise ValidationError(
                    f"{language}: unknown placeholder {{{unknown[0]}}} (allowed: "
                    + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                    + ")",
                    "reply",
                )


def _texts(data: dict) -> dict:
    return {"zh-CN": data["zh_cn"], "en": data["en"]}


def load_playbook(document) -> dict:
    """A validated playbook (errors name the field, e.g. ``match.aspects``)."""
    data = load_valid(PlaybookDocument, document, shape="must be an object (a playbook)", field="playbook")
    return {
        "id": data["id"],
        "title": _texts(data["title"]),
        "match": data["match"],
        "steps": [_texts(s) for s in data["steps"]],
        "reply": _texts(data["reply"]),
        "channels": data["channels"],
        "enabled": data["enabled"],
    }


@dataclass(frozen=True)
class Suggestion:
    playbook: dict
    score: int
    reasons: tuple[dict, ...]  # {"by": "rule" | "root_cause" | "aspect", "value": ...}


def reasons_for(playbook: dict, case: dict, aspects: list[str]) -> list[dict]:
    """Why ``playbook`` fits ``case`` (empty: it does not). ``aspects``: the case's
    comment aspects (textanalysis)."""
    match = playbook["match"]
    if not playbook.get("enabled", True):
        return []
    if match.get("levels") and case.get("level") not in match["levels"]:
        return []
    found = []
    if (case.get("rule") or {}).get("id") in match.get("rules", []):
        found.append({"by": "rule", "value": case["rule"]["id"]})
    cause = (case.get("resolution") or {}).get("root_cause")
    if cause and cause in match.get("root_causes", []):
        found.append({"by": "root_cause", "value": cause})
    found += [{"by": "aspect", "value": a} for a in aspects if a in match.get("aspects", [])]
    return found


def suggest(playbooks: list[dict], case: dict, aspects: list[str], limit: int = 5) -> list[Suggestion]:
    """The playbooks that fit ``case``, best first (score, then id)."""
    ranked = []
    for playbook in playbooks:
        reasons = reasons_for(playbook, case, aspects)
        if reasons:
            score = sum(WEIGHTS[r["by"]] for r in reasons)
            ranked.append(Suggestion(playbook, score, tuple(reasons)))
    ranked.sort(key=lambda s: (-s.score, s.playbook["id"]))
    return ranked[:limit]


def render_reply(playbook: dict, case: dict, language: str, agent: str) -> str:
    """The playbook's reply for ``case`` in ``language`` (placeholders filled)."""
    customer = case.get("customer") or {}
    values = {
        "customer_name": customer.get("name") or ("客户" if language == "zh-CN" else "customer"),
        "case_id": case["_id"],
        "case_title": case.get("title") or "",
        "agent": agent,
    }
    return playbook["reply"][language].format(**values)
