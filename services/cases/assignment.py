"""Assignment strategies and the agents directory they read: pure code, no I/O.

A strategy is data (``strategies`` in the directory file)::

    {id: care-balanced, team: cx-care, pick: least_loaded,
     match_touchpoint: true, vip_to_senior: true}

``candidates`` narrows the team's on-shift agents step by step (skill match
on the case's touchpoint, senior agents for VIP customers), each step keeping
the previous pool when it would leave nobody, and explains every step; the
store then picks one with an atomic counter (round robin) or an atomic
compare-and-increment of the chosen agent's load (least loaded), recording the
pick for the case in the same update so that a redelivered alert gets it back
(``pick_key``).

A rule whose owner is a person or a team names the assignee itself: a batch of
alerts opens such cases already assigned (``assigned_at_open``), as the ``assign``
transition would leave them (``assignment_sets``, ``lifecycle.with_clocks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.messages import LEVELS
from contracts.people import ID
from services.cases.lifecycle import assignee_key, load_holder, next_status, with_clocks
from services.common.errors import BadRequest
from services.common.validation import StrictSchema, load_valid

SENIORITY = ("junior", "regular", "senior", "lead")
PICKS = ("round_robin", "least_loaded")
DEFAULT_WEIGHTS = {"P1": 8, "P2": 4, "P3": 2, "P4": 1}
DIRECT_OWNERS = ("person", "team")  # a rule owner of these kinds is the assignee itself


class TeamSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    lead = fields.String(load_default=None, validate=ID)
    calendar = fields.String(load_default=None, validate=validate.Length(max=64))


class AgentSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    teams = fields.List(fields.String(validate=ID), required=True, validate=validate.Length(min=1))
    skills = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list)
    seniority = fields.String(load_default="regular", validate=validate.OneOf(SENIORITY))
    on_shift = fields.Boolean(load_default=True)


class StrategySchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    team = fields.String(required=True, validate=ID)
    pick = fields.String(required=True, validate=validate.OneOf(PICKS))
    match_touchpoint = fields.Boolean(load_default=False)
    vip_to_senior = fields.Boolean(load_default=False)
    vip_tiers = fields.List(fields.String(), load_default=lambda: ["vip"])
    min_seniority = fields.String(load_default="senior", validate=validate.OneOf(SENIORITY))
    level_weights = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LEVELS)),
        values=fields.Integer(validate=validate.Range(min=0, max=1000)),
        load_default=lambda: dict(DEFAULT_WEIGHTS),
    )


class DirectorySchema(StrictSchema):
    teams = fields.List(fields.Nested(TeamSchema), required=True)
    agents = fields.List(fields.Nested(AgentSchema), required=True)
    strategies = fields.List(fields.Nested(StrategySchema), load_default=list)

    @validates_schema(skip_on_field_errors=False)
    def _references(self, data, **_):
        errors: dict[str, list[str]] = {}
        teams = [t.get("id") for t in data.get("teams") or []]
        agents = [a.get("id") for a in data.get("agents") or []]
        for name, ids in (
            ("teams", teams),
            ("agents", agents),
            ("strategies", [s.get("id") for s in data.get("strategies") or []]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                errors[f"{name}.id"] = [f"duplicate ids: {', '.join(dupes)}"]
        for i, agent in enumerate(data.get("agents") or []):
            unknown = [t for t in agent.get("teams") or [] if t not in teams]
            if unknown:
                errors[f"agents.{i}.teams"] = [f"unknown teams: {', '.join(unknown)}"]
        for i, team in enumerate(data.get("teams") or []):
            if team.get("lead") and team["lead"] not in agents:
                errors[f"teams.{i}.lead"] = [f"unknown agent: {team['lead']}"]
        for i, strategy in enumerate(data.get("strategies") or []):
            if strategy.get("team") and strategy["team"] not in teams:
                errors[f"strategies.{i}.team"] = [f"unknown team: {strategy['team']}"]
        if errors:
            raise ValidationError(errors)


def load_directory(document) -> dict:
    """Validate an agents/teams/strategies document; BadRequest names each bad field."""
    return load_valid(
        DirectorySchema, document, shape="an agents file is {teams: [...], agents: [...], strategies: [...]}"
    )


@dataclass
class Choice:
    """The candidates a strategy leaves, and why (kept in the audit trail)."""

    pool: list[dict]
    why: list[str] = field(default_factory=list)


def candidates(strategy: dict, agents: list[dict], case: dict) -> Choice:
    team = strategy["team"]
    members = [a for a in agents if team in a["teams"]]
    pool = [a for a in members if a["on_shift"]]
    choice = Choice(pool, [f"{len(pool)} of {len(members)} {team} agents on shift"])
    touchpoint = (case.get("event") or {}).get("touchpoint")
    if strategy["match_touchpoint"] and touchpoint:
        _narrow(choice, [a for a in choice.pool if touchpoint in a["skills"]], f"skilled in {touchpoint}")
    tier = (case.get("customer") or {}).get("tier")
    if strategy["vip_to_senior"] and tier in strategy["vip_tiers"]:
        floor = SENIORITY.index(strategy["min_seniority"])
        senior = [a for a in choice.pool if SENIORITY.index(a["seniority"]) >= floor]
        _narrow(choice, senior, f"{strategy['min_seniority']} or above for {tier} customer")
    choice.pool.sort(key=lambda a: a["id"])
    return choice


def reason(strategy: dict, choice: Choice) -> str:
    """How an assignment by ``strategy`` reads in the case's audit trail and messages."""
    why = f"strategy {strategy['id']} ({strategy['pick']}): " + "; ".join(choice.why)
    return why if choice.pool else why + "; assigned to the team"


