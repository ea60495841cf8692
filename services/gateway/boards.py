"""Boards per role (岗位定制化的数据看板), gathered over RPC, each table also as CSV.

* ``mine``: an agent's own work: their open cases per status, those at risk of or
  past an SLA, and their MTTA / MTTR / breach rate for the cases opened in the period;
* ``team``: a team lead's team: each member's load and figures, the team's totals,
  its cases waiting for an owner;
* ``journey``: a CX manager's view of the customer journey: the touchpoints in
  journey order (``JOURNEY_TOUCHPOINTS``, then any other seen in the period), each
  with its NPS / CSAT / CES, weekly NPS trend, alerts and cases, and the root causes
  of the resolved cases.

A period is whole days in the console's time zone (``BOARD_TIMEZONE``): ``since``
and ``until`` are dates (the date pickers'), ``until`` included; default the last
30 days. Figures: ``cases.metrics`` (cases opened in the period), ``alerts.stats``
(alerts raised in it), ``profiles.score_trends`` (feedback given in it, every
touchpoint in one call).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Response

from services.common import settings
from services.gateway.dashboard_csv import CASE_FIGURES, csv_text
from services.gateway.errors import HttpError, bad_request

BOARDS = ("mine", "team", "journey")
OPEN_STATUSES = ("open", "assigned", "reopened", "in_progress", "pending_customer")
DEFAULT_DAYS = 30


def period(q: dict) -> tuple[date, date, datetime, datetime]:
    """(first day, last day, start, end) of the board's period: whole local days."""
    zone = ZoneInfo(str(settings.get("BOARD_TIMEZONE")))
    last = q.get("until") or datetime.now(zone).date()
    first = q.get("since") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise bad_request(["since: must be on or before until"], "query")
    if (last - first).days > 366:
        raise bad_request(["since: a period covers at most 366 days"], "query")
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return first, last, start, end


def _window(start: datetime, end: datetime) -> dict:
    return {"since": start.isoformat(), "until": end.isoformat()}


def _count(services, **filters) -> int:
    return services.cases.list_cases(limit=1, with_total=True, **filters)["total"]


def _group(rows: list[dict], key) -> dict | None:
    return next((g for g in rows if g["key"] == key), None)


def mine(services, user: dict, start: datetime, end: datetime) -> dict:
    # a person's own cases are visible to them: counted by owner alone (a plain filter the
    # store counts in SQL; the visibility $or would be evaluated document by document)
    me = {"assignee": user["id"]}
    statuses = [{"status": s, "cases": _count(services, status=s, **me)} for s in OPEN_STATUSES]
    sla = [{"state": b, "cases": _count(services, breach=b, **me)} for b in ("at_risk", "breached")]
    figures = services.cases.metrics({**_window(start, end), "group_by": "owner", "assignee": user["id"]})
    return {
        "statuses": statuses,
        "sla": sla,
        "figures": [_group(figures["groups"], user["id"]) or {"key": user["id"], "cases": 0}],
    }


def team_of(user: dict, asked: str | None, directory: dict) -> str:
    """The team shown: the one asked for (an agent only one of theirs), else their first;
    an owner or admin in no team: the directory's first (the header's "boards" link)."""
    teams = user.get("teams") or []
    if asked:
        if user["role"] == "agent" and asked not in teams:
            raise HttpError(403, "an agent sees the boards of their own teams only")
        return asked
    if not teams and user["role"] != "agent":
        teams = [t["id"] for t in directory["teams"]]
    if not teams:
        raise bad_request(["team: name a team (you are in none)"], "query")
    return teams[0]


def team(services, user: dict, asked: str | None, start: datetime, end: datetime) -> dict:
    directory = services.cases.list_agents()
    team_id = team_of(user, asked, directory)
    if team_id not in {t["id"] for t in directory["teams"]}:
        raise HttpError(404, f"no team {team_id}")
    members = [a for a in directory["agents"] if team_id in (a.get("teams") or [])]
    window = _window(start, end)
    figures = services.cases.metrics({**window, "group_by": "owner", "also": ["team"]})  # one read
    by_owner, by_team = figures["groups"], figures["also"]["team"]
    rows = []
    for agent in sorted(members, key=lambda a: a["id"]):
        figures = _group(by_owner, agent["id"]) or {"cases": 0}
        rows.append(
            {
                "agent": agent["id"],
                "on_shift": agent.get("on_shift", True),
                "load": agent.get("load", 0),
                **figures,
            }
        )
    return {
        "team": team_id,
        "teams": sorted(t["id"] for t in directory["teams"]),
        "team_names": {t["id"]: t.get("name") or t["id"] for t in directory["teams"]},
        "members": rows,
        "totals": [_group(by_team, team_id) or {"key": team_id, "cases": 0}],
        # waiting in the team's queue: assigned to the team, no person took it yet
        "waiting": [{"state": "team_queue", "cases": _count(services, assignee=team_id, status="assigned")}]
        + [
            {"state": b, "cases": _count(services, assignee=team_id, breach=b)}
            for b in ("at_risk", "breached")
        ],
    }


