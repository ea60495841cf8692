"""The notify service's MongoDB store: recipients, the delivery log, counters."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from contracts.base import utcnow
from services.common.mongo import Inbox, Store


class NotifyStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.notification_inbox, ("notification_id",))

    def indexes(self):
        return {
            "notification_inbox": [self.inbox.index()],
            "deliveries": [
                IndexModel([("notification_id", ASCENDING)], name="notification_id"),
                IndexModel([("created_at", DESCENDING)], name="created_at"),
                IndexModel([("status", ASCENDING)], name="status"),
            ],
            "recipients": [IndexModel([("kind", ASCENDING), ("id", ASCENDING)], unique=True, name="kind_id")],
        }

    # recipients ---------------------------------------------------------

    def apply_directory(self, directory: dict) -> dict:
        now = utcnow()
        for kind, items in (("person", directory["people"]), ("team", directory["teams"])):
            for item in items:
                self.db.recipients.replace_one(
                    {"_id": f"{kind}:{item['id']}"},
                    {**item, "_id": f"{kind}:{item['id']}", "kind": kind, "updated_at": now},
                    upsert=True,
                )
        return {"people": len(directory["people"]), "teams": len(directory["teams"])}

    def resolve(self, ref: dict) -> list[dict]:
        """The people a recipient reference reaches (a person, or a team's members)."""
        doc = self.db.recipients.find_one({"_id": f"{ref['kind']}:{ref['id']}"})
        if doc is None:
            return []
        if doc["kind"] == "person":
            return [doc]
        ids = [f"person:{m}" for m in doc["members"]]
        return list(self.db.recipients.find({"_id": {"$in": ids}}).sort("_id", ASCENDING))

    def list_recipients(self) -> list[dict]:
        return list(self.db.recipients.find().sort("_id", ASCENDING))

    # deliveries ---------------------------------------------------------

    def is_finished(self, delivery_id: str) -> bool:
        doc = self.db.deliveries.find_one({"_id": delivery_id}, {"status": 1})
        return doc is not None and doc["status"] in ("delivered", "failed")

    def start_delivery(self, delivery_id: str, **fields) -> int:
        """Record an attempt; returns the attempt number."""
        # update_one + read: find_one_and_update(upsert) is not a portable place
        # for $setOnInsert (docs/store.md).
        self.db.deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": {**fields, "status": "sending"},
                "$currentDate": {"updated_at": True},
                "$setOnInsert": {"created_at": utcnow()},
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )
        return self.db.deliveries.find_one({"_id": delivery_id}, {"attempts": 1})["attempts"]

    def finish_delivery(self, delivery_id: str, status: str, **fields) -> None:
        self.db.deliveries.update_one(
            {"_id": delivery_id},
            {
                "$set": {**fields, "status": status},
                "$currentDate": {"finished_at": True},
                "$setOnInsert": {"created_at": utcnow(), "attempts": 1},
            },
            upsert=True,
        )

    def list_deliveries(self, *, limit: int = 50, skip: int = 0, status: str | None = None) -> list[dict]:
        query = {"status": status} if status else {}
        return list(self.db.deliveries.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit))

    def count(self, name: str, n: int = 1) -> None:
        self.db.counters.update_one({"_id": name}, {"$inc": {"n": n}}, upsert=True)

    def stats(self) -> dict:
        # Single-field groups: compound $group keys are not portable (docs/store.md).
        by_status = {
            row["_id"]: row["n"]
            for row in self.db.deliveries.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        by_channel = {
            row["_id"]: row["n"]
            for row in self.db.deliveries.aggregate(
                [{"$match": {"status": "delivered"}}, {"$group": {"_id": "$channel", "n": {"$sum": 1}}}]
            )
        }
        counters = {d["_id"]: d["n"] for d in self.db.counters.find()}
        return {
            "deliveries": by_status,
            "delivered_by_channel": by_channel,
            "counters": counters,
            "dead_letters": self.dead_letter_counts(),
        }
