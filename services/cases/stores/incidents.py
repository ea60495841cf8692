"""Incidents and their children, over the ``cases`` collection: an incident is a case
(``kind: incident``) with its group's ``group_terms``; a child is a customer case whose
``parent_id`` names it (indexed). Linking is one conditional ``update_many``
(``parent_id`` still empty, the case still active), so two replicas linking the same
case, or a redelivery linking it again, link it once.

The open incidents a batch's new cases may belong to are found through
``incident_terms``: one document per ``path=value`` term (its ``_id``) listing the
incidents keyed on it (``incidents.<slot>``). A batch reads it by ``_id`` with ``$in``
(then those incidents by ``_id``): on the embedded store a filter on any other field
scans the collection (``$in`` on ``group_terms``, indexed or not, took 141 ms at 10,000
cases; by ``_id`` under 2 ms). Entries of incidents no longer active are dropped as a
lookup meets them; an incident that reopens registers its terms again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from services.cases.grouping import INCIDENT, covered_query
from services.cases.lifecycle import ACTIVE_STATUSES, slot
from services.cases.stores.queries import visibility_query
from services.cases.stores.trail import CaseTrail, audit_entry
from services.common.claims import claim_earliest
from services.common.mongo import all_of, insert_many_once

LINK_FIELDS = {"_id": 1, "status": 1, "event": 1, "rule": 1, "kind": 1, "parent_id": 1, "opened_at": 1}
CHILD_FIELDS = {
    "_id": 1, "status": 1, "level": 1, "title": 1, "customer": 1, "assignee": 1, "opened_at": 1,
    "parent_id": 1, "resolution": 1,
}  # fmt: skip
LISTED_IN_AUDIT = 50  # child ids named in the incident's "children_linked" entry


class Incidents:
    """Incidents, the open ones a group key finds, and the links to their children."""

    def __init__(self, db, trail: CaseTrail):
        self.db = db
        self.trail = trail

    def indexes(self) -> dict[str, list]:
        return {
            "cases": [
                IndexModel([("parent_id", ASCENDING)], name="parent_id", sparse=True),
                IndexModel(
                    [("children_resolution.state", ASCENDING)], name="children_resolution", sparse=True
                ),
            ]
        }

    def covered_cases(self, group: dict) -> list[dict]:
        """Active customer cases without a parent whose event may be in ``group``."""
        return list(self.db.cases.find(covered_query(group), LINK_FIELDS))

    def register_terms(self, incident: dict) -> None:
        """List an incident under each of its group's terms (idempotent)."""
        entry, terms = f"incidents.{slot(incident['_id'])}", incident["group_terms"]
        docs = [{"_id": term, "incidents": {slot(incident["_id"]): incident["_id"]}} for term in terms]
        existing = [terms[i] for i in insert_many_once(self.db.incident_terms, docs)]
        if existing:
            self.db.incident_terms.update_many({"_id": {"$in": existing}}, {"$set": {entry: incident["_id"]}})

    def open_incidents(self, terms: list[str]) -> list[dict]:
        """The active incidents keyed on any of ``terms``: one read by ``_id`` per batch
        (a second one when any incident is listed under them)."""
        listed: dict[str, set[str]] = {}
        for doc in self.db.incident_terms.find({"_id": {"$in": terms}}):
            for incident_id in (doc.get("incidents") or {}).values():
                listed.setdefault(incident_id, set()).add(doc["_id"])
        if not listed:
            return []
        fields = {"_id": 1, "status": 1, "group": 1, "opened_at": 1}
        found = list(self.db.cases.find({"_id": {"$in": sorted(listed)}}, fields))
        active = [i for i in found if i["status"] in ACTIVE_STATUSES]
        stale = set(listed) - {i["_id"] for i in active}
        for incident_id in sorted(stale):  # resolved or closed: no longer looked for
            self.db.incident_terms.update_many(
                {"_id": {"$in": sorted(listed[incident_id])}},
                {"$unset": {f"incidents.{slot(incident_id)}": ""}},
            )
        return active

    def link(self, incident: dict, case_ids: list[str], now: datetime) -> list[str]:
        """Make ``incident`` the parent of those of ``case_ids`` still active and without a
        parent; audit each child and the incident (keyed: once). Returns the children
        this incident holds among ``case_ids`` (linked now or by an earlier attempt)."""
        if not case_ids:
            return []
        parent = incident["_id"]
        self.db.cases.update_many(
            {"_id": {"$in": case_ids}, "parent_id": None, "status": {"$in": list(ACTIVE_STATUSES)}},
            {"$set": {"parent_id": parent, "linked_at": now}, "$currentDate": {"updated_at": True}},
        )
        held = sorted(
            c["_id"] for c in self.db.cases.find({"_id": {"$in": case_ids}, "parent_id": parent}, {"_id": 1})
        )
        if held:
            why = f"covered by incident {parent}"
            entries = [
                audit_entry(cid, "linked_to_incident", "system", why, detail={"incident_id": parent},
                            key=f"{cid}:incident:{parent}", at=now)
                for cid in held
            ]  # fmt: skip
            tag = hashlib.sha1("\x1f".join(held).encode("utf-8")).hexdigest()[:16]
            detail = {"count": len(held), "case_ids": held[:LISTED_IN_AUDIT]}
            entries.append(
                audit_entry(parent, "children_linked", "system", f"{len(held)} customer case(s) covered",
                            detail=detail, key=f"{parent}:children:{tag}", at=now)
            )  # fmt: skip
            self.trail.write_audit(entries)
        return held

    def children(
        self, incident_id: str, limit: int = 200, skip: int = 0, visible_to: dict | None = None
    ) -> list[dict]:
        """A page of an incident's children that ``visible_to`` may see, oldest first."""
        query = all_of({"parent_id": incident_id}, visibility_query(visible_to))
        cursor = self.db.cases.find(query, CHILD_FIELDS)
        return list(cursor.sort([("opened_at", ASCENDING), ("_id", ASCENDING)]).skip(skip).limit(limit))

    def child_statuses(self, incident_ids: list[str]) -> dict[str, list[dict]]:
        """The children of each incident, projected to their status (for the counts)."""
        found: dict[str, list[dict]] = {i: [] for i in incident_ids}
        for child in self.db.cases.find({"parent_id": {"$in": incident_ids}}, {"parent_id": 1, "status": 1}):
            found.setdefault(child["parent_id"], []).append(child)
        return found

    def active_children(self, incident_id: str) -> list[dict]:
        query = {"parent_id": incident_id, "status": {"$in": list(ACTIVE_STATUSES)}}
        return list(self.db.cases.find(query, {"_id": 1, "status": 1}).sort("_id", ASCENDING))

    def list_incidents(self, *, limit: int, skip: int, status: str | None = None) -> list[dict]:
        """Incidents by level, newest first; ``status``: one status, or ``active``."""
        query: dict = {"kind": INCIDENT}
        if status == "active":
            query["status"] = {"$in": list(ACTIVE_STATUSES)}
        elif status:
            query["status"] = status
        cursor = self.db.cases.find(query).sort(
            [("level", ASCENDING), ("opened_at", DESCENDING), ("_id", ASCENDING)]
        )
        return list(cursor.skip(skip).limit(limit))

    def summary(self, incident_id: str) -> dict | None:
        """What a child shows of its parent."""
        return self.db.cases.find_one(
            {"_id": incident_id}, {"_id": 1, "title": 1, "level": 1, "status": 1, "assignee": 1, "group": 1}
        )

    def start_children_resolution(self, incident_id: str, spec: dict) -> dict | None:
        """Ask for the children of an already resolved incident to be resolved (no request
        pending yet); the incident as it now is, or None."""
        return self.db.cases.find_one_and_update(
            {"_id": incident_id, "kind": INCIDENT, "status": "resolved",
             "children_resolution.state": {"$in": ["none", "done"]}},
            {"$set": {"children_resolution": spec}, "$currentDate": {"updated_at": True}},
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip

    def claim_children_resolution(self, now: float, lease: float) -> dict | None:
        """An incident whose children's resolution is pending and whose resolver's lease
        ran out (it died midway), leased to the caller; None when there is none."""
        branch = {"children_resolution.state": "pending", "children_resolution.lease_until": {"$lte": now}}
        update = {"$set": {"children_resolution.lease_until": now + lease}}
        return claim_earliest(self.db.cases, [branch], "children_resolution.lease_until", update)

    def finish_children_resolution(self, incident_id: str, outcome: dict) -> None:
        self.db.cases.update_one(
            {"_id": incident_id, "children_resolution.state": "pending"},
            {"$set": {"children_resolution.state": "done", "children_resolution.outcome": outcome}},
        )
