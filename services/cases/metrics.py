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
update as the transition that causes them, together with the case's ``tally``
(numbers only, ``tally()``): the store sums the tallies per group with
``$group`` (``stores/metric_sums.py``) and ``figures()`` turns the sums into
``M``; no case document is read. Cases stored before tallies existed get theirs
from ``python -m services.cases.backfill_tallies``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

GROUP_BY = ("team", "level", "touchpoint", "owner")
CLOCKS = ("acknowledge", "resolve")
BREACH_FLAGS = {"acknowledge": "ack_breached", "resolve": "resolve_breached"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clock_breached(clock: dict | None, now: datetime) -> bool:
    """Was this clock breached by ``now`` (missed, overdue, or overdue before a pause)?"""
    return settled_breach(clock) or overdue(clock, now)


def settled_breach(clock: dict | None) -> bool:
    """A breach that no longer depends on the time: missed when it stopped, or run out before a pause."""
    if not clock or clock["state"] == "running":
        return False
    if clock["state"] == "stopped":
        return clock.get("met") is False
    return clock.get("breached_at") is not None


def overdue(clock: dict | None, now: datetime) -> bool:
    """A running clock past its due time (``now`` decides; no write marks it)."""
    if not clock or clock["state"] != "running" or clock.get("due_epoch") is None:
        return False
    return clock["due_epoch"] <= now.timestamp()


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


def epoch_ms(moment: datetime) -> int:
    """``moment`` as whole epoch milliseconds, as BSON stores it (truncated)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def tally(case: dict) -> dict:
    """What one case adds to its groups' sums (``tally``: numbers only, summed by ``$group``).

    Written with every transition (``lifecycle.with_clocks``) and at opening, from the
    case as it is stored then. Breaches kept here are the settled ones (sticky flags,
    a clock stopped missed or run out before a pause); a running clock overdue now is
    counted at read time from ``ack_due``/``resolve_due`` (``stores/metric_sums.py``).
    Durations in whole milliseconds between the stored (millisecond) times; ``cause``:
    ``{hex(root cause): 1}``, ``caused``: 1 when there is one.
    """
    m = {**new_milestones(), **(case.get("milestones") or _legacy_milestones(case))}
    clocks = (case.get("sla") or {}).get("clocks") or {}
    opened = epoch_ms(case["opened_at"])
    ack, res = m["acknowledged_at"], m["resolved_at"]
    fresh = case.get("reopen_count", 0) == 0
    settled = {name: bool(m[flag] or settled_breach(clocks.get(name))) for name, flag in BREACH_FLAGS.items()}
    cause = (case.get("resolution") or {}).get("root_cause") if res else None
    due = {
        name: clocks[name].get("due_epoch")
        if clocks.get(name) and clocks[name]["state"] == "running"
        else None
        for name in CLOCKS
    }
    return {
        "opened_ms": opened,
        "has_sla": int(bool(clocks)),
        "acked": int(bool(ack)),
        "ack_ms": epoch_ms(ack) - opened if ack else 0,
        "resolved": int(bool(res)),
        "resolve_ms": epoch_ms(res) - opened if res else 0,
        "reopened": int(bool(res) and not fresh),
        "fcr": int(bool(res) and bool(m["first_contact_resolution"]) and fresh),
        "ack_breach": int(settled["acknowledge"]),
        "resolve_breach": int(settled["resolve"]),
        "breach": int(bool(clocks) and (settled["acknowledge"] or settled["resolve"])),
        "caused": int(bool(cause)),
        "cause": {cause_field(cause): 1} if cause else {},
        # a running clock's due time while its breach is not settled: overdue once now passes it
        "ack_due": None if settled["acknowledge"] else due["acknowledge"],
        "resolve_due": None if settled["resolve"] else due["resolve"],
        "cell": cell(case),
    }


def cell(case: dict) -> str:
    """The case's groups in every grouping, as one string (ASCII JSON of its ``GROUP_BY``
    keys): one ``$group`` by it serves several groupings (``stores/metric_sums.py``)."""
    return json.dumps([case.get("team"), case.get("level"), case.get("touchpoint"), owner_of(case)])


def owner_of(case: dict) -> str | None:
    return (case.get("assignee") or {}).get("id")


def cell_key(cell_value: str, grouping: str | None):
    """A cell's key in ``grouping`` (None: the one group of all cases)."""
    return None if grouping is None else json.loads(cell_value)[GROUP_BY.index(grouping)]


SUMMED = ("has_sla", "acked", "ack_ms", "resolved", "resolve_ms", "reopened", "fcr", "ack_breach",
          "resolve_breach", "breach", "caused")  # fmt: skip
DUE = ("ack_due", "resolve_due")  # the earliest per group ($min)


def add_sums(groups: Iterable[dict]) -> dict:
    """The sums of several groups together (every figure is a sum)."""
    total: dict = {"n": 0, **dict.fromkeys(SUMMED, 0), "causes": {}}  # (no "due": counted already)
    for sums in groups:
        for f in ("n", *SUMMED):
            total[f] += sums[f]
        for code, n in sums["causes"].items():
            total["causes"][code] = total["causes"].get(code, 0) + n
    return total


def ms_bound(moment: datetime) -> int:
    """The least whole epoch millisecond at or after ``moment``: a stored (millisecond)
    time ``t`` is ``>= moment`` exactly when ``epoch_ms(t) >= ms_bound(moment)``."""
    return -(-((moment - EPOCH) // timedelta(microseconds=1)) // 1000)


def cause_field(code: str) -> str:
    """A root cause as an ASCII field name (codes are configuration: any text)."""
    return "c" + code.encode().hex()


def _legacy_milestones(case: dict) -> dict:
    """Cases stored before milestones existed: their latest acknowledgement and resolution."""
    return {
        "acknowledged_at": (case.get("acknowledged") or case.get("resolved") or {}).get("at"),
        "resolved_at": (case.get("resolved") or {}).get("at"),
        "first_contact_resolution": (case.get("resolution") or {}).get("first_contact_resolution"),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def figures(sums: dict) -> dict:
    """``M`` (the case figures) from a group's sums: ``n`` cases, the ``SUMMED`` fields
    (breaches already including the overdue ones) and ``causes`` ({code: n})."""
    resolved = sums["resolved"]
    return {
        "cases": sums["n"],
        "acknowledged": sums["acked"],
        "resolved": resolved,
        "mtta_seconds": sums["ack_ms"] / sums["acked"] / 1000 if sums["acked"] else None,
        "mttr_seconds": sums["resolve_ms"] / resolved / 1000 if resolved else None,
        "sla_breach_rate": _rate(sums["breach"], sums["has_sla"]),
        "ack_breach": sums["ack_breach"],
        "resolve_breach": sums["resolve_breach"],
        "reopen_rate": _rate(sums["reopened"], resolved),
        "fcr_rate": _rate(sums["fcr"], resolved),
        "root_causes": {code: n for code, n in sorted(sums["causes"].items()) if n},
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
