"""The case metrics as they were computed before issue 18: every case of the period read
and measured in Python. Kept only as the oracle of tests/services/test_case_metrics_sums.py
(the service sums the cases' tallies in the store instead)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from services.cases.metrics import (
    BREACH_FLAGS,
    _legacy_milestones,
    _mean,
    _rate,
    clock_breached,
    followup_facts,
    followup_summary,
    new_milestones,
)

FIELDS = ("opened_at", "level", "team", "touchpoint", "assignee", "sla", "milestones", "reopen_count",
          "acknowledged", "resolved", "resolution")  # fmt: skip


def period_cases(db, since: datetime, until: datetime, assignee: str | None) -> list[dict]:
    """Cases opened in [since, until), widened to whole seconds in the query (docs/store.md)."""
    low = since.replace(microsecond=0) - timedelta(seconds=1)
    high = until.replace(microsecond=0) + timedelta(seconds=2)
    query: dict = {"opened_at": {"$gte": low, "$lt": high}}
    if assignee is not None:
        query["assignee.id"] = assignee
    return [c for c in db.cases.find(query, dict.fromkeys(FIELDS, 1)) if since <= c["opened_at"] < until]


def facts(case: dict, now: datetime) -> dict:
    m = {**new_milestones(), **(case.get("milestones") or _legacy_milestones(case))}
    opened = case["opened_at"]
    clocks = (case.get("sla") or {}).get("clocks") or {}
    breach = {
        name: bool(m[flag] or clock_breached(clocks.get(name), now)) for name, flag in BREACH_FLAGS.items()
    }
    ack, res = m["acknowledged_at"], m["resolved_at"]
    return {
        "has_sla": bool(clocks),
        "ack_seconds": (ack - opened).total_seconds() if ack else None,
        "resolve_seconds": (res - opened).total_seconds() if res else None,
        "ack_breach": breach["acknowledge"],
        "resolve_breach": breach["resolve"],
        "reopened": case.get("reopen_count", 0) > 0,
        "fcr": bool(m["first_contact_resolution"]) and case.get("reopen_count", 0) == 0,
        "root_cause": (case.get("resolution") or {}).get("root_cause") if res else None,
    }


def summarise(rows) -> dict:
    rows = list(rows)
    acks = [r["ack_seconds"] for r in rows if r["ack_seconds"] is not None]
    fixes = [r for r in rows if r["resolve_seconds"] is not None]
    with_sla = [r for r in rows if r["has_sla"]]
    breached = sum(r["ack_breach"] or r["resolve_breach"] for r in with_sla)
    return {
        "cases": len(rows),
        "acknowledged": len(acks),
        "resolved": len(fixes),
        "mtta_seconds": _mean(acks),
        "mttr_seconds": _mean([r["resolve_seconds"] for r in fixes]),
        "sla_breach_rate": _rate(breached, len(with_sla)),
        "ack_breach": sum(r["ack_breach"] for r in rows),
        "resolve_breach": sum(r["resolve_breach"] for r in rows),
        "reopen_rate": _rate(sum(r["reopened"] for r in fixes), len(fixes)),
        "fcr_rate": _rate(sum(r["fcr"] for r in fixes), len(fixes)),
        "root_causes": dict(sorted(Counter(r["root_cause"] for r in fixes if r["root_cause"]).items())),
    }


def group_key(case: dict, group_by: str) -> str | None:
    if group_by == "owner":
        return (case.get("assignee") or {}).get("id")
    return case.get(group_by)


def compute(db, since, until, now, group_by, also=(), assignee=None) -> tuple[dict, list, dict]:
    """(overall, groups by ``group_by``, {grouping: groups} for ``also``) as cases.metrics answers."""
    cases = period_cases(db, since, until, assignee)
    fus = list(db.followups.find({"case_id": {"$in": [c["_id"] for c in cases]}})) if cases else []
    by_case: dict[str, list[dict]] = defaultdict(list)
    for fu in fus:
        by_case[fu["case_id"]].append(followup_facts(fu, now))
    groupings = list(dict.fromkeys(g for g in (group_by, *also) if g))
    everything = []
    groups: dict[str, dict] = {g: defaultdict(list) for g in groupings}
    for case in cases:
        row = (facts(case, now), by_case.get(case["_id"], []))
        everything.append(row)
        for g in groupings:
            groups[g][group_key(case, g)].append(row)

    def both(rows):
        return {**summarise(r for r, _ in rows), **followup_summary(f for _, fs in rows for f in fs)}

    out = {
        g: [
            {"key": k, **both(rows)}
            for k, rows in sorted(groups[g].items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ]
        for g in groupings
    }
    return both(everything), out.get(group_by, []) if group_by else [], {g: out[g] for g in also}
