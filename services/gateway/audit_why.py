"""The audit trail's "why" in the reader's language.

People write their own reasons (shown as written); the cases service writes
the system's reasons (actor ``system``) and the collaborator entries in a few
fixed English phrasings (services/cases: intake, assignment, sweeps, policies).
Those phrasings are recognised here and shown as sentences of the catalogue
(i18n_codes.WHY) with their ids kept; anything else is shown as written.
"""

from __future__ import annotations

import re

from services.gateway.i18n import label

PHRASINGS: tuple[tuple[str, re.Pattern], ...] = (
    ("alert", re.compile(r"^alert (?P<id>\S+)$")),
    ("attached", re.compile(r"^alert (?P<id>\S+) for the same customer and topic$")),
    ("reopen_window", re.compile(r"^new alert (?P<id>\S+) within the reopen window$")),
    ("rule_owner", re.compile(r"^owner of rule (?P<id>\S+)$")),
    ("at_risk", re.compile(r"^(?P<clock>acknowledge|resolve) clock at risk; (?P<who>\S+) warned$")),
    ("sla_policy", re.compile(r"^SLA policy (?P<id>\S+) v(?P<v>\d+) applied to open cases$")),
    ("escalation_policy", re.compile(r"^escalation policy (?P<id>\S+) v(?P<v>\d+) applied to open cases$")),
    ("collaborator", re.compile(r"^(?P<who>\S+) as (?P<role>.+)$")),
)
BY_ACTION = {"collaborator_added": ("collaborator",), "commented": ()}


def why(t, entry: dict) -> tuple[str, bool]:
    """``(text, translated)``: the entry's reason for the reader; ``translated`` is False
    when it is shown as written (a person's own words, or a phrasing not known here)."""
    text = str(entry.get("why") or "")
    action = str(entry.get("action") or "")
    if action == "commented":  # the comment's visibility
        return label(t, "action.visibility", text), True
    allowed = BY_ACTION.get(action)
    if allowed is None and entry.get("actor") != "system":
        return text, False  # a person's own reason
    for name, pattern in PHRASINGS:
        if allowed is not None and name not in allowed:
            continue
        if allowed is None and name == "collaborator":
            continue
        found = pattern.match(text)
        if found:
            values = found.groupdict()
            if "clock" in values:
                values["clock"] = label(t, "clock", values["clock"])
            return t(f"why.{name}", **values), True
    return text, False
