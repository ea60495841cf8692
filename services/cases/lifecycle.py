"""Case documents and the case lifecycle as data: pure code, no I/O.

The lifecycle is the ``TRANSITIONS`` table: for each action, the statuses it
may start from and the status it leads to. Everything that changes a case's
status (RPC, alert intake) goes through ``next_status``; the store applies the
result with a conditional update on the case's revision, so two concurrent
actions can never both succeed on the same starting state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from contracts.messages import CASE_STATUSES
from services.cases import metrics, sla
from services.cases.metrics import new_milestones
from services.common.errors import BadRequest
from services.common.mongo import jsonable

# Statuses in which a case counts as open for its customer + topic key.
ACTIVE_STATUSES = ("open", "assigned", "in_progress", "pending_customer", "reopened")
FINISHED_STATUSES = ("resolved", "closed", "verified")

_WORKING = {s: s for s in ("assigned", "in_progress", "pending_customer", "reopened")}

# action -> {from status: to status}. A from == to entry is an allowed action
# that leaves the status alone (e.g. reassigning a case that is in progress).
TRANSITIONS: dict[str, dict[str, str]] = {
    "assign": {"open": "assigned", **_WORKING},
    "acknowledge": {"assigned": "assigned", "reopened": "reopened"},
    "start": {"assigned": "in_progress", "reopened": "in_progress"},
    "pending_customer": {"in_progress": "pending_customer"},
    "resume": {"pending_customer": "in_progress"},
    "resolve": {s: "resolved" for s in _WORKING},
    "reopen": {"resolved": "reopened", "verified": "reopened"},
    "close": {"resolved": "closed", "verified": "closed"},
    # the customer's follow-up answer (回访) says they are satisfied (followup.py)
    "verify": {"resolved": "verified"},
    # re-snapshot the SLA policy (see sla.py); no status change
    "reapply_sla": {s: s for s in ("open", *_WORKING)},
    "reapply_escalation": {s: s for s in ("open", *_WORKING)},
}
# How each action reads in the audit trail.
AUDIT_ACTIONS = {
    "assign": "assigned",
    "acknowledge": "acknowledged",
    "start": "started",
    "pending_customer": "pending_customer",
    "resume": "resumed",
    "resolve": "resolved",
    "reopen": "reopened",
    "close": "closed",
    "verify": "verified",
    "reapply_sla": "sla_reapplied",
    "reapply_escalation": "escalation_reapplied",
}
assert set(AUDIT_ACTIONS) == set(TRANSITIONS)
assert all(s in CASE_STATUSES for moves in TRANSITIONS.values() for pair in moves.items() for s in pair)


class InvalidTransition(BadRequest):
    """The action is not allowed from the case's current status."""

    def __init__(self, action: str, from_status: str):
        moves = TRANSITIONS[action]
        targets = sorted(set(moves.values()))
        self.action, self.from_status = action, from_status
        super().__init__(
            f"status: cannot {action} a case in status {from_status!r} "
            f"(invalid transition {from_status} → {'/'.join(targets)}; "
            f"{action} is allowed from: {', '.join(moves)})"
        )


def next_status(action: str, from_status: str) -> str:
    """The status ``action`` leads to from ``from_status``; raises InvalidTransition."""
    if action not in TRANSITIONS:
        raise BadRequest(f"action: unknown action {action!r}")
    try:
        return TRANSITIONS[action][from_status]
    except KeyError:
        raise InvalidTransition(action, from_status) from None


def case_id_for(alert_id: str) -> str:
    return "CASE-" + hashlib.sha256(alert_id.encode("utf-8")).hexdigest()[:12].upper()


def slot(identifier: str) -> str:
    """A key safe for a keyed subdocument (ids may hold dots: ``li.na``)."""
    return hashlib.sha1(identifier.encode("utf-8")).hexdigest()[:16]


def case_title(alert: dict) -> str:
    customer = alert["customer"]
    who = customer.get("name") or customer["id"]
    return f"{alert['rule']['name']} · {who}"[:300]


# The topic part of the one-open-case key; "customer" is always part of it.
OPEN_KEY_TOPICS = {
    "rule": lambda alert: alert["rule"]["id"],
    "touchpoint": lambda alert: alert["event"].get("touchpoint") or "-",
    "channel": lambda alert: alert["event"]["channel"],
    "level": lambda alert: alert["level"],
}