def _narrow(choice: Choice, narrower: list[dict], what: str) -> None:
    if narrower:
        choice.pool = narrower
        choice.why.append(f"{len(narrower)} {what}")
    else:
        choice.why.append(f"nobody {what}; kept {len(choice.pool)}")


def weight(strategy: dict | None, level: str) -> int:
    weights = (strategy or {}).get("level_weights") or DEFAULT_WEIGHTS
    return int(weights.get(level, DEFAULT_WEIGHTS[level]))


def round_robin_pick(pool: list[dict], turn: int) -> dict:
    return pool[turn % len(pool)]


def least_loaded_pick(pool: list[dict], loads: dict[str, int]) -> dict:
    return min(pool, key=lambda a: (loads.get(a["id"], 0), a["id"]))


def explain(strategy: dict, agents: list[dict], case: dict, loads: dict[str, int], turn: int) -> dict:
    """A dry run of a strategy: whom it would pick and why, step by step (no I/O).

    Lists every member of the team with shift, skills, seniority and load, the
    narrowing steps of ``candidates``, and the pick itself (the round-robin turn
    or the loads compared), in the words an admin reads.
    """
    team = strategy["team"]
    lines = [f"strategy {strategy['id']}: team {team}, pick {strategy['pick']}"]
    for agent in sorted((a for a in agents if team in a["teams"]), key=lambda a: a["id"]):
        skills = ", ".join(agent["skills"]) or "no skills"
        lines.append(
            f"{agent['id']}: {'on' if agent['on_shift'] else 'off'} shift, {skills}, "
            f"{agent['seniority']}, load {loads.get(agent['id'], 0)}"
        )
    choice = candidates(strategy, agents, case)
    lines += choice.why
    out = {"reason": reason(strategy, choice), "explanation": lines}
    if not choice.pool:
        return {
            **out,
            "assignee": {"kind": "team", "id": team},
            "explanation": [*lines, "nobody left: the team"],
        }
    if strategy["pick"] == "round_robin":
        agent = round_robin_pick(choice.pool, turn)
        ids = ", ".join(a["id"] for a in choice.pool)
        lines.append(f"round robin turn {turn} over [{ids}] → {agent['id']}")
    else:
        agent = least_loaded_pick(choice.pool, loads)
        shown = ", ".join(f"{a['id']}={loads.get(a['id'], 0)}" for a in choice.pool)
        charge = f"+{weight(strategy, case['level'])} for {case['level']}"
        lines.append(f"least loaded of [{shown}] → {agent['id']} ({charge})")
    return {**out, "assignee": {"kind": "person", "id": agent["id"]}}


# -- assignment of a case ------------------------------------------------------------


def pick_key(case: dict) -> str:
    """What a strategy's pick for ``case`` is recorded under: the case at the revision
    its assignment will change. A redelivered alert whose first attempt died before
    the assignment was stored finds the case at that revision and gets the same pick;
    a later assignment of the case (a later revision) picks afresh."""
    return f"{case['_id']}@r{case['rev']}"


def assignment_sets(
    case: dict,
    assignee: dict,
    *,
    by: str,
    reason: str,
    now: datetime,
    team: str | None,
    handoff: bool = False,
) -> dict:
    """The fields the ``assign`` transition writes when ``case`` (as read) goes to
    ``assignee``; ``team``: the new owner's team (None: the case keeps its own).
    BadRequest for a handoff of a case nobody owns, or to the owner it already has."""
    if handoff and case["assignee"] is None:
        raise BadRequest(f"case_id: {case['_id']} has no owner yet; use assign")
    if case["assignee_key"] == assignee_key(assignee):
        raise BadRequest(f"assignee: {assignee['id']} already owns {case['_id']}")
    return {
        "assignee": assignee,
        "assignee_key": assignee_key(assignee),
        "assignment": {
            "at": now,
            "by": by,
            "reason": reason,
            "previous": case["assignee"],
            "previous_team": case.get("team"),  # with ``previous``: whom the case was visible to
            "rev": case["rev"] + 1,  # the revision this change makes (notification ids)
        },
        "team": team or case.get("team"),
        # a new owner acknowledges afresh
        "acknowledged": None,
    }


def opening_reason(alert: dict) -> str:
    return f"owner of rule {alert['rule']['id']}"


def assigned_at_open(case: dict, assignee: dict, reason: str, now: datetime) -> dict:
    """A new ``case`` as the system's assignment to ``assignee`` (a person or a team)
    leaves it: the fields, revision, clocks, milestones and load the ``assign``
    transition writes (``actions.assign``, ``CaseRecords.transition``), so the case can
    be inserted already assigned. Its ``team`` is already the owner's (the intake's
    opening terms)."""
    to = next_status("assign", case["status"])
    sets = with_clocks(
        "assign",
        now,
        lambda c, _to: assignment_sets(c, assignee, by="system", reason=reason, now=now, team=None),
    )(case, to)
    after = {**case, **sets, "status": to, "rev": case["rev"] + 1}
    holder = load_holder(after)
    if holder:
        after.update(
            load_holder=holder,
            load_weight=weight(None, case["level"]),
            load_moved={"from": "", "epoch": now.timestamp()},
        )
    return after


def opening_assignment(case: dict) -> dict | None:
    """The assignment the case got as it opened, while it is still its assignment: by the
    system, nobody before, stamped with its revision; None otherwise."""
    given = case.get("assignment") or {}
    if given.get("by") != "system" or given.get("previous") is not None or "rev" not in given:
        return None
    return given
