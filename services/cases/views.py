"""What the read RPCs answer, assembled from the stores: one case with its trail,
the agents with their loads, the metrics of a period."""

from __future__ import annotations

from services.cases import followup, incidents, metrics, queue, sla
from services.cases.context import Context
from services.common.errors import BadRequest, NotFound

STEP_INTERNALS = ("case_id", "lease_until", "claimed_by")  # a step's fields a reader never needs


def case_view(ctx: Context, case_id: str, viewer: dict | None) -> dict:
    """One case with its alerts, comments, escalation steps and audit trail (an incident
    also its children and their counts, a child its parent); NotFound
    when ``viewer`` may not see it (as if it did not exist)."""
    store = ctx.store
    case = store.queries.visible_case(case_id, viewer, ctx.now())
    if case is None:
        raise NotFound(f"no case {case_id}")
    case["alerts"] = sorted(case["alerts"].values(), key=lambda a: a["at"])
    case["collaborators"] = sorted(case["collaborators"].values(), key=lambda c: c["at"])
    return {
        **case,
        "breach_state": sla.breach_state(case.get("sla"), ctx.now()),
        "comments": store.trail.comments(case_id),
        "escalation_steps": [
            {k: v for k, v in st.items() if k not in STEP_INTERNALS}
            for st in store.schedule.case_steps(case_id)
        ],
        "followups": [followup.presented(fu, ctx.now()) for fu in store.followups.for_cases([case_id])],
        "audit": store.trail.case_audit(case_id),
        **incidents.incident_view(ctx, case, viewer),
    }


def queue_page(ctx: Context, request) -> dict:
    """A page of the console's queue (``services/cases/queue.py``): the rows, each with
    its ``breach_state``, the total the filters match and each saved view's count."""
    r = queue.load_request(request)
    now = ctx.now()
    found = ctx.store.queries.queue(r, now)
    for case in found["items"]:
        case["breach_state"] = sla.breach_state(case.get("sla"), now)
    return {**found, "view": r["view"], "limit": r["limit"], "skip": r["skip"], "as_of": now}


def agents_with_loads(ctx: Context) -> dict:
    """The directory, with each agent's current weighted load."""
    directory = ctx.store.policies.directory()
    # read only (a missing counter is 0): list_agents answers every console page, and
    # creating counters there cost one upsert per agent per page
    loads = ctx.store.loads.peek_loads([a["id"] for a in directory["agents"]])
    for agent in directory["agents"]:
        agent["load"] = loads.get(agent["id"], 0)
    return directory


def period_metrics(ctx: Context, r: dict) -> dict:
    """The metrics of the cases opened in ``[since, until)`` (until: now), as of now
    (``r``: a ``schemas.MetricsRequest``): grouped by ``group_by`` and by each of ``also``
    (one read of the cases for all of them), of one ``assignee``'s cases when given."""
    now = ctx.now()
    since, until = r["since"], r["until"] or now
    if until <= since:
        raise BadRequest("until: must be after since")
    cases = list(ctx.store.queries.metrics_rows(since, until, r["assignee"]))
    followups = ctx.store.followups.for_cases([c["_id"] for c in cases]) if cases else []
    overall, groups, also = metrics.compute(cases, now, r["group_by"], followups, r["also"])
    out = {
        "since": since,
        "until": until,
        "as_of": now,
        "group_by": r["group_by"],
        "overall": overall,
        "groups": groups,
    }
    return {**out, "also": also} if r["also"] else out
