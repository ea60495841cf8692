"""What an agent may see: the case-visibility rule, in one place.

An agent sees a case assigned to them, to one of their teams, or not yet
assigned (the pool they pick from). Owners and admins see every case.
"""

from __future__ import annotations


def sees_case(user: dict, case: dict) -> bool:
    if user["role"] != "agent":
        return True
    assignee = case.get("assignee")
    if not assignee:
        return True
    if assignee.get("kind") == "person":
        return assignee.get("id") == user["id"]
    if assignee.get("kind") == "team":
        return assignee.get("id") in user.get("teams", [])
    return False


def in_scope(user: dict, scope: str, case: dict) -> bool:
    """The queue filters: mine / team / unassigned / all (all = what the user sees)."""
    assignee = case.get("assignee") or {}
    if scope == "mine":
        return assignee.get("kind") == "person" and assignee.get("id") == user["id"]
    if scope == "team":
        return assignee.get("kind") == "team" and assignee.get("id") in user.get("teams", [])
    if scope == "unassigned":
        return not assignee
    return sees_case(user, case)
