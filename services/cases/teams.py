"""The teams overview (the console's ``/teams``): each team of the people directory with
its lead, its members (on shift or not, their open cases and load), its open cases, the
cases waiting in its queue and its breaching cases, as of now.

Whose teams: an agent sees the teams they are in or lead; owners and admins every team.
An agent's list of breaching cases holds only those they may open (``may_see``); the
counts are the team's, as the team board's are."""

from __future__ import annotations

from services.cases.context import Context
from services.cases.stores.queries import may_see

CASE_FIELDS = ("_id", "title", "level", "status", "assignee", "team", "sla", "opened_at", "customer")


def whose_teams(teams: list[dict], viewer: dict) -> list[dict]:
    """The teams ``viewer`` may see: every team, or an agent's own and those they lead."""
    if viewer["role"] != "agent":
        return teams
    mine = set(viewer["teams"])
    return [t for t in teams if t["id"] in mine or t.get("lead") == viewer["user_id"]]


def overview(ctx: Context, viewer: dict, soon_minutes: int) -> dict:
    """``{as_of, soon_minutes, teams: [{id, name, lead, calendar, members, on_shift,
    open_cases, waiting, breaching_total, breaching}]}``."""
    now = ctx.now()
    directory = ctx.store.policies.directory()
    teams = whose_teams(directory["teams"], viewer)
    ids = [t["id"] for t in teams]
    agents = {a["id"]: a for a in directory["agents"]}
    members = {t: sorted(a for a, agent in agents.items() if t in agent["teams"]) for t in ids}
    people = sorted({a for team in members.values() for a in team})
    loads = ctx.store.loads.peek_loads(people)  # read only: no counter created for a page
    keys = [f"person:{a}" for a in people] + [f"team:{t}" for t in ids]
    figures = ctx.store.queries.team_figures(ids, keys, now.timestamp(), soon_minutes)
    out = []
    for team in teams:
        rows = [
            {
                "id": a,
                "name": agents[a].get("name") or a,
                "on_shift": bool(agents[a].get("on_shift", True)),
                "open_cases": figures["by_owner"].get(f"person:{a}", 0),
                "load": loads.get(a, 0),
                "lead": a == team.get("lead"),
            }
            for a in members[team["id"]]
        ]
        lead = team.get("lead")
        breaching = [c for c in figures["breaching"] if c.get("team") == team["id"] and may_see(c, viewer)]
        out.append(
            {
                "id": team["id"],
                "name": team.get("name") or team["id"],
                "lead": {"id": lead, "name": (agents.get(lead) or {}).get("name") or lead} if lead else None,
                "calendar": team.get("calendar"),
                "members": rows,
                "on_shift": [r["id"] for r in rows if r["on_shift"]],
                "open_cases": figures["by_team"].get(team["id"], 0),
                "waiting": figures["by_owner"].get(f"team:{team['id']}", 0),
                "breaching_total": figures["breaching_by_team"].get(team["id"], 0),
                "breaching": [{k: c.get(k) for k in CASE_FIELDS} for c in breaching],
            }
        )
    return {"as_of": now, "soon_minutes": soon_minutes, "teams": out}
