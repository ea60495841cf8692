"""The cases service's MongoDB store: cases, their audit trail, the alert inbox."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.cases.lifecycle import assignee_key
from services.common.mongo import Inbox, Store


class CaseStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.alert_inbox, ("alert_id",))

    def indexes(self):
        return {
            "alert_inbox": [self.inbox.index()],
            "cases": [
                IndexModel([("alert_id", ASCENDING)], unique=True, name="alert_id"),
                IndexModel([("status", ASCENDING), ("level", ASCENDING)], name="status_level"),
                IndexModel([("assignee.id", ASCENDING), ("status", ASCENDING)], name="assignee_status"),
                IndexModel([("customer.id", ASCENDING)], name="customer"),
                IndexModel([("opened_at", DESCENDING)], name="opened_at"),
            ],
            "case_audit": [IndexModel([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at")],
        }

    def open_case(self, case: dict) -> dict:
        """Insert the case unless it exists; return the stored case either way."""
        try:
            self.db.cases.insert_one(case)
            self.audit(
                case["_id"], "opened", "system", f"alert {case['alert_id']}", key=f"{case['_id']}:opened"
            )
            return case
        except DuplicateKeyError:
            return self.db.cases.find_one({"_id": case["_id"]})

    def assign(self, case_id: str, assignee: dict, *, by: str, reason: str) -> dict:
        """Make ``assignee`` the case's owner; a no-op when it already is."""
        key = assignee_key(assignee)
        case = self.db.cases.find_one_and_update(
            {"_id": case_id, "assignee_key": {"$ne": key}},
            {
                "$set": {
                    "assignee": assignee,
                    "assignee_key": key,
                    "status": "assigned",
                    "assignment": {"at": utcnow(), "by": by, "reason": reason},
                },
                "$currentDate": {"updated_at": True},
            },
            return_document=ReturnDocument.AFTER,
        )
        if case is None:
            return self.db.cases.find_one({"_id": case_id})
        self.audit(case_id, "assigned", by, reason, detail={"assignee": assignee})
        return case

    def audit(
        self,
        case_id: str,
        action: str,
        actor: str,
        why: str,
        *,
        detail: dict | None = None,
        key: str | None = None,
    ) -> None:
        """Append an audit entry (who, when, what, why). ``key`` makes it idempotent."""
        entry = {
            "case_id": case_id,
            "action": action,
            "actor": actor,
            "why": why,
            "detail": detail or {},
            "at": utcnow(),
        }
        if key:
            entry["_id"] = key
        try:
            self.db.case_audit.insert_one(entry)
        except DuplicateKeyError:
            pass

    def get_case(self, case_id: str) -> dict | None:
        return self.db.cases.find_one({"_id": case_id})

    def case_audit(self, case_id: str) -> list[dict]:
        return list(self.db.case_audit.find({"case_id": case_id}).sort("at", ASCENDING))

    def list_cases(
        self,
        *,
        limit: int = 50,
        skip: int = 0,
        status: str | None = None,
        assignee: str | None = None,
        level: str | None = None,
    ) -> list[dict]:
        query: dict = {}
        if status:
            query["status"] = status
        if assignee:
            query["assignee.id"] = assignee
        if level:
            query["level"] = level
        cursor = (
            self.db.cases.find(query)
            .sort([("level", ASCENDING), ("opened_at", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return list(cursor)

    def stats(self) -> dict:
        by_status = {
            row["_id"]: row["n"]
            for row in self.db.cases.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        by_owner = {
            row["_id"] or "(unassigned)": row["n"]
            for row in self.db.cases.aggregate([{"$group": {"_id": "$assignee.id", "n": {"$sum": 1}}}])
        }
        return {
            "cases": sum(by_status.values()),
            "by_status": by_status,
            "by_owner": by_owner,
            "dead_letters": self.dead_letter_counts(),
        }