def journey_order(seen: list[str]) -> list[str]:
    """The configured journey's touchpoints first, in order, then the others seen, by name."""
    configured = [t.strip() for t in str(settings.get("JOURNEY_TOUCHPOINTS")).split(",") if t.strip()]
    return configured + sorted(t for t in set(seen) - set(configured) if t and t != "-")


def journey(services, start: datetime, end: datetime) -> dict:
    window = _window(start, end)
    alerts = services.alerts.stats(**window).get("by_touchpoint", {})
    cases = services.cases.metrics({**window, "group_by": "touchpoint"})
    seen = list(alerts) + [g["key"] for g in cases["groups"] if g["key"]]
    stages = []
    order = journey_order(seen)
    trends = (
        services.profiles.score_trends(
            window["since"],
            window["until"],
            "week",
            [f"touchpoint:{t}" for t in order],
            str(settings.get("BOARD_TIMEZONE")),
        )
        if order
        else []
    )
    for touchpoint, trend in zip(order, trends, strict=True):
        group = _group(cases["groups"], touchpoint) or {
            "cases": 0,
            "sla_breach_rate": None,
            "root_causes": {},
        }
        total = trend["total"]
        stages.append(
            {
                "touchpoint": touchpoint,
                "nps": total["nps"]["score"],
                "responses": total["nps"]["count"],
                "csat": total["csat"]["avg"],
                "ces": total["ces"]["avg"],
                "alerts": alerts.get(touchpoint, 0),
                "cases": group["cases"],
                "sla_breach_rate": group["sla_breach_rate"],
                "weeks": [{"start": b["start"][:10], "nps": b["nps"]["score"]} for b in trend["buckets"]],
            }
        )
    causes = cases["overall"].get("root_causes", {})
    return {
        "stages": stages,
        "root_causes": [
            {"root_cause": c, "cases": n} for c, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def gather(services, user: dict, board: str, q: dict) -> dict:
    """The board's JSON (``GET /api/v1/boards/{board}``)."""
    first, last, start, end = period(q)
    out = {"board": board, "since": first.isoformat(), "until": last.isoformat()}
    if board == "mine":
        return {**out, **mine(services, user, start, end)}
    if board == "team":
        return {**out, **team(services, user, q.get("team"), start, end)}
    if user["role"] == "agent":
        raise HttpError(403, "the journey board is for owners and admins")
    return {**out, **journey(services, start, end)}


# Each board's tables, as their CSV files list them: table -> columns
TABLES = {
    "mine": {
        "statuses": ("status", "cases"),
        "sla": ("state", "cases"),
        "figures": ("key", *CASE_FIGURES),
    },
    "team": {
        "members": ("agent", "on_shift", "load", *CASE_FIGURES[:5]),  # cases … sla_breach_rate
        "totals": ("key", *CASE_FIGURES),
        "waiting": ("state", "cases"),
    },
    "journey": {
        "stages": ("touchpoint", "nps", "responses", "csat", "ces", "alerts", "cases", "sla_breach_rate"),
        "root_causes": ("root_cause", "cases"),
    },
}


def as_csv(data: dict, table: str | None) -> Response:
    """One table of a board as a CSV download (UTF-8 with a BOM, so spreadsheets read Chinese)."""
    tables = TABLES[data["board"]]
    if table not in tables:
        raise bad_request([f"table: one of {', '.join(tables)}"], "query")
    columns = tables[table]
    rows = [["" if row.get(c) is None else row.get(c) for c in columns] for row in data[table]]
    name = f"board-{data['board']}-{table}-{data['since']}-{data['until']}.csv"
    return Response(
        csv_text(columns, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
