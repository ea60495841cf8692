"""What the read RPCs answer, assembled from the stores: one case with its trail,
the agents with their loads, the metrics of a period."""

from __future__ import annotations

from services.cases import followup, incidents, metrics, queue, schemas, sla
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
    (``r``: a ``schemas.MetricsRequest``): grouped by ``group_by`` and by each of ``also``,
    of one ``assignee``'s cases when given. The store sums the cases' tallies per group
    (``stores/metric_sums.py``); only the period's follow-ups are read."""
    now = ctx.now()
    since, until = r["since"], r["until"] or now
    if until <= since:
        raise BadRequest("until: must be after since")
    bounds = metrics.ms_bound(since), metrics.ms_bound(until)
    match = ctx.store.metric_sums.period(*bounds, r["assignee"])
    groupings = list(dict.fromkeys(g for g in (r["group_by"], *r["also"]) if g))
    sums = ctx.store.metric_sums.sums(match, groupings or [None], now.timestamp(), schemas.root_causes())
    fus = ctx.store.followups.of_period(*bounds)
    owners = ctx.store.metric_sums.owners_of(match, sorted({fu["case_id"] for fu in fus}))
    fus = [(owners[fu["case_id"]], metrics.followup_facts(fu, now)) for fu in fus if fu["case_id"] in owners]

    def groups(grouping: str) -> list[dict]:
        return [
            {
                "key": key,
                **metrics.figures(s),
                **metrics.followup_summary(f for c, f in fus if _key(c, grouping) == key),
            }
            for key, s in sorted(sums[grouping].items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ]

    total = metrics.add_sums(sums[(groupings or [None])[0]].values())
    out = {
        "since": since,
        "until": until,
        "as_of": now,
        "group_by": r["group_by"],
        "overall": {**metrics.figures(total), **metrics.followup_summary(f for _, f in fus)},
        "groups": groups(r["group_by"]) if r["group_by"] else [],
    }
    return {**out, "also": {g: groups(g) for g in r["also"]}} if r["also"] else out


def _key(case: dict, grouping: str) -> str | None:
    if grouping == "owner":
        return (case.get("assignee") or {}).get("id")
    return case.get(grouping)
