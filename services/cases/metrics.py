"""Case metrics (MTTA, MTTR, SLA breach rate, reopen rate, FCR): pure code.

**Which cases count.** A period ``[since, until)`` selects the cases *opened*
in it (a cohort); each is measured by what has happened to it up to the
moment the metrics are asked for (``as_of``), so an old period's figures can
still move while its cases are worked. Grouping is by the case's current
``team`` (the team of its owner), ``level``, ``touchpoint`` or ``owner`` (the
current assignee's id); a case without one is grouped under ``None``.

**Times are wall-clock.** ``mtta_seconds`` is the mean of (first
acknowledgement − opening) and ``mttr_seconds`` the mean of (first resolution
− opening), in elapsed seconds, nights and holidays included: what the
customer waited. Business time is what the SLA clocks count; their outcome is
``ack_breach``/``resolve_breach``/``sla_breach_rate``.

Per group ``M``:

* ``cases``: opened in the period;
* ``acknowledged``: of those, acknowledged at least once (acknowledge,
  start, or a resolve that stopped the acknowledge clock); ``resolved``: resolved
  at least once;
* ``ack_breach`` / ``resolve_breach``: cases whose acknowledge / resolve
  clock was ever breached (missed when it stopped, overdue now, or overdue
  before a pause or a reopen); ``sla_breach_rate``: cases with either breach /
  cases with an SLA;
* ``reopen_rate``: resolved cases reopened at least once / resolved cases;
* ``root_causes``: resolved cases per root cause of their current resolution
  (``{code: n}``); a case reopened and not resolved again has none, so it is not counted;
* ``fcr_rate``: resolved cases whose first resolution was marked first-contact
  and that were never reopened / resolved cases.

Follow-up (回访) figures, over the follow-ups of those cases (``followups``
collection, see ``followup.py``):

* ``followups``: follow-ups scheduled (not cancelled); ``followups_answered``;
* ``post_resolution_csat``: mean CSAT (1-5) of the follow-up answers on the CSAT
  scale; ``post_resolution_nps``: NPS (% promoters − % detractors) of those on the
  NPS scale;
* ``recovery_rate``: of the answered follow-ups of cases whose alert came from a
  detractor (NPS 0-6 / CSAT 1-2), the share answering passive or satisfied;
* ``followup_on_time_rate``: follow-ups done in time (the survey sent, the task done,
  by the follow-up's deadline: its due time plus the rule's task SLA in business
  hours) / follow-ups done or past their deadline.

A rate or a mean over zero cases is ``None``. The milestones these read are
kept on the case (``milestones``: first acknowledgement, first resolution,
first-contact flag, sticky breach flags), written by the same conditional
update as the transition that causes them, so the figures are a read of one
collection (see ``store.metrics_rows``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

GROUP_BY = ("team", "level", "touchpoint", "owner")
CLOCKS = ("acknowledge", "resolve")
BREACH_FLAGS = {"acknowledge": "ack_breached", "resolve": "resolve_breached"}


def clock_breached(clock: dict | None, now: datetime) -> bool:
    """Was this clock breached by ``now`` (missed, overdue, or overdue before a pause)?"""
    if not clock:
        return False
    if clock["state"] == "stopped":
        return clock.get("met") is False
    if clock["state"] == "running":
        return clock.get("due_epoch") is not None and clock["due_epoch"] <= now.timestamp()
    return clock.get("breached_at") is not None  # paused after running out


def new_milestones() -> dict:
    return {
        "acknowledged_at": None,
        "resolved_at": None,
        "first_contact_resolution": None,
        "ack_breached": False,
        "resolve_breached": False,
    }


def advance(milestones: dict | None, action: str, now: datetime, before: dict, after: dict) -> dict:
    """The case's milestones after ``action`` (``before``/``after``: its SLA then and now).

    Firsts are kept once set; breach flags only ever turn on, read from the
    clocks both before the action (a reopen starts fresh clocks) and after it
    (resolving late stops the clock as missed).
    """
    out = {**new_milestones(), **(milestones or {})}
    if action in ("acknowledge", "start", "resolve") and out["acknowledged_at"] is None:
        out["acknowledged_at"] = now
    if action == "resolve" and out["resolved_at"] is None:
        out["resolved_at"] = now
        out["first_contact_resolution"] = (after.get("resolution") or {}).get("first_contact_resolution")
    for name, flag in BREACH_FLAGS.items():
        clocks = [((c.get("sla") or {}).get("clocks") or {}).get(name) for c in (before, after)]
        out[flag] = bool(out[flag] or any(clock_breached(c, now) for c in clocks))
    return out


def facts(case: dict, now: datetime) -> dict:
    """What one case contributes to the figures, as of ``now``."""
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


def _legacy_milestones(case: dict) -> dict:
    """Cases stored before milestones existed: their latest acknowledgement and resolution."""
    return {
        "acknowledged_at": (case.get("acknowledged") or case.get("resolved") or {}).get("at"),
        "resolved_at": (case.get("resolved") or {}).get("at"),
        "first_contact_resolution": (case.get("resolution") or {}).get("first_contact_resolution"),
    }


def group_key(case: dict, group_by: str) -> str | None:
    if group_by == "owner":
        return (case.get("assignee") or {}).get("id")
    return case.get(group_by)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarise(rows: Iterable[dict]) -> dict:
    """``M`` for the facts of a group of cases."""
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


def followup_facts(fu: dict, now: datetime) -> dict:
    """What one follow-up contributes to the figures, as of ``now``."""
    answer = fu.get("answer") or {}
    outcome = (fu.get("message") or {}).get("outcome") or {}
    done_at = (fu.get("task") or {}).get("done_at") or answer.get("at") if fu.get("task") else None
    if done_at is None and outcome.get("status") == "sent":
        done_at = outcome.get("finished_at")
    if isinstance(done_at, str):
        done_at = datetime.fromisoformat(done_at)
    return {
        "counted": fu["state"] != "cancelled",
        "scale": answer.get("scale"),
        "score": answer.get("score"),
        "classification": answer.get("classification"),
        "detractor": bool(fu.get("detractor")),
        "done_on_time": None if done_at is None else done_at.timestamp() <= fu["deadline_epoch"],
        "past_deadline": done_at is None and now.timestamp() > fu["deadline_epoch"],
    }


def followup_summary(rows: Iterable[dict]) -> dict:
    """The follow-up figures of a group (see the module doc)."""
    rows = [r for r in rows if r["counted"]]
    answered = [r for r in rows if r["classification"]]
    csat = [r["score"] for r in answered if r["scale"] == "csat"]
    nps = [r["score"] for r in answered if r["scale"] == "nps"]
    detractors = [r for r in answered if r["detractor"]]
    timed = [r for r in rows if r["done_on_time"] is not None or r["past_deadline"]]
    return {
        "followups": len(rows),
        "followups_answered": len(answered),
        "post_resolution_csat": _mean(csat),
        "post_resolution_nps": (
            100.0 * (sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps)) / len(nps) if nps else None
        ),
        "recovery_rate": _rate(sum(r["classification"] != "unhappy" for r in detractors), len(detractors)),
        "followup_on_time_rate": _rate(sum(bool(r["done_on_time"]) for r in timed), len(timed)),
    }


def compute(
    cases: Iterable[dict],
    now: datetime,
    group_by: str | None,
    followups: Iterable[dict] = (),
    also: Iterable[str] = (),
) -> tuple[dict, list[dict], dict[str, list[dict]]]:
    """(overall M, [{"key": k, **M}] by ``group_by``, and the same for each grouping of
    ``also``), groups sorted by key, None last; ``followups``: the follow-ups of these
    cases. One pass over the cases for every grouping."""
    by_case: dict[str, list[dict]] = defaultdict(list)
    for fu in followups:
        by_case[fu["case_id"]].append(followup_facts(fu, now))
    groupings = list(dict.fromkeys([g for g in (group_by, *also) if g]))
    everything: list[tuple[dict, list[dict]]] = []
    groups: dict[str, dict[str | None, list]] = {g: defaultdict(list) for g in groupings}
    for case in cases:
        row = (facts(case, now), by_case.get(case["_id"], []))
        everything.append(row)
        for g in groupings:
            groups[g][group_key(case, g)].append(row)
    out = {
        g: [
            {"key": key, **_both(rows)}
            for key, rows in sorted(groups[g].items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ]
        for g in groupings
    }
    return _both(everything), out.get(group_by, []) if group_by else [], {g: out[g] for g in also}


def _both(rows: list[tuple[dict, list[dict]]]) -> dict:
    return {**summarise(r for r, _ in rows), **followup_summary(f for _, fus in rows for f in fus)}
