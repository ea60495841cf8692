"""A case's audit trail (who, when, what, why) and its comments: ``case_audit``,
``case_comments``. Entries written again (a redelivery) are keyed, so they stay once."""

from __future__ import annotations

import time
from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.errors import BadRequest, NotFound


def audit_entry(
    case_id: str, action: str, actor: str, why: str, *, detail: dict | None = None, key: str | None = None, at
) -> dict:
    """An audit entry (who, when, what, why); ``key`` (its ``_id``) makes it idempotent."""
    entry = {
        "case_id": case_id,
        "action": action,
        "actor": actor,
        "why": why,
        "detail": detail or {},
        "at": at,
        "seq": time.time_ns(),
    }
    if key:
        entry["_id"] = key
    return entry


def opened_audit(case: dict) -> dict:
    """The audit entry of a case's opening (keyed: written once)."""
    return audit_entry(
        case["_id"],
        "opened",
        "system",
        f"alert {case['alert_id']}",
        key=f"{case['_id']}:opened",
        at=case["opened_at"],
    )


def assigned_audit(case: dict) -> dict:
    """The audit entry of the assignment a case got as it opened (``opening_assignment``),
    as the ``assign`` transition writes it (keyed by that revision: written once)."""
    given = case["assignment"]
    return audit_entry(
        case["_id"],
        "assigned",
        "system",
        given["reason"],
        detail={"from": "open", "to": "assigned", "assignee": case["assignee"]},
        key=f"{case['_id']}:r{given['rev']}",
        at=given["at"],
    )


class CaseTrail:
    """The audit trail and the comments of cases."""

    def __init__(self, db):
        self.db = db

    def indexes(self) -> dict[str, list]:
        return {
            "case_audit": [IndexModel([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at")],
            "case_comments": [IndexModel([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at")],
        }

    def audit(
        self,
        case_id: str,
        action: str,
        actor: str,
        why: str,
        *,
        detail: dict | None = None,
        key: str | None = None,
        at: datetime,
        also: list[dict] | tuple = (),
    ) -> None:
        """Append an audit entry (who, when, what, why), after ``also`` (entries built
        with ``audit_entry``). ``key`` makes it idempotent."""
        self.write_audit([*also, audit_entry(case_id, action, actor, why, detail=detail, key=key, at=at)])

    def write_audit(self, entries: list[dict]) -> None:
        """Insert audit entries in one round trip; those already there (keyed) stay."""
        if not entries:
            return
        if len(entries) == 1:
            try:
                self.db.case_audit.insert_one(entries[0])
            except DuplicateKeyError:
                pass
            return
        try:
            self.db.case_audit.insert_many(entries, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def case_audit(self, case_id: str) -> list[dict]:
        # aggregate $match: read by the case index on the embedded store (its find scans, docs/store.md)
        pipeline = [{"$match": {"case_id": case_id}}, {"$sort": {"at": 1, "seq": 1}}]
        return list(self.db.case_audit.aggregate(pipeline))

    def add_comment(self, comment: dict) -> dict:
        """Store a comment on a case that is not closed (once per comment id), audited."""
        case = self.db.cases.find_one({"_id": comment["case_id"]})
        if case is None:
            raise NotFound(f"no case {comment['case_id']}")
        if case["status"] == "closed":
            raise BadRequest(f"case_id: {case['_id']} is closed; comments are no longer accepted")
        try:
            self.db.case_comments.insert_one(comment)
        except DuplicateKeyError:
            return self.db.case_comments.find_one({"_id": comment["_id"]})
        self.audit(
            comment["case_id"],
            "commented",
            comment["author"],
            comment["visibility"],
            detail={"comment_id": comment["_id"]},
            key=f"{comment['case_id']}:comment:{comment['_id']}",
            at=comment["at"],
        )
        return comment

    def record_delivery(self, comment_id: str, outcome: dict) -> bool:
        """What became of a customer-visible comment sent to the customer (once)."""
        return bool(
            self.db.case_comments.update_one(
                {"_id": comment_id, "visibility": "customer", "delivery": {"$exists": False}},
                {"$set": {"delivery": outcome}},
            ).modified_count
        )

    def record_receipt(self, comment_id: str, outcome: dict) -> bool:
        """A delivery receipt of a reply sent to the customer: over ``sent``, or first (once)."""
        query = {
            "_id": comment_id,
            "visibility": "customer",
            "$or": [{"delivery": {"$exists": False}}, {"delivery.status": "sent"}],
        }
        return bool(self.db.case_comments.update_one(query, {"$set": {"delivery": outcome}}).modified_count)

    def comments(self, case_id: str) -> list[dict]:
        # aggregate $match: read by the case index on the embedded store (its find scans, docs/store.md)
        return list(self.db.case_comments.aggregate([{"$match": {"case_id": case_id}}, {"$sort": {"at": 1}}]))
