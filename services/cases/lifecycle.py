"""Case documents and their first steps: pure code, no I/O."""

from __future__ import annotations

import hashlib
from datetime import datetime

from services.common.mongo import jsonable


def case_id_for(alert_id: str) -> str:
    return "CASE-" + hashlib.sha256(alert_id.encode("utf-8")).hexdigest()[:12].upper()


def case_title(alert: dict) -> str:
    customer = alert["customer"]
    who = customer.get("name") or customer["id"]
    return f"{alert['rule']['name']} · {who}"[:300]


def new_case(alert: dict, now: datetime) -> dict:
    """A case opened for an alert, not yet assigned."""
    return {
        "_id": case_id_for(alert["alert_id"]),
        "alert_id": alert["alert_id"],
        "status": "open",
        "level": alert["level"],
        "title": case_title(alert),
        "customer": alert["customer"],
        "rule": alert["rule"],
        "owner_rule": alert["owner"],
        "channels": alert["channels"],
        "event": alert["event"],
        "trace": alert.get("trace", []),
        "assignee": None,
        "assignee_key": "",
        "assignment": None,
        "collaborators": {},
        "opened_at": now,
        "updated_at": now,
    }


def assignee_key(ref: dict) -> str:
    return f"{ref['kind']}:{ref['id']}"


def initial_assignee(alert: dict) -> dict | None:
    """The rule's owner when it names a person or team.

    Assignment strategies (round-robin, least-loaded, ...) are resolved by the
    assignment module once it exists; until then such a case stays open and
    unassigned, which the case queue shows.
    """
    owner = alert["owner"]
    return owner if owner["kind"] in ("person", "team") else None


def notification_context(case: dict, console_url: str) -> dict:
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
        }
    )
