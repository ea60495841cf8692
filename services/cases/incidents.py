"""Incidents applied: children linked as cases and incidents open, the incident views,
and resolving an incident with its children. Decided by ``grouping.py`` (pure).

*Linking never misses a case across replicas.* An incident, once stored and listed
under its group's terms, looks for the open customer cases its group covers; a customer
case, once stored, looks for the open incidents covering it (``link_batch``, one read
by ``_id`` per batch, ``stores/incidents.py``). Each side writes before it reads, so
when a case and an incident open at the same moment on two replicas, at least one of
them sees the other; both linking is harmless (the link is conditional on the case
having no parent yet).

*Resolving with children* (``resolve_incident``) resolves the incident and records
the request on it (``children_resolution``: pending) in the same revision-conditional
update, then resolves each active child through the normal resolve path
(``actions.resolve``: same audit, status messages, and whatever follows a resolution),
with the incident's root cause and summary, then marks the request done. A child still
``open`` (nobody assigned) is first assigned to the person resolving. Calling it again
(from a second agent) finishes what is left and changes nothing else; a request whose
resolver died midway is finished by the sweep once its lease
(``INCIDENT_RESOLVE_LEASE_SECONDS``) runs out (``sweep_children_resolutions``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from services.cases import actions, assignment, grouping, messages
from services.cases.context import Context
from services.cases.lifecycle import ACTIVE_STATUSES, InvalidTransition
from services.common import settings
from services.common.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

CHILDREN_SHOWN = 200  # children listed with an incident (the counts cover all)
RESOLUTIONS_PER_SWEEP = 20  # bounded per tick; the next tick continues


def resolve_lease() -> float:
    return float(settings.get("INCIDENT_RESOLVE_LEASE_SECONDS"))


def link_batch(ctx: Context, taken: list[dict], now: datetime) -> None:
    """Link what a batch of alerts opened or reopened: each incident takes the open
    customer cases its group covers, each new customer case attaches to the open
    incident covering it (the earliest opened)."""
    store = ctx.store.incidents
    for incident in (c for c in taken if grouping.is_incident(c) and c["status"] in ACTIVE_STATUSES):
        store.register_terms(incident)  # before reading the cases (see the module docstring)
        store.link(incident, grouping.children_to_link(incident, store.covered_cases(incident["group"])), now)
    cases = [c for c in taken if grouping.linkable(c)]
    terms = sorted({t for case in cases for t in grouping.case_terms(case)})
    if not terms:
        return
    open_incidents = store.open_incidents(terms)
    children: dict[str, tuple[dict, list[str]]] = {}
    for case in cases:
        parent = grouping.parent_for(case, open_incidents)
        if parent is not None:
            children.setdefault(parent["_id"], (parent, []))[1].append(case["_id"])
    for parent, ids in children.values():
        store.link(parent, ids, now)


# reads -----------------------------------------------------------------------------


def incident_view(ctx: Context, case: dict, viewer: dict | None = None) -> dict:
    """What ``get_case`` adds: an incident's children (the first ``CHILDREN_SHOWN`` of
    those ``viewer`` may see) and the counts of all; a child's parent."""
    store = ctx.store.incidents
    if grouping.is_incident(case):
        statuses = store.child_statuses([case["_id"]])[case["_id"]]
        return {
            "children": store.children(case["_id"], limit=CHILDREN_SHOWN, visible_to=viewer),
            "child_counts": grouping.child_counts(statuses),
        }
    if case.get("parent_id"):
        return {"parent": store.summary(case["parent_id"])}
    return {}


def list_incidents(ctx: Context, *, limit: int, skip: int, status: str | None) -> list[dict]:
    """A page of incidents (by level, newest first), each with its children's counts."""
    rows = ctx.store.incidents.list_incidents(limit=limit, skip=skip, status=status)
    statuses = ctx.store.incidents.child_statuses([r["_id"] for r in rows])
    return [{**row, "child_counts": grouping.child_counts(statuses[row["_id"]])} for row in rows]


# resolving ---------------------------------------------------------------------------