def open_key(alert: dict, topic: tuple[str, ...] | list[str] = ("rule",)) -> str:
    """The customer + topic key under which at most one case is open."""
    unknown = [t for t in topic if t not in OPEN_KEY_TOPICS]
    if unknown:
        raise BadRequest(f"open_key: unknown topic fields {unknown}; known: {sorted(OPEN_KEY_TOPICS)}")
    parts = [alert["customer"]["id"]] + [f"{t}={OPEN_KEY_TOPICS[t](alert)}" for t in topic]
    return "\x1f".join(parts)


def alert_entry(alert: dict, at: datetime) -> dict:
    """How an alert is listed on its case (``alerts.<slot>``)."""
    return {
        "alert_id": alert["alert_id"],
        "at": at,
        "level": alert["level"],
        "rule_id": alert["rule"]["id"],
        "event_id": alert["event"]["event_id"],
    }


def new_case(alert: dict, now: datetime, key: str = "", terms: dict | None = None) -> dict:
    """A case opened for an alert with its opening ``terms`` (team, SLA, escalation,
    ``intake.opening_terms``), not yet assigned; its ``tally``: what it adds to the metrics."""
    case = {
        "_id": case_id_for(alert["alert_id"]),
        "alert_id": alert["alert_id"],
        "open_key": key,
        "status": "open",
        "rev": 0,
        "level": alert["level"],
        "title": case_title(alert),
        "customer": alert["customer"],
        "rule": alert["rule"],
        "owner_rule": alert["owner"],
        "channels": alert["channels"],
        "event": alert["event"],
        "touchpoint": alert["event"].get("touchpoint"),
        "team": None,  # the owning team, set when the case opens and on each assignment
        "milestones": new_milestones(),
        "trace": alert.get("trace", []),
        "alerts": {slot(alert["alert_id"]): alert_entry(alert, now)},
        "assignee": None,
        "assignee_key": "",
        "assignment": None,
        "acknowledged": None,
        "resolution": None,
        "collaborators": {},
        "load_holder": "",
        "load_weight": 0,
        "reopen_count": 0,
        "parent_id": None,  # the incident covering the case (grouping.py), once linked
        "opened_at": now,
        "updated_at": now,
        **(terms or {}),
    }
    return {**case, "tally": metrics.tally(case)}


def assignee_key(ref: dict) -> str:
    return f"{ref['kind']}:{ref['id']}"


def load_holder(case: dict) -> str:
    """Whom a case's load is charged to: its person owner while active, else nobody."""
    assignee = case.get("assignee") or {}
    active = case["status"] in ACTIVE_STATUSES and assignee.get("kind") == "person"
    return assignee["id"] if active else ""


Changes = Callable[[dict, str], dict]  # (case as read, status it moves to) -> further $set fields


def with_clocks(action: str, now: datetime, changes: Changes | None) -> Changes:
    """Wrap a transition's changes so the case's SLA clocks and its milestones
    (metrics.py) follow the action, in the same conditional update."""

    def wrapped(case: dict, to: str) -> dict:
        sets = changes(case, to) if changes else {}
        if case.get("sla"):
            updated = sla.on_action(sets.get("sla", case["sla"]), action, now)
            if updated is not case["sla"]:
                sets["sla"] = updated
        sets["milestones"] = metrics.advance(case.get("milestones"), action, now, case, {**case, **sets})
        sets["tally"] = metrics.tally({**case, **sets})
        return sets

    return wrapped


def reopened(case: dict, to: str) -> dict:
    """What a reopen writes: a reopened case must be acknowledged again; its resolution
    is history (audit). ``reopened_by`` names the alert of an automatic reopen (set by
    the intake)."""
    return {
        "acknowledged": None,
        "resolution": None,
        "reopen_count": case.get("reopen_count", 0) + 1,
        "reopened_by": None,
    }


def notification_context(case: dict, console_url: str, **extra) -> dict:
    """What templates may show about a case (JSON values only)."""
    return jsonable(
        {
            "case_id": case["_id"],
            "case_url": f"{console_url.rstrip('/')}/cases/{case['_id']}",
            "title": case["title"],
            "level": case["level"],
            "status": case["status"],
            "rule": case["rule"],
            "customer": case["customer"],
            "event": case["event"],
            "trace": case["trace"],
            "assignee": case["assignee"],
            "opened_at": case["opened_at"],
            **extra,
        }
    )
