"""The notify service's MongoDB store: recipients, deliveries and their attempts,
the send-rate buckets, template overrides and counters.

Times that queries compare (``next_attempt_at``, ``lease_until``, ``tat``) are
epoch seconds, which every server compares alike (docs/store.md).
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.mongo import Inbox, Store

# Statuses a delivery moves through; "held" waits out the recipient's quiet hours.
WAITING = ("scheduled", "held", "sending")
FINISHED = ("delivered", "failed")


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
                IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
            ],
            "delivery_attempts": [
                IndexModel([("delivery_id", ASCENDING), ("attempt", ASCENDING)], name="delivery")
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

    # digest schedules ---------------------------------------------------

    def schedule_digest(self, person_id: str, schedule: dict | None, next_run_at: float | None) -> None:
        """Set (or drop) a person's digest schedule; an unchanged schedule keeps its next run."""
        if schedule is None:
            self.db.digests.delete_one({"_id": person_id})
            return
        current = self.db.digests.find_one({"_id": person_id})
        if current is not None and current.get("schedule") == schedule:
            return
        self.db.digests.replace_one(
            {"_id": person_id},
            {"_id": person_id, "schedule": schedule, "next_run_at": next_run_at, "lease_until": 0},
            upsert=True,
        )

    def claim_digest(self, now: float, lease: float, person_id: str | None = None) -> dict | None:
        """A due digest (of ``person_id`` when given), leased to the caller; None if none
        is due or another replica holds it."""
        query: dict = {"next_run_at": {"$lte": now}, "lease_until": {"$lt": now}}
        if person_id is not None:
            query["_id"] = person_id
        return self.db.digests.find_one_and_update(
            query,
            {"$set": {"lease_until": now + lease}},
            sort=[("next_run_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    def digest_done(self, doc: dict, next_run_at: float) -> None:
        self.db.digests.update_one(
            {"_id": doc["_id"], "lease_until": doc["lease_until"]},
            {"$set": {"next_run_at": next_run_at, "lease_until": 0, "last_run_at": doc["next_run_at"]}},
        )

    def digest_schedules(self) -> list[dict]:
        """Every person's digest schedule with their time zone (for the schedulers)."""
        zones = {
            p["id"]: p.get("timezone") or "Asia/Shanghai"
            for p in self.db.recipients.find({"kind": "person"}, {"id": 1, "timezone": 1})
        }
        return [
            {
                "person_id": d["_id"],
                "schedule": d["schedule"],
                "timezone": zones.get(d["_id"], "Asia/Shanghai"),
            }
            for d in self.db.digests.find({}, {"schedule": 1}).sort("_id", ASCENDING)
        ]

    def recipient(self, kind: str, id_: str) -> dict | None:
        return self.db.recipients.find_one({"_id": f"{kind}:{id_}"})

    def resolve(self, ref: dict) -> list[dict]:
        """The people a recipient reference reaches (a person, or a team's members)."""
        doc = self.recipient(ref["kind"], ref["id"])
        if doc is None:
            return []
        if doc["kind"] == "person":
            return [doc]
        ids = [f"person:{m}" for m in doc["members"]]
        return list(self.db.recipients.find({"_id": {"$in": ids}}).sort("_id", ASCENDING))

    def teams_of(self, person_id: str) -> list[dict]:
        # The directory is small; filtering here avoids relying on array matching.
        return [
            t
            for t in self.db.recipients.find({"kind": "team"}).sort("_id", ASCENDING)
            if person_id in t["members"]
        ]

    def list_recipients(self) -> list[dict]:
        return list(self.db.recipients.find().sort("_id", ASCENDING))

    # deliveries ---------------------------------------------------------

    def create_delivery(self, doc: dict) -> bool:
        """Insert a delivery keyed by its idempotency key; False if it exists."""
        try:
            self.db.deliveries.insert_one({**doc, "created_at": utcnow(), "attempts": 0, "lease_until": 0})
        except DuplicateKeyError:
            return False
        return True

    def get_delivery(self, delivery_id: str) -> dict | None:
        return self.db.deliveries.find_one({"_id": delivery_id})

    def claim_due(self, now: float, lease: float, ids: list[str] | None = None) -> dict | None:
        """Atomically lease one due delivery (oldest first); None when none is due.

        A ``sending`` delivery whose lease expired was being sent by a worker
        that died; it is claimed again.
        """
        query: dict = {
            "status": {"$in": list(WAITING)},
            "next_attempt_at": {"$lte": now},
            "lease_until": {"$lt": now},
        }
        if ids is not None:
            query["_id"] = {"$in": ids}
        return self.db.deliveries.find_one_and_update(
            query,
            {"$set": {"status": "sending", "lease_until": now + lease}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    def settle(self, doc: dict, update: dict) -> bool:
        """Apply ``update`` if this worker still holds the lease it claimed ``doc`` with."""
        result = self.db.deliveries.update_one(
            {"_id": doc["_id"], "lease_until": doc["lease_until"]},
            {"$set": {**update, "lease_until": 0}, "$currentDate": {"updated_at": True}},
        )
        return result.modified_count == 1

    def record_attempt(self, attempt: dict) -> None:
        self.db.delivery_attempts.replace_one(
            {"_id": f"{attempt['delivery_id']}#{attempt['attempt']}"},
            {**attempt, "at": utcnow()},
            upsert=True,
        )

    def attempts(self, delivery_id: str) -> list[dict]:
        return list(self.db.delivery_attempts.find({"delivery_id": delivery_id}).sort("attempt", ASCENDING))

    def list_deliveries(
        self,
        *,
        limit: int = 50,
        skip: int = 0,
        status: str | None = None,
        channel: str | None = None,
        recipient: str | None = None,
        case_id: str | None = None,
    ) -> list[dict]:
        query: dict = {}
        for key, value in (
            ("status", status),
            ("channel", channel),
            ("recipient.id", recipient),
            ("case_id", case_id),
        ):
            if value:
                query[key] = value
        return list(self.db.deliveries.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit))

    # send-rate buckets (GCRA: one "theoretical arrival time" per channel+destination)

    def take_token(self, key: str, interval: float, burst: int, now: float) -> float:
        """0 when a send may go now (and it is counted), else seconds to wait.

        Compare-and-set on ``tat`` keeps replicas sharing one bucket without a
        read-modify-write race: a lost race re-reads and tries again.
        """
        tolerance = interval * (burst - 1)
        for _ in range(8):
            doc = self.db.rate_buckets.find_one({"_id": key})
            tat = max(doc["tat"] if doc else now, now)
            if tat - now > tolerance:
                return tat - tolerance - now
            if doc is None:
                try:
                    self.db.rate_buckets.insert_one({"_id": key, "tat": tat + interval})
                except DuplicateKeyError:
                    continue
                return 0.0
            if self.db.rate_buckets.update_one(
                {"_id": key, "tat": doc["tat"]}, {"$set": {"tat": tat + interval}}
            ).modified_count:
                return 0.0
        return interval  # heavy contention: come back after one interval

    # template overrides -------------------------------------------------

    def save_template(self, name: str, source: str, by: str) -> None:
        self.db.templates.replace_one(
            {"_id": name}, {"_id": name, "source": source, "by": by, "saved_at": utcnow()}, upsert=True
        )

    def delete_template(self, name: str) -> bool:
        return self.db.templates.delete_one({"_id": name}).deleted_count == 1

    def template_overrides(self) -> dict[str, str]:
        return {d["_id"]: d["source"] for d in self.db.templates.find()}

    # counters and stats -------------------------------------------------

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
