"""The case figures' sums, computed by the store: one ``$group`` per grouping over the
cases' ``tally`` (``metrics.tally``), never a read of the case documents.

Shapes (each pinned in tests/store/test_conformance.py; docs/store.md says why):

- the period is a ``$match`` on the epoch-millisecond number ``tally.opened_ms``
  (stored datetimes compare at whole seconds on nx-27017, and not at all in ``$match``);
- ``$group`` on one field (``$team``, ``$level``, ``$touchpoint``, ``$assignee.id``)
  with ``$sum`` of ``1`` and of numeric fields and ``$min`` of numbers or nulls; a
  ``$sum`` over a field no document of the group has answers ``0`` on MongoDB and
  ``None`` on nx-27017, read as 0 here;
- root causes are summed for the codes asked for (the configured ones); when a group's
  causes add up to less than its ``caused``, the codes present are listed
  (``$group`` by the cause) and the grouping is summed again with them;
- a running clock overdue now is no stored number: when a group's earliest
  ``ack_due``/``resolve_due`` has passed, those cases are counted per group by a
  ``$match`` on them (an ``$and`` around the ``$or``: ``all_of``).
"""

from __future__ import annotations

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


def _overdue(now: float) -> dict[str, dict]:
    """Per figure, the cases of a period it misses as stored: overdue now, not settled."""
    ack, res = {"tally.ack_due": {"$lte": now}}, {"tally.resolve_due": {"$lte": now}}
    return {
        "ack_breach": ack,
        "resolve_breach": res,
        "breach": all_of({"tally.breach": 0, "tally.has_sla": 1}, {"$or": [ack, res]}),
    }


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

    def sums(
        self, match: dict, groupings: list[str | None], now: float, causes: list[str]
    ) -> dict[str | None, dict]:
        """{grouping: {key: sums}} for the cases ``match`` selects, as of ``now`` (epoch
        seconds), sums as ``metrics.figures`` reads them; ``causes``: the root causes
        expected (others are found when present). Several groupings are one ``$group``
        by the tallies' ``cell``, folded here; a grouping alone, or tallies written
        before they had a cell (until ``backfill_tallies --everything``), one each."""
        if len(groupings) > 1:
            cells = self._sums_by(match, "$tally.cell", now, causes)
            if None not in cells:
                return {g: _fold(cells, g) for g in groupings}
        return {g: self._sums_by(match, GROUP_FIELDS[g], now, causes) for g in groupings}

    def _sums_by(self, match: dict, key: str | None, now: float, causes: list[str]) -> dict:
        """{key: sums} of one ``$group`` key, with every root cause present and the
        running clocks overdue ``now``."""
        groups = self._group(match, key, causes)
        if any(sum(s["causes"].values()) != s["caused"] for s in groups.values()):
            causes = sorted({*causes, *self._causes(match)})
            groups = self._group(match, key, causes)
        if any(due is not None and due <= now for s in groups.values() for due in s["due"]):
            for figure, late in _overdue(now).items():
                rows = self.db.cases.aggregate(
                    [{"$match": all_of(match, late)}, {"$group": {"_id": key, "n": {"$sum": 1}}}]
                )
                for row in rows:
                    groups[row["_id"]][figure] += row["n"]
        return groups

    def _group(self, match: dict, key: str | None, causes: list[str]) -> dict:
        """{key: sums} of one grouping (the overdue cases not yet counted)."""
        accumulators = {f: {"$sum": f"$tally.{f}"} for f in metrics.SUMMED}
        accumulators.update({f: {"$min": f"$tally.{f}"} for f in metrics.DUE})
        fields = {metrics.cause_field(c): c for c in causes}
        accumulators.update({f: {"$sum": f"$tally.cause.{f}"} for f in fields})
        rows = self.db.cases.aggregate(
            [{"$match": match}, {"$group": {"_id": key, "n": {"$sum": 1}, **accumulators}}]
        )
        groups = {}
        for row in rows:
            sums = {f: row.get(f) or 0 for f in ("n", *metrics.SUMMED)}
            sums["causes"] = {code: row.get(f) or 0 for f, code in fields.items()}
            sums["due"] = [row.get(f) for f in metrics.DUE]
            groups[row["_id"]] = sums
        return groups

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


def _fold(cells: dict[str, dict], grouping: str | None) -> dict:
    """The sums of ``grouping``'s groups from those of the cells."""
    out: dict = {}
    for value, sums in cells.items():
        key = metrics.cell_key(value, grouping)
        if key not in out:
            out[key] = {**sums, "causes": dict(sums["causes"]), "due": list(sums["due"])}
            continue
        group = out[key]
        for f in ("n", *metrics.SUMMED):  # the overdue clocks are in the breaches already
            group[f] += sums[f]
        for code, n in sums["causes"].items():
            group["causes"][code] = group["causes"].get(code, 0) + n
        group["due"] = [
            min((d for d in pair if d is not None), default=None)
            for pair in zip(group["due"], sums["due"], strict=True)
        ]
    return out
