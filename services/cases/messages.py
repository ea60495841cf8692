"""What the cases service announces, built from a case: pure code, no I/O.

Each builder returns a payload (or ``(event type, payload)`` pairs) that the
caller dispatches (``context.Context``). Notification ids are deterministic, so a
redelivered message re-requests the same notification and notify drops the copy.
"""

from __future__ import annotations

from datetime import datetime

from contracts.messages import MAX_TAKEN_IN, RESPONDED_STATUSES
from services.cases.assignment import opening_assignment
from services.cases.lifecycle import notification_context


def notification_id(case: dict, tag: str, recipient: dict) -> str:
    """Deterministic: a redelivered message re-requests the same notification."""
    return f"{case['_id']}:{tag}:{recipient['kind']}:{recipient['id']}"[:200]


def notification(
    case: dict, recipient: dict, kind: str, tag: str, *, now: datetime, console_url: str, **extra
) -> dict:
    """``notification_requested`` for ``recipient`` about ``case``; ``tag`` names the
    occasion (with the case and recipient it makes the notification id)."""
    return {
        "notification_id": notification_id(case, tag, recipient),
        "requested_at": now,
        "kind": kind,
        "recipient": recipient,
        "channels": case["channels"],
        "level": case["level"],
        "case_id": case["_id"],
        "context": notification_context(case, console_url, **extra),
    }


def update_tag(case: dict, update: str, rev: int | None = None) -> str:
    """The tag of a ``case_update`` notification: the update at the case's revision."""
    return f"{update}:r{case['rev'] if rev is None else rev}"


def assignment_tag(case: dict) -> str:
    """The tag of a ``case_assigned`` notification: the revision the assignment made."""
    return f"assigned:r{case['assignment'].get('rev', case['rev'])}"


def escalation_step(step: dict, case: dict, target: dict, *, now: datetime, console_url: str) -> dict:
    """``notification_requested`` for a due escalation step that fires."""
    return {
        "notification_id": step["_id"],  # notify deduplicates a re-fired step
        "requested_at": now,
        "kind": "escalation_step",
        "recipient": target,
        "channels": case["channels"],
        "level": case["level"],
        "case_id": case["_id"],
        "context": notification_context(
            case,
            console_url,
            escalation={
                "round": step["round"] + 1,
                "step": step["index"] + 1,
                "target": step["step"]["notify"],
                "after_minutes": step["step"]["after_minutes"],
                "acknowledged": bool(case.get("acknowledged")),
            },
        ),
    }


def case_opened(case: dict) -> dict:
    """``case_opened`` as the case opened: assigned at once (with that assignment), or
    open. Not the case's current status: a redelivery announces the same."""
    given = opening_assignment(case)
    return {
        "case_id": case["_id"],
        "alert_id": case["alert_id"],
        "opened_at": case["opened_at"],
        "level": case["level"],
        "status": "open" if given is None else "assigned",
        "title": case["title"],
        "customer": case["customer"],
        "rule": case["rule"],
        "assignment": (
            None
            if given is None
            else {"assignee": case["assignee"], "at": given["at"], "by": "system", "reason": given["reason"]}
        ),
    }


def case_assigned(case: dict, *, by: str, reason: str) -> dict:
    return {
        "case_id": case["_id"],
        "assignee": case["assignee"],
        "assigned_at": case["assignment"]["at"],
        "assigned_by": by,
        "reason": reason,
        "level": case["level"],
        "customer_id": case["customer"]["id"],
    }


def status_changed(
    case: dict, from_: str, to: str, at: datetime, by: str, why: str | None
) -> list[tuple[str, dict]]:
    """``case_status_changed`` for a transition (or the replay of one: same ``at``), and
    ``customer_responded`` when the new status means the customer got a response."""
    out = [
        (
            "case_status_changed",
            {
                "case_id": case["_id"],
                "customer_id": case["customer"]["id"],
                "level": case["level"],
                "from_status": from_,
                "to_status": to,
                "changed_at": at,
                "changed_by": by,
                "reason": why or None,
                "resolution": case["resolution"] if to == "resolved" else None,
            },
        )
    ]
    if to in RESPONDED_STATUSES:
        # alerts needs only these: a message of their own, not every transition
        responded = {"case_id": case["_id"], "customer_id": case["customer"]["id"], "status": to}
        out.append(("customer_responded", {**responded, "responded_at": at}))
    return out


def alert_taken_in(alert: dict) -> dict:
    """What a customer's profile records of an alert (``alerts_taken_in.alerts``)."""
    return {
        "alert_id": alert["alert_id"],
        "raised_at": alert["raised_at"],
        "level": alert["level"],
        "rule": alert["rule"],
        "customer": {"id": alert["customer"]["id"]},
        "event": {"occurred_at": alert["event"]["occurred_at"]},
    }


def taken_in(alerts: list[dict], opened: list[dict], now: datetime) -> list[dict]:
    """The ``alerts_taken_in`` of an intake batch: its alerts and the ``case_opened``
    payloads it announced, each case with its alert, ``MAX_TAKEN_IN`` alerts a message."""
    parts = [alerts[start : start + MAX_TAKEN_IN] for start in range(0, len(alerts), MAX_TAKEN_IN)]
    cases: list[list[dict]] = [[] for _ in parts]
    part_of = {alert["alert_id"]: index for index, part in enumerate(parts) for alert in part}
    for case in opened:  # a case whose alert is not in the batch (none today): the last part
        cases[part_of.get(case["alert_id"], -1)].append(case)
    return [
        {"taken_at": now, "alerts": [alert_taken_in(a) for a in part], "cases_opened": mine}
        for part, mine in zip(parts, cases, strict=True)
    ]
