"""The profiles service's MongoDB store: one profile per customer, a separate timeline.

The timeline is its own collection (a profile document never grows without
bound). Every profile write is a single atomic update: "latest wins" fields are
guarded by their timestamps, counts are taken from the timeline and applied
with ``$max`` (see ``profile.py``), so replays and concurrent workers on one
customer change nothing twice and lose nothing.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.mongo import Inbox, Store
from services.profiles.profile import (
    contact,
    identity_set,
    if_newer,
    if_older,
    latest_scores,
    safe_key,
    timeline_entry,
)


class ProfileStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.feedback_inbox = Inbox(db.feedback_inbox, ("source", "event_id"))
        self.alert_inbox = Inbox(db.alert_inbox, ("alert_id",))
        self.case_inbox = Inbox(db.case_inbox, ("case_id",))

    def indexes(self):
        return {
            "feedback_inbox": [self.feedback_inbox.index()],
            "alert_inbox": [self.alert_inbox.index()],
            "case_inbox": [self.case_inbox.index()],
            "timeline": [
                IndexModel([("customer_id", ASCENDING), ("at", DESCENDING)], name="customer_at"),
                IndexModel([("customer_id", ASCENDING), ("kind", ASCENDING)], name="customer_kind"),
            ],
        }

    def _insert_once(self, collection: str, doc: dict) -> None:
        try:
            self.db[collection].insert_one(doc)
        except DuplicateKeyError:
            pass

    def _ensure_profile(self, customer_id: str) -> None:
        # Dotted-path updates below need the document to exist already.
        self.db.profiles.update_one(
            {"_id": customer_id},
            {"$setOnInsert": {"created_at": utcnow(), "feedback_count": 0, "alerts_total": 0}},
            upsert=True,
        )

    def _count(self, **query) -> int:
        return self.db.timeline.count_documents(query)

    def record_feedback(self, event: dict) -> dict:
        customer_id = event["customer"]["id"]
        at = event["occurred_at"]
        self._insert_once("timeline", timeline_entry(event))
        self._ensure_profile(customer_id)
        channel = safe_key(event["channel"])
        self.db.profiles.update_one(
            {"_id": customer_id},
            {
                "$max": {
                    "feedback_count": self._count(customer_id=customer_id, kind="feedback"),
                    f"channels.{channel}": self._count(
                        customer_id=customer_id, kind="feedback", channel=event["channel"]
                    ),
                },
                "$currentDate": {"updated_at": True},
            },
        )
        self.db.profiles.update_one(
            {"_id": customer_id, **if_newer("last_contact.at", at)},
            {"$set": {"last_contact": contact(event)}},
        )
        self.db.profiles.update_one(
            {"_id": customer_id, **if_older("first_contact.at", at)},
            {"$set": {"first_contact": contact(event)}},
        )
        identity = identity_set(event)
        if identity:
            self.db.profiles.update_one(
                {"_id": customer_id, **if_newer("identity_from.at", at)}, {"$set": identity}
            )
        for kind, latest in latest_scores(event).items():
            self.db.profiles.update_one(
                {"_id": customer_id, **if_newer(f"latest.{kind}.at", at)},
                {"$set": {f"latest.{kind}": latest}},
            )
        return self.db.profiles.find_one({"_id": customer_id})

    def record_alert(self, alert: dict) -> None:
        customer_id = alert["customer"]["id"]
        rule_id = alert["rule"]["id"]
        self._insert_once(
            "timeline",
            {
                "_id": f"alert:{alert['alert_id']}",
                "customer_id": customer_id,
                "at": alert["raised_at"],
                "kind": "alert",
                "alert_id": alert["alert_id"],
                "level": alert["level"],
                "rule": alert["rule"],
                "rule_id": rule_id,
            },
        )
        self._ensure_profile(customer_id)
        self.db.profiles.update_one(
            {"_id": customer_id},
            {
                "$max": {
                    "alerts_total": self._count(customer_id=customer_id, kind="alert"),
                    f"alert_counts.{safe_key(rule_id)}": self._count(
                        customer_id=customer_id, kind="alert", rule_id=rule_id
                    ),
                },
                "$currentDate": {"updated_at": True},
            },
        )

    def record_case_opened(self, case: dict) -> None:
        customer_id = case["customer"]["id"]
        self._insert_once(
            "timeline",
            {
                "_id": f"case:{case['case_id']}:opened",
                "customer_id": customer_id,
                "at": case["opened_at"],
                "kind": "case_opened",
                "case_id": case["case_id"],
                "level": case["level"],
                "title": case["title"],
            },
        )
        self._ensure_profile(customer_id)
        self.db.profiles.update_one(
            {"_id": customer_id},
            {
                "$set": {
                    f"open_cases.{safe_key(case['case_id'])}": {
                        "case_id": case["case_id"],
                        "level": case["level"],
                        "title": case["title"],
                        "opened_at": case["opened_at"],
                    }
                },
                "$currentDate": {"updated_at": True},
            },
        )

    def get_profile(self, customer_id: str, timeline_limit: int = 50) -> dict | None:
        profile = self.db.profiles.find_one({"_id": customer_id})
        if profile is None:
            return None
        profile["open_cases"] = sorted(
            (profile.get("open_cases") or {}).values(), key=lambda c: (c["level"], c["opened_at"])
        )
        profile["timeline"] = list(
            self.db.timeline.find({"customer_id": customer_id}).sort("at", DESCENDING).limit(timeline_limit)
        )
        return profile

    def stats(self) -> dict:
        return {
            "profiles": self.db.profiles.count_documents({}),
            "timeline_entries": self.db.timeline.count_documents({}),
            "dead_letters": self.dead_letter_counts(),
        }
