"""Claiming the earliest due document (a timer's work item) without reading the collection.

Every sweep claims its work with one atomic ``find_one_and_update`` and a lease. On the
embedded store a ``find_one_and_update`` filters document by document in Python unless
its filter is the primary key (docs/store.md): a sweep that finds nothing due still
read every document of the collection, every tick, so an idle system's timers cost
grew with the data (escalation steps, deliveries, deadlines: 6-8 ms per 5,000
documents per claim, several claims a second). An aggregate ``$match`` of equalities
and ranges is answered from an index instead (~0.6 ms).

So a claim is two steps that keep the one-winner guarantee:
1. the candidates: per *branch* (a plain filter of equalities and ranges, the parts
   of what used to be one ``$or`` or ``$in``), the ``_id`` and sort key of the first
   few matching documents, in sort order, from an aggregate (read-only);
2. the claim: ``find_one_and_update`` by ``_id`` **with the branch's conditions**, in
   the candidates' order, until one succeeds. Another worker that claimed the same
   document first makes the guard fail, and the next candidate is tried.

A claim that loses every candidate reads the candidates again (a bounded number of
times), so a busy sweep is not starved by a competitor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection

LOOK_AHEAD = 8  # candidates read per branch
ROUNDS = 3  # fresh reads of the candidates when every one was taken by another worker


def dotted(doc: dict, path: str) -> Any:
    """The value at a dotted ``path`` of ``doc`` (None when absent)."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def matching(coll: Collection, branches: Sequence[dict], sort: str, limit: int) -> list[dict]:
    """The documents matching any of ``branches`` (plain filters), by ``sort`` then
    ``_id``, at most ``limit``: one aggregate per branch (answered in SQL, not document
    by document as a ``find`` with ``$or``/``$in`` on a secondary field is)."""
    found: dict = {}
    for branch in branches:
        for doc in coll.aggregate([{"$match": branch}, {"$sort": {sort: 1}}, {"$limit": limit}]):
            found[doc["_id"]] = doc
    ordered = sorted(
        found.values(), key=lambda d: (dotted(d, sort) is not None, dotted(d, sort) or 0, str(d["_id"]))
    )
    return ordered[:limit]


def candidates(
    coll: Collection, branches: Sequence[dict], sort_field: str, limit: int
) -> tuple[list[tuple], bool]:
    """``(sort key, _id, branch)`` of the first ``limit`` documents matching each
    branch, earliest first over all branches (a missing key sorts first), and whether
    some branch may hold more than it returned."""
    found: list[tuple] = []
    more = False
    for number, branch in enumerate(branches):
        pipeline: list[dict[str, Any]] = [{"$match": branch}, {"$sort": {sort_field: 1}}, {"$limit": limit}]
        docs = list(coll.aggregate([*pipeline, {"$project": {sort_field: 1}}]))
        more = more or len(docs) >= limit
        for doc in docs:
            key = dotted(doc, sort_field)
            found.append(((key is not None, key if key is not None else 0), number, doc["_id"], branch))
    found.sort(key=lambda row: (row[0], row[1]))
    return [(key[1], _id, branch) for key, _, _id, branch in found], more


def claim_earliest(
    coll: Collection, branches: Sequence[dict], sort_field: str, update: dict, look: int = LOOK_AHEAD
) -> dict | None:
    """Atomically apply ``update`` to the earliest document (by ``sort_field``) that
    matches one of ``branches`` and return it as updated; None when none matches."""
    for _ in range(ROUNDS):
        found, more = candidates(coll, branches, sort_field, look)
        for _key, _id, branch in found:
            doc = coll.find_one_and_update(
                {**branch, "_id": _id}, update, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                return doc
        if not more:
            return None  # nothing due, or every due one went to another worker
    return None
