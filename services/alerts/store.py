"""The alerts service's MongoDB store: rules with versions, alerts, the feedback inbox."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.mongo import Inbox, Store


class AlertStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.feedback_inbox, ("source", "event_id"))

    def indexes(self):
        return {
            "feedback_inbox": [self.inbox.index()],
            "rule_versions": [
                IndexModel([("rule_id", ASCENDING), ("version", ASCENDING)], unique=True, name="rule_version")
            ],
            "alerts": [
                IndexModel([("raised_at", DESCENDING)], name="raised_at"),
                IndexModel(
                    [("customer.id", ASCENDING), ("raised_at", DESCENDING)], name="customer_raised_at"
                ),
                IndexModel([("level", ASCENDING)], name="level"),
            ],
        }

    # rules --------------------------------------------------------------

    def apply_rules(self, rules: list[dict], actor: str) -> dict:
        """Store validated rules; a rule whose content changed gets a new version.

        Returns ``{"created": [...], "updated": [...], "unchanged": [...]}``.
        """
        summary: dict[str, list] = {"created": [], "updated": [], "unchanged": []}
        for rule in rules:
            current = self.db.rules.find_one({"_id": rule["id"]}, {"version": 1, "fingerprint": 1})
            if current and current["fingerprint"] == rule["fingerprint"]:
                summary["unchanged"].append(rule["id"])
                continue
            version = (current["version"] + 1) if current else 1
            now = utcnow()
            # The unique (rule_id, version) index makes a concurrent apply fail
            # loudly instead of two different rules sharing one version.
            self.db.rule_versions.insert_one(
                {
                    "rule_id": rule["id"],
                    "version": version,
                    "definition": rule,
                    "created_at": now,
                    "created_by": actor,
                }
            )
            self.db.rules.replace_one(
                {"_id": rule["id"]},
                {**rule, "_id": rule["id"], "version": version, "updated_at": now, "updated_by": actor},
                upsert=True,
            )
            summary["updated" if current else "created"].append(f"{rule['id']}@v{version}")
        return summary

    def enabled_rules(self) -> list[dict]:
        return list(self.db.rules.find({"enabled": True}).sort("_id", ASCENDING))

    def list_rules(self) -> list[dict]:
        return list(self.db.rules.find().sort("_id", ASCENDING))

    def rule_versions(self, rule_id: str) -> list[dict]:
        return list(self.db.rule_versions.find({"rule_id": rule_id}).sort("version", ASCENDING))

    # alerts -------------------------------------------------------------

    def save_alert(self, alert: dict) -> bool:
        """Insert an alert; False when it already exists (a redelivered event)."""
        try:
            self.db.alerts.insert_one(alert)
            return True
        except DuplicateKeyError:
            return False

    def get_alert(self, alert_id: str) -> dict | None:
        return self.db.alerts.find_one({"_id": alert_id})

    def list_alerts(
        self, *, limit: int = 50, skip: int = 0, level: str | None = None, customer_id: str | None = None
    ) -> list[dict]:
        query: dict = {}
        if level:
            query["level"] = level
        if customer_id:
            query["customer.id"] = customer_id
        cursor = self.db.alerts.find(query).sort("raised_at", DESCENDING).skip(skip).limit(limit)
        return list(cursor)

    def stats(self) -> dict:
        by_level = {
            row["_id"]: row["n"]
            for row in self.db.alerts.aggregate([{"$group": {"_id": "$level", "n": {"$sum": 1}}}])
        }
        by_rule = {
            row["_id"]: row["n"]
            for row in self.db.alerts.aggregate([{"$group": {"_id": "$rule.id", "n": {"$sum": 1}}}])
        }
        events = self.db.feedback_inbox.count_documents({"state": "done"})
        return {
            "alerts": sum(by_level.values()),
            "by_level": by_level,
            "by_rule": by_rule,
            "events_evaluated": events,
            "dead_letters": self.dead_letter_counts(),
        }
