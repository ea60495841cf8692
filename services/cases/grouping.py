"""Incidents as data: which group a group-scoped alert is about, which customer cases
that group covers, and the incident (a parent case) it opens. Pure code, no I/O.

A storm alert (``group.condition: storm``, services/alerts/storm.py) is keyed on the
rule whose throttle refused matches (``by: [rule]``): its incident covers that rule's
customer cases whose event falls in the storm's period or later (``observed.since``).

A group alert (``scope: group``) names its group by ``group.by`` (attribute paths
such as ``touchpoint``, ``channel``, ``attributes.store``) and ``group.key`` (path →
value). A customer case is covered when every path resolved against its alert's
``event`` gives the key's value. Each incident stores its group as ``group_terms``
(``"path=value"`` strings, indexed), and a new customer case is matched by the terms
of its event (``event_terms``): one ``$in`` query per batch finds the open incidents
that may cover any of the batch's cases, and ``covers`` decides.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from services.cases.lifecycle import ACTIVE_STATUSES

INCIDENT = "incident"
STORM = "storm"  # a group alert about a rule's throttle refusing matches
RULE = "rule"  # the path a storm's group is keyed on: the case's rule id
# Paths of an event that a group may be keyed on; attributes.<name> for any attribute.
TOP_LEVEL_PATHS = ("touchpoint", "channel", "source")
ATTRIBUTES = "attributes"


def term_value(value) -> str | None:
    """A group key's value as the alerts service writes it (a string), or None when the
    event has no usable value there (a missing attribute is in no group)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else None


def resolve_path(event: dict, path: str):
    """The value at a dotted ``path`` of ``event`` (None when absent)."""
    value: object = event
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def term(path: str, value: str) -> str:
    return f"{path}={value}"


def group_terms(group: dict) -> list[str]:
    """The incident's group as sorted ``path=value`` terms (one per ``by`` path)."""
    return sorted(term(path, str(group["key"].get(path, ""))) for path in group["by"])


def group_label(group: dict) -> str:
    """How the group reads in titles and listings: ``attributes.store=S1, touchpoint=…``."""
    return ", ".join(group_terms(group))


def event_terms(event: dict) -> list[str]:
    """Every ``path=value`` term an event could be grouped on (its top-level fields and
    each attribute): the candidates for the open-incident lookup."""
    found = []
    for path in TOP_LEVEL_PATHS:
        value = term_value(event.get(path))
        if value is not None:
            found.append(term(path, value))
    for name, raw in sorted((event.get(ATTRIBUTES) or {}).items()):
        value = term_value(raw)
        if value is not None:
            found.append(term(f"{ATTRIBUTES}.{name}", value))
    return found


def case_terms(case: dict) -> list[str]:
    """The terms a customer case may be covered on: its event's, and its rule's (storms)."""
    rule = (case.get("rule") or {}).get("id")
    return event_terms(case["event"]) + ([term(RULE, str(rule))] if rule else [])


def is_storm(group: dict | None) -> bool:
    return (group or {}).get("condition") == STORM


def covers_case(group: dict, case: dict) -> bool:
    """Whether the group covers a customer case: a storm its rule's cases from the storm's
    period on, any other group those whose alert ``event`` is in it (``covers``)."""
    if not is_storm(group):
        return covers(group, case["event"])
    if (case.get("rule") or {}).get("id") != group["key"].get(RULE):
        return False
    since, at = _moment(group["observed"].get("since")), _moment(case["event"].get("occurred_at"))
    return since is None or (at is not None and at >= since)


def _moment(value) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def covers(group: dict, event: dict) -> bool:
    """Whether a customer case's alert ``event`` belongs to the group: every ``by`` path
    resolves to the key's value."""
    for path in group["by"]:
        value = term_value(resolve_path(event, path))
        if value is None or value != str(group["key"].get(path)):
            return False
    return True


def is_incident(case: dict) -> bool:
    return case.get("kind") == INCIDENT


def linkable(case: dict) -> bool:
    """A customer case an incident may take as a child: active, and no incident's yet."""
    return not is_incident(case) and case["status"] in ACTIVE_STATUSES and not case.get("parent_id")


def children_to_link(incident: dict, cases: Iterable[dict]) -> list[str]:
    """Of ``cases``, the ids the incident links: linkable and covered by its group."""
    return sorted(c["_id"] for c in cases if linkable(c) and covers_case(incident["group"], c))


def parent_for(case: dict, incidents: Iterable[dict]) -> dict | None:
    """The open incident a new customer case attaches to: the earliest opened of those
    whose group covers it (a case has one parent), or None."""
    fitting = [i for i in incidents if i["status"] in ACTIVE_STATUSES and covers_case(i["group"], case)]
    if not fitting or not linkable(case):
        return None
    return min(fitting, key=lambda i: (i["opened_at"], i["_id"]))


def incident_key(group: dict) -> str:
    """The open key of a group's incident: at most one incident per group is open (a
    second group alert on it attaches, like a customer's second alert on a topic).
    Customer keys start with the customer id; this one cannot be one (``\\x1e``)."""
    digest = hashlib.sha256("\x1f".join(group_terms(group)).encode("utf-8")).hexdigest()[:24]
    return f"\x1eincident\x1f{digest}"


def incident_fields(alert: dict) -> dict:
    """What an incident adds to the case ``lifecycle.new_case`` builds from the group alert:
    its kind, group, indexed terms and title. Its owner, level, channels and SLA are
    the group rule's, as for any case; ``customer`` and ``event`` are the tipping ones."""
    group = alert["group"]
    return {
        "kind": INCIDENT,
        "group": group,
        "group_terms": group_terms(group),
        "title": f"{alert['rule']['name']} · {group_label(group)}"[:300],
        "children_resolution": None,
    }


def child_counts(children: Iterable[dict]) -> dict:
    """An incident's children counted: total, active, resolved, closed, and by status."""
    by_status: dict[str, int] = {}
    for child in children:
        by_status[child["status"]] = by_status.get(child["status"], 0) + 1
    active = sum(n for s, n in by_status.items() if s in ACTIVE_STATUSES)
    return {
        "total": sum(by_status.values()),
        "active": active,
        "resolved": by_status.get("resolved", 0),
        "closed": by_status.get("closed", 0),
        "by_status": by_status,
    }


def candidate_values(value: str) -> list:
    """A key value and the stored forms an attribute may have for it (numbers and booleans
    are strings in a group key), for a database pre-filter that ``covers`` then confirms."""
    values: list = [value]
    if value in ("true", "false"):
        values.append(value == "true")
    try:
        number = int(value)
    except ValueError:
        try:
            real = float(value)
        except ValueError:
            real = math.nan
        if math.isfinite(real):
            values.append(real)
    else:
        values += [number, float(number)]
    return values


def covered_query(group: dict) -> dict:
    """A query for the active customer cases without a parent the group may cover
    (``children_to_link`` confirms each)."""
    query: dict = {
        "status": {"$in": list(ACTIVE_STATUSES)},
        "kind": {"$ne": INCIDENT},
        "parent_id": None,
    }
    if is_storm(group):  # the rule's cases; ``covers_case`` checks the period
        query["rule.id"] = group["key"].get(RULE)
        return query
    for path in group["by"]:
        query[f"event.{path}"] = {"$in": candidate_values(str(group["key"].get(path, "")))}
    return query
