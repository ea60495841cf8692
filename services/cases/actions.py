"""Case actions applied: each status change, assignment and policy re-application.

The decisions are the pure modules' (``lifecycle``: the transition table, clocks and
milestones; ``assignment``: strategies and what an assignment writes; ``sla`` and
``escalation``: policies and snapshots); this module applies them through the
stores and announces them (``context.Context``). ``transition`` is the one way a
case's status changes: the revision-conditional update with its clocks, the agent
loads, the open key, the escalation it stops, and ``case_status_changed``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from services.cases import assignment, escalation, followups, sla
from services.cases.context import Context
from services.cases.grouping import is_incident
from services.cases.lifecycle import assignee_key, reopened, with_clocks
from services.cases.stores.loads import Charge
from services.cases.stores.queries import as_before_assignment, may_see
from services.common import settings
from services.common.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)


def transition(
    ctx: Context,
    case_id: str,
    action: str,
    *,
    by: str,
    why: str | None,
    charged: Charge | None = None,
    now: datetime | None = None,
    announce: bool = True,
    **kwargs,
) -> dict:
    """Move a case (``CaseRecords.transition`` takes ``kwargs``); ``charged``: a
    least-loaded pick's charge (settled if the case takes it, else given back);
    ``announce=False``: the caller announces the move another way."""
    now = now or ctx.now()
    kwargs["changes"] = with_clocks(action, now, kwargs.get("changes"))
    charge = charged.weight if charged else None
    store = ctx.store
    try:
        before, after = store.cases.transition(
            case_id,
            action,
            by=by,
            why=why or "",
            now=now,
            weigh=lambda case: charge if charge is not None else assignment.weight(None, case["level"]),
            **kwargs,
        )
    except Exception:
        if charged:  # the pick was charged but the case did not move: give it back
            store.loads.refund(charged)
        raise
    if escalation.stops(after.get("escalation"), action):
        store.schedule.cancel_steps(case_id, after["escalation"], after.get("reopen_count", 0) + 1)
    store.loads.move_load(before, after, charged)
    if before["status"] != after["status"]:
        store.cases.sync_key(after, now, before=before["status"])
        if announce:
            ctx.announce_status_change(after, before["status"], after["status"], now, by, why)
    return after


def assign(
    ctx: Context,
    case_id: str,
    assignee: dict,
    *,
    by: str,
    reason: str,
    handoff: bool = False,
    known: dict | None = None,
    also_audit: list[dict] | tuple = (),
    announce_status: bool = True,
    expect: dict | None = None,
) -> dict:
    """Give a case an owner (a strategy picks one), announce it, notify the owner.

    ``known``: the case as just stored (spares reading it again); ``also_audit``:
    entries written with the assignment's; ``announce_status=False``: the status
    change rides on ``case_opened`` (the assignment at opening); ``expect``: fields the
    case must still hold, in the same conditional update (Conflict otherwise; ``take``)."""
    now = ctx.now()
    charged = picked = None
    strategy_id = assignee["id"] if assignee["kind"] == "strategy" else None
    if strategy_id:
        case = known = known or ctx.store.cases.get_case(case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        picked = assignment.pick_key(case)
        assignee, why, charged = pick(ctx, assignee["id"], case)
        reason = f"{reason}; {why}"
    team = ctx.store.policies.team_of(assignee)
    after = transition(
        ctx,
        case_id,
        "assign",
        by=by,
        why=reason,
        changes=lambda case, _to: assignment.assignment_sets(
            case, assignee, by=by, reason=reason, now=now, team=team, handoff=handoff
        ),
        detail={"assignee": assignee},
        audit_action="reassigned" if handoff else "assigned",
        charged=charged,
        now=now,  # the time stored in the assignment is the status change's time
        known=known,
        also_audit=also_audit,
        announce=announce_status,
        expect=expect,
    )
    if strategy_id and picked:
        ctx.store.loads.forget_pick(strategy_id, picked)  # the assignment is stored: the pick is used
    ctx.announce_assignment(after, by=by, reason=reason)
    return after


def take(ctx: Context, case_id: str, taker: dict, seen: str, reason: str | None) -> dict:
    """Take it: the case becomes ``taker``'s (``visible_to``: user_id, role, teams) if it
    is one they may see and its owner is still ``seen`` (the owner key they saw, "" when
    unassigned), checked in the assignment's own conditional update, so of several
    takers at the same instant one wins and the others get Conflict. The winner's is an
    ordinary assignment (a reassignment, ``reason`` required, when ``seen`` names an
    owner): the same audit entry, status change, ``case_assigned``, notification and
    loads; a loser's changes nothing."""
    case = ctx.store.cases.get_case(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if case["assignee_key"] != seen:
        # taken (or handed on) since the taker looked: Conflict if they could see it then,
        # as they may well not now; a case they never could see stays NotFound
        before = as_before_assignment(case)
        then = before is not None and before["assignee_key"] == seen and may_see(before, taker)
        if then or may_see(case, taker):
            raise Conflict(f"case_id: {case_id} changed: its owner is {case['assignee_key'] or 'nobody'} now")
        raise NotFound(f"no case {case_id}")
    if not may_see(case, taker):
        raise NotFound(f"no case {case_id}")
    if seen and not reason:
        raise BadRequest("reason: required to take a case from its owner")
    me = {"kind": "person", "id": taker["user_id"]}
    if seen == assignee_key(me):
        raise BadRequest(f"case_id: {case_id} is yours already")
    return assign(
        ctx,
        case_id,
        me,
        by=taker["user_id"],
        reason=reason or "assigned",
        handoff=bool(seen),
        expect={"assignee_key": seen},
    )


def pick(ctx: Context, strategy_id: str, case: dict) -> tuple[dict, str, Charge | None]:
    """Resolve a strategy to an owner: (assignee, why, the charge if least loaded).

    Both picks are recorded under ``pick_key(case)``: a redelivered alert whose
    first attempt died before storing the assignment gets the same turn or
    charge back, so the rotation advances and the load is charged once."""
    strategy = ctx.store.policies.strategy(strategy_id)
    if strategy is None:
        raise BadRequest(f"assignee.id: unknown strategy {strategy_id}")
    choice = assignment.candidates(strategy, ctx.store.policies.agents(), case)
    why = assignment.reason(strategy, choice)
    if not choice.pool:  # nobody available: the team as a whole is told
        return {"kind": "team", "id": strategy["team"]}, why, None
    loads, key = ctx.store.loads, assignment.pick_key(case)
    if strategy["pick"] == "round_robin":
        agent = assignment.round_robin_pick(choice.pool, loads.next_turn(strategy_id, key))
        return {"kind": "person", "id": agent["id"]}, why, None
    weight = assignment.weight(strategy, case["level"])
    charge = loads.charge_least_loaded(
        choice.pool, weight, assignment.least_loaded_pick, key, ctx.now().timestamp()
    )
    return {"kind": "person", "id": charge.agent}, why, charge


# status changes (RPC) ------------------------------------------------------------------


def acknowledge(ctx: Context, case_id: str, *, by: str, why: str | None) -> dict:
    """The owner confirms they have taken the case (once)."""
    now = ctx.now()

    def changes(case: dict, to: str) -> dict:
        if case["acknowledged"] is not None:
            raise BadRequest(f"case_id: {case['_id']} is already acknowledged")
        return {"acknowledged": {"at": now, "by": by}}

    return transition(ctx, case_id, "acknowledge", by=by, why=why, changes=changes)


def start(ctx: Context, case_id: str, *, by: str, why: str | None) -> dict:
    """Work begins; acknowledges the case if it was not yet."""
    now = ctx.now()

    def changes(case: dict, to: str) -> dict:
        return {} if case["acknowledged"] else {"acknowledged": {"at": now, "by": by}}

    return transition(ctx, case_id, "start", by=by, why=why, changes=changes)


def resolution_of(r: dict) -> dict:
    """The resolution a ``ResolveRequest`` records."""
    return {
        "root_cause": r["root_cause"],
        "first_contact_resolution": r["first_contact_resolution"],
        "summary": r["summary"],
    }


def resolution_sets(r: dict, now: datetime) -> dict:
    """What resolving writes on the case."""
    return {"resolution": resolution_of(r), "resolved": {"at": now, "by": r["by"]}}


def resolve(ctx: Context, r: dict) -> dict:
    """Resolve with the ``ResolveRequest``'s root cause, FCR flag and summary."""
    now = ctx.now()
    resolution = resolution_of(r)

    def changes(case: dict, to: str) -> dict:
        if is_incident(case):  # its children, and no customer follow-up: incidents.py
            raise BadRequest(f"case_id: {case['_id']} is an incident; resolve it with resolve_incident")
        return resolution_sets(r, now)

    why = r["reason"] or r["summary"]
    after = transition(
        ctx, r["case_id"], "resolve", by=r["by"], why=why, changes=changes, detail={"resolution": resolution}
    )
    followups.schedule_after_resolve(ctx, after, now)
    return after


def reopen(ctx: Context, case_id: str, *, by: str, why: str) -> dict:
    """Reopen a resolved case: it takes its open key back, escalates afresh, and its
    owner is told."""
    case = ctx.store.cases.get_case(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if case["status"] in ("resolved", "verified"):
        ctx.store.cases.claim_key_for_reopen(case)
    after = transition(ctx, case_id, "reopen", by=by, why=why, changes=reopened)
    followups.cancel_pending(ctx, case_id, f"the case was reopened: {why}")
    start_escalations(ctx, [after], ctx.now())
    ctx.notify_update(after, after["assignee"], "reopened", by=by, reason=why)
    return after


def add_collaborator(ctx: Context, r: dict) -> dict:
    """Add a collaborator with a role (``CollaboratorRequest``) and notify them."""
    case = ctx.store.cases.add_collaborator(r["case_id"], r["person"], r["role"], by=r["by"], now=ctx.now())
    ctx.notify(
        case,
        {"kind": "person", "id": r["person"]},
        "case_update",
        f"collaborator:{r['role']}:{len(case['collaborators'])}",
        update="collaborator_added",
        by=r["by"],
        role=r["role"],
        reason=r["reason"],
    )
    return case


def comment(ctx: Context, r: dict) -> dict:
    """Store a ``CommentRequest``'s comment (its id, else a new one)."""
    text = {"visibility": r["visibility"], "text": r["text"], "at": ctx.now()}
    stored = ctx.store.trail.add_comment(
        {"_id": r["comment_id"] or uuid.uuid4().hex, "case_id": r["case_id"], "author": r["by"], **text}
    )
    if stored["visibility"] == "customer":  # really sent to the customer (notify's customer channels)
        case = ctx.store.cases.get_case(r["case_id"])
        if case is not None:
            followups.customer_reply(ctx, case, stored)
    return stored


# escalation and SLA policies -----------------------------------------------------------


def start_escalations(ctx: Context, cases: list[dict], start: datetime) -> None:
    """Schedule round 0 of each case's escalation snapshot (idempotent; one insert)."""
    steps = []
    for case in cases:
        snap = case.get("escalation")
        if snap:
            tag = escalation.run_tag(case["_id"], case.get("reopen_count", 0))
            steps += escalation.round_steps(tag, case["_id"], snap, 0, start.timestamp())
    ctx.store.schedule.schedule_steps(steps)


def apply_sla_policy(ctx: Context, document: dict, apply_to_open_cases: bool) -> dict:
    """Save a new SLA policy version; with ``apply_to_open_cases`` re-apply it to them."""
    policy = sla.load_policy(document)
    warnings = sla.coverage_warnings(policy, ctx.now().date())
    for warning in warnings:
        log.warning("SLA policy %s: %s", policy["id"], warning)
    version, changed = ctx.store.policies.apply_sla_policy(policy)
    reapplied = []
    if apply_to_open_cases:
        why = f"SLA policy {policy['id']} v{version} applied to open cases"
        for case_id in ctx.store.cases.open_case_ids():
            reapply_sla(ctx, case_id, by="system", why=why)
            reapplied.append(case_id)
    return {
        "id": policy["id"],
        "version": version,
        "changed": changed,
        "reapplied": reapplied,
        "warnings": warnings,
    }


def reapply_sla(ctx: Context, case_id: str, *, by: str, why: str) -> dict:
    """Re-snapshot one case onto the current SLA policy (time already used is kept)."""
    stored = ctx.store.policies.sla_policy()
    if stored is None:
        raise BadRequest("policy: no SLA policy is applied")
    now = ctx.now()

    def changes(case: dict, to: str) -> dict:
        owner = case["assignee"] or case["owner_rule"]
        calendar = ctx.store.policies.team_calendar(owner)
        terms = sla.terms_for(stored["policy"], stored["version"], case["level"], calendar)
        return {"sla": sla.reapply(case.get("sla"), terms, now)}

    return transition(ctx, case_id, "reapply_sla", by=by, why=why, changes=changes)


def apply_escalation_policy(ctx: Context, document: dict, apply_to_open_cases: bool) -> dict:
    """Save a new escalation policy version; with ``apply_to_open_cases`` the open
    cases' pending steps are replaced by the new chain, counted from now."""
    policy = escalation.load_policy(document)
    version, changed = ctx.store.policies.apply_escalation_policy(policy)
    reapplied = []
    if apply_to_open_cases:
        now = ctx.now()
        why = f"escalation policy {policy['id']} v{version} applied to open cases"
        for case_id in ctx.store.cases.open_case_ids():
            case = transition(
                ctx, case_id, "reapply_escalation", by="system", why=why,
                changes=lambda c, to: {"escalation": escalation.snapshot(policy, version, c["level"])},
            )  # fmt: skip
            ctx.store.schedule.cancel_steps(case_id)
            if escalation.still_escalating(case):
                start_escalations(ctx, [case], now)
            reapplied.append(case_id)
    return {"id": policy["id"], "version": version, "changed": changed, "reapplied": reapplied}


def recount_loads(ctx: Context) -> dict:
    """Recount every agent's load from the active cases (``AgentLoads.recount_loads``)."""
    settle = float(settings.get("LOAD_SETTLE_SECONDS"))
    result = ctx.store.loads.recount_loads(
        lambda level: assignment.weight(None, level), ctx.now().timestamp(), settle
    )
    if result["cases_fixed"] or result["loads_changed"] or result["charges_dropped"]:
        log.warning("agent loads recounted: %s", result)
    return result
