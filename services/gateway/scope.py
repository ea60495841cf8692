"""Whose view of the cases, and the queue's mine / team / unassigned filters.

Which cases a user may see is the cases service's rule (``visible_to`` on
``cases.list_cases`` / ``cases.get_case``, applied in its query): an agent sees
cases assigned to them or to one of their teams, cases they collaborate on,
and unassigned cases of one of their teams (or of no known team); owners and
admins see every case. The gateway only passes the signed-in user along.
"""

from __future__ import annotations


def viewer(user: dict) -> dict:
    """The ``visible_to`` argument of the cases service for a signed-in user."""
    return {"user_id": user["id"], "role": user["role"], "teams": list(user.get("teams") or [])}


def in_scope(user: dict, scope: str, case: dict) -> bool:
    """The queue filters: mine / team / unassigned / all (all = what the user sees)."""
    assignee = case.get("assignee") or {}
    if scope == "mine":
        return assignee.get("kind") == "person" and assignee.get("id") == user["id"]
    if scope == "team":
        return assignee.get("kind") == "team" and assignee.get("id") in user.get("teams", [])
    if scope == "unassigned":
        return not assignee
    return True