def resolve_incident(ctx: Context, r: dict) -> dict:
    """Resolve an incident (``ResolveIncidentRequest``), with its children when
    ``resolve_children``; returns ``{"incident", "children": {"resolved", "already",
    "failed"}}``."""
    incident = ctx.store.cases.get_case(r["case_id"])
    if incident is None:
        raise NotFound(f"no case {r['case_id']}")
    if not grouping.is_incident(incident):
        raise BadRequest(f"case_id: {r['case_id']} is not an incident")
    now = ctx.now()
    spec = {
        "state": "pending" if r["resolve_children"] else "none",
        "by": r["by"],
        "root_cause": r["root_cause"],
        "summary": r["summary"],
        "at": now,
        "lease_until": now.timestamp() + resolve_lease(),
    }
    resolved = incident["status"] != "resolved" and _resolve_itself(ctx, r, spec, now)
    if resolved:
        incident = resolved
    elif r["resolve_children"]:  # resolved before: resolve the children now (or finish)
        incident = ctx.store.incidents.start_children_resolution(incident["_id"], spec) or incident
    else:
        incident = ctx.store.cases.get_case(incident["_id"])
    pending = (incident.get("children_resolution") or {}).get("state") == "pending"
    outcome = resolve_children(ctx, incident) if pending else {"resolved": [], "already": [], "failed": []}
    return {"incident": ctx.store.cases.get_case(incident["_id"]), "children": outcome}


def _resolve_itself(ctx: Context, r: dict, spec: dict, now: datetime) -> dict | None:
    """The incident resolved with the request for its children, in one update; None when
    it was resolved meanwhile (a second request at the same time)."""
    try:
        return actions.transition(
            ctx, r["case_id"], "resolve", by=r["by"], why=r["reason"] or r["summary"],
            changes=lambda case, to: {**actions.resolution_sets(r, now), "children_resolution": spec},
            detail={"resolution": actions.resolution_of(r), "resolve_children": r["resolve_children"]},
            now=now,
        )  # fmt: skip
    except InvalidTransition:
        stored = ctx.store.cases.get_case(r["case_id"])
        if stored is None or stored["status"] != "resolved":
            raise
        return None


def resolve_children(ctx: Context, incident: dict) -> dict:
    """Resolve every active child of a resolved incident through the normal resolve path,
    until none is left (a case linked meanwhile is taken too); then the request is done."""
    spec = incident["children_resolution"]
    outcome: dict[str, list] = {"resolved": [], "already": [], "failed": []}
    tried: set[str] = set()
    while True:
        todo = [c for c in ctx.store.incidents.active_children(incident["_id"]) if c["_id"] not in tried]
        if not todo:
            break
        for child in todo:
            tried.add(child["_id"])
            _resolve_child(ctx, incident, spec, child, outcome)
    ctx.store.incidents.finish_children_resolution(
        incident["_id"],
        {k: len(v) for k, v in outcome.items()} | {"failed_ids": [f["case_id"] for f in outcome["failed"]]},
    )
    return outcome


def sweep_children_resolutions(ctx: Context) -> int:
    """Finish the children's resolution of incidents whose resolver died midway (lease
    run out); returns how many incidents it finished."""
    finished = 0
    for _ in range(RESOLUTIONS_PER_SWEEP):
        incident = ctx.store.incidents.claim_children_resolution(ctx.now().timestamp(), resolve_lease())
        if incident is None:
            break
        log.warning(
            "incident %s: finishing the resolution of its children (its resolver stopped)", incident["_id"]
        )
        resolve_children(ctx, incident)
        finished += 1
    return finished


def _resolve_child(ctx: Context, incident: dict, spec: dict, child: dict, outcome: dict) -> None:
    why = f"resolved with incident {incident['_id']}"
    request = {
        "case_id": child["_id"],
        "by": spec["by"],
        "root_cause": spec["root_cause"],
        # the shared cause was fixed; the customer was not helped at first contact
        "first_contact_resolution": False,
        "summary": spec["summary"],
        "reason": why,
    }
    try:
        if child["status"] == "open":
            _assign_to_resolver(ctx, child["_id"], spec["by"], why)
        actions.resolve(ctx, request)
        outcome["resolved"].append(child["_id"])
    except BadRequest as exc:
        now = ctx.store.cases.get_case(child["_id"])
        if now is not None and now["status"] in ("resolved", "closed"):
            outcome["already"].append(child["_id"])  # resolved meanwhile (another agent or call)
        else:
            log.warning("incident %s: child %s not resolved: %s", incident["_id"], child["_id"], exc)
            outcome["failed"].append({"case_id": child["_id"], "error": str(exc)})


def _assign_to_resolver(ctx: Context, case_id: str, person: str, why: str) -> None:
    """An unassigned child goes to the person resolving the incident (the ``assign``
    transition, audited and announced; no notification: they are resolving it now)."""
    assignee = {"kind": "person", "id": person}
    team = ctx.store.policies.team_of(assignee)
    now = ctx.now()

    def changes(case: dict, _to: str) -> dict:
        return assignment.assignment_sets(case, assignee, by=person, reason=why, now=now, team=team)

    after = actions.transition(
        ctx, case_id, "assign", by=person, why=why, detail={"assignee": assignee}, now=now, changes=changes
    )
    ctx.dispatch("case_assigned", messages.case_assigned(after, by=person, reason=why))
