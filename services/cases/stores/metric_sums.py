"""The case figures' sums, computed by the store: one ``$group`` per grouping over the
cases' ``tally`` (``metrics.tally``), never a read of the case documents.

Shapes (each pinned in tests/store/test_conformance.py; docs/store.md says why):

- the period is a ``$match`` on the epoch-millisecond number ``tally.opened_ms``
  (stored datetimes compare at whole seconds on nx-27017, and not at all in ``$match``);
- ``$group`` on one field (``$team``, ``$level``, ``$touchpoint``, ``$assignee.id``)
  with ``$sum`` of ``1`` and of numeric fields; a ``$sum`` over a field no document
  of the group has answers ``0`` on MongoDB and ``None`` on nx-27017, read as 0 here;
- a running clock overdue now is no stored number: cases whose clock is overdue and
  whose tally holds no settled breach are counted by a ``$match`` on ``due_epoch``,
  run only when one such case exists in the period.
"""

from __future__ import annotations

from collections import defaultdict

from pymongo import ASCENDING, IndexModel

from services.cases import metrics
from services.common.mongo import all_of

GROUP_FIELDS = {
    None: None,
    "team": "$team",
    "level": "$level",
    "touchpoint": "$touchpoint",
    "owner": "$assignee.id",
}
CLOCK = {"acknowledge": "sla.clocks.acknowledge", "resolve": "sla.clocks.resolve"}
SETTLED = {"acknowledge": "tally.ack_breach", "resolve": "tally.resolve_breach"}
# (figure, settled flag it adds to, clocks whose overdue state counts)
OVERDUE = (
    ("ack_breach", "tally.ack_breach", ("acknowledge",)),
    ("resolve_breach", "tally.resolve_breach", ("resolve",)),
    ("breach", "tally.breach", ("acknowledge", "resolve")),
)


def _overdue(clock: str, now: float) -> dict:
    return {f"{CLOCK[clock]}.state": "running", f"{CLOCK[clock]}.due_epoch": {"$lte": now}}


class MetricSums:
    """Sums of the tallies of the cases opened in a period, per group."""

    def __init__(self, db):
        self.db = db

    def indexes(self) -> dict[str, list]:
        return {"cases": [IndexModel([("tally.opened_ms", ASCENDING)], name="tally_opened")]}

    def period(self, since_ms: int, until_ms: int, assignee: str | None) -> dict:
        """Cases opened in [since_ms, until_ms) (epoch ms), owned now by ``assignee`` when given."""
        match: dict = {"tally.opened_ms": {"$gte": since_ms, "$lt": until_ms}}
        if assignee is not None:
            match["assignee.id"] = assignee
        return match

    def sums(self, match: dict, groupings: list[str | None], now: float) -> dict[str | None, dict]:
        """{grouping: {key: sums}} for the cases ``match`` selects, as of ``now`` (epoch
        seconds); sums as ``metrics.figures`` reads them."""
        causes = self._causes(match)
        late = self._late(match, now)
        out = {}
        for grouping in groupings:
            key = GROUP_FIELDS[grouping]
            accumulators = {f: {"$sum": f"$tally.{f}"} for f in metrics.SUMMED}
            accumulators.update(
                {metrics.cause_field(c): {"$sum": f"$tally.cause.{metrics.cause_field(c)}"} for c in causes}
            )
            rows = self.db.cases.aggregate(
                [{"$match": match}, {"$group": {"_id": key, "n": {"$sum": 1}, **accumulators}}]
            )
            groups = {}
            for row in rows:
                sums = {f: row.get(f) or 0 for f in ("n", *metrics.SUMMED)}
                sums["causes"] = {c: row.get(metrics.cause_field(c)) or 0 for c in causes}
                groups[row["_id"]] = sums
            if late:
                for figure, extra in self._overdue_counts(match, key, now).items():
                    for k, n in extra.items():
                        groups[k][figure] += n
            out[grouping] = groups
        return out

    def owners_of(self, match: dict, case_ids: list[str]) -> dict[str, dict]:
        """{case id: its grouping fields} of those of ``case_ids`` that ``match`` selects
        (the cases of the period's follow-ups)."""
        if not case_ids:
            return {}
        fields = {"team": 1, "level": 1, "touchpoint": 1, "assignee": 1}
        return {c["_id"]: c for c in self.db.cases.find({**match, "_id": {"$in": case_ids}}, fields)}

    def _causes(self, match: dict) -> list[str]:
        """The root causes present in the period (a superset of those counted)."""
        rows = self.db.cases.aggregate([{"$match": match}, {"$group": {"_id": "$resolution.root_cause"}}])
        return sorted(r["_id"] for r in rows if isinstance(r["_id"], str) and r["_id"])

    def _late(self, match: dict, now: float) -> bool:
        """Is any case of the period overdue now without a settled breach on that clock?"""
        either = {"$or": [{**_overdue(c, now), flag: 0} for c, flag in SETTLED.items()]}
        rows = list(self.db.cases.aggregate([{"$match": all_of(match, either)}, {"$count": "n"}]))
        return bool(rows and rows[0]["n"])

    def _overdue_counts(self, match: dict, key: str | None, now: float) -> dict[str, dict]:
        """Per figure, {group key: cases overdue now not yet counted by their settled flag}."""
        out: dict[str, dict] = {}
        for figure, flag, clocks in OVERDUE:
            late = {"$or": [_overdue(c, now) for c in clocks]}
            found = all_of(match, {flag: 0, **({"tally.has_sla": 1} if figure == "breach" else {})}, late)
            rows = self.db.cases.aggregate([{"$match": found}, {"$group": {"_id": key, "n": {"$sum": 1}}}])
            out[figure] = defaultdict(int, {r["_id"]: r["n"] for r in rows})
        return out
