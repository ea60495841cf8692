"""Whose view of the cases, and the queue's mine / team / unassigned filters.

Which cases a user may see is the cases service's rule (``visible_to`` on
``cases.list_cases`` / ``cases.get_case``, applied in its query): an agent sees
cases assigned to them or to one of their teams, cases they collaborate on,
and unassigned cases of one of their teams (or of no known team); owners and
admins see every case. The gateway only passes the signed-in user along.

Profiles name cases too (their open cases, the timeline's ``case_opened`` and
``case_milestone`` entries): the gateway asks the cases service which of the
customer's cases the user may see and leaves the others out
(``named_cases`` / ``only_cases``), so a profile never names a case that
``GET /api/v1/cases/<id>`` would answer 404 for.
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


def named_cases(profile: dict) -> set[str]:
    """The ids of the cases a profile (or a search result) names."""
    ids = {c["case_id"] for c in profile.get("open_cases") or ()}
    return ids | {e["case_id"] for e in profile.get("timeline") or () if e.get("case_id")}


def only_cases(profile: dict, visible: set[str]) -> dict:
    """The profile without the open cases and timeline entries of cases not in ``visible``."""
    out = dict(profile)
    if "open_cases" in out:
        out["open_cases"] = [c for c in out["open_cases"] if c["case_id"] in visible]
    if "timeline" in out:
        out["timeline"] = [e for e in out["timeline"] if not e.get("case_id") or e["case_id"] in visible]
    return out
