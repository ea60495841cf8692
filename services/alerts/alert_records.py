"""The alerts of the alerts store: the alerts the rules raised (``alerts``, each with
its repeats' markers) and the matches a throttle refused (``suppressed``), with the
queries and figures over them.

The engine writes them through its running state (services/alerts/state_store.py):
``save_alerts`` stores a batch's new alerts in one unordered ``insert_many``, ``attach``
counts a repeat once per event (its marker ``hits.<event>`` set in the same update that
moves ``count``), ``record_suppressed`` keeps a refused match once per (rule, event).
Period filters compare epoch-number twins (``raised_ts``, ``at_ts``) of the datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne

from contracts.base import utcnow
from services.alerts.storage import digest
from services.common.mongo import Store, insert_many_once


class AlertRecords(Store):
    def indexes(self):
        return {
            "alerts": [
                IndexModel([("raised_at", DESCENDING)], name="raised_at"),
                IndexModel(
                    [("customer.id", ASCENDING), ("raised_at", DESCENDING)], name="customer_raised_at"
                ),
                IndexModel([("level", ASCENDING)], name="level"),
                IndexModel([("rule.id", ASCENDING), ("raised_at", DESCENDING)], name="rule_raised_at"),
                IndexModel([("raised_ts", DESCENDING)], name="raised_ts"),
            ],
            "suppressed": [
                IndexModel([("rule_id", ASCENDING)], name="rule"),
                IndexModel([("at_ts", DESCENDING)], name="at_ts"),
                IndexModel([("attached_to", ASCENDING), ("at_ts", DESCENDING)], name="attached_to"),
            ],
        }

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        # Alerts and suppressed matches stored before the period filters carry only
        # the datetime: give them its epoch twin once (idempotent, every replica).
        _add_epoch(self.db.alerts, "raised_at", "raised_ts")
        _add_epoch(self.db.suppressed, "at", "at_ts")

    # written by the engine (engine.State, through state_store.MongoState) -------------

    def save_alerts(self, alerts: list[tuple[dict, dict[str, float]]]) -> list[bool]:
        """Insert new alerts in one unordered ``insert_many``, each with the events it
        holds already (event key -> event time) as its hits; False for those that
        exist (a redelivered event)."""
        docs = [{**alert, "hits": {digest(k): at for k, at in hits.items()}} for alert, hits in alerts]
        exists = set(insert_many_once(self.db.alerts, docs))
        fresh = [docs[i]["_id"] for i in range(len(docs)) if i not in exists]
        if fresh and any(alert.get("throttle") for alert, _ in alerts):
            # matches throttled by another worker while this alert was on its way here
            self.count_suppressed(list(self.db.suppressed.find({"attached_to": {"$in": fresh}})))
        return [i not in exists for i in range(len(alerts))]

    def attach(self, alert_id: str, key: str, event: dict, at: float) -> None:
        """Count a match the open alert absorbs, once per event, in one update by ``_id``.

        The event's marker (``hits.<digest>``) is set in the same update that moves
        ``count``, guarded by its absence: replays and races count it once, and no
        query counts a growing collection. ``last_seen`` moves only forward in event time.
        """
        hit = f"hits.{digest(key)}"
        source, event_id = key.split("\x1f", 1)
        seen = {"at": event["occurred_at"], "event_id": event_id, "source": source}
        moved = self.db.alerts.update_one(
            {"_id": alert_id, hit: {"$exists": False}, "last_seen_ts": {"$lt": at}},
            {"$inc": {"count": 1}, "$set": {hit: at, "last_seen_ts": at, "last_seen": seen}},
        )
        if not moved.matched_count:  # an older event arriving late, or counted already
            self.db.alerts.update_one(
                {"_id": alert_id, hit: {"$exists": False}}, {"$inc": {"count": 1}, "$set": {hit: at}}
            )

    def suppress_matches(self, matches: list[tuple[str, str, dict, str | None]]) -> None:
        """Keep a batch's throttled matches (rule, event key, the alert refused, the alert
        it attaches to) once per (rule, event), in one unordered ``insert_many``; the
        alerts they attach to count them in one ``bulk_write`` (``count_suppressed``).
        The alert may not be stored yet (another worker took the slot and is storing
        it): ``save_alerts`` counts what attached to it before it was stored."""
        now = utcnow()
        docs: dict[str, dict] = {}
        for rule_id, key, alert, holder in matches:
            docs.setdefault(
                digest(rule_id, key),
                {
                    "_id": digest(rule_id, key),
                    "rule_id": rule_id,
                    "at": now,
                    "at_ts": now.timestamp(),
                    "alert_id": alert["_id"],
                    "attached_to": holder,
                    "customer": alert["customer"],
                    "event": alert["event"],
                    "dedup_key": alert["dedup"]["key"],
                },
            )
        insert_many_once(self.db.suppressed, list(docs.values()))
        self.count_suppressed([doc for doc in docs.values() if doc["attached_to"] is not None])

    def count_suppressed(self, docs: list[dict]) -> None:
        """Count suppressed matches on the alerts they attach to, one unordered
        ``bulk_write``: each ``$inc`` guarded by the match's marker
        (``suppressed_hits.<id>``), set in the same update, so whichever path runs
        (the match kept, or its alert stored), and however often, counts it once."""
        counts = [
            UpdateOne(
                {"_id": doc["attached_to"], f"suppressed_hits.{doc['_id']}": {"$exists": False}},
                {"$inc": {"suppressed": 1}, "$set": {f"suppressed_hits.{doc['_id']}": doc["at_ts"]}},
            )
            for doc in docs
        ]
        if counts:
            self.db.alerts.bulk_write(counts, ordered=False)

    def suppressed_on(self, alert_id: str, limit: int = 10) -> dict:
        """The throttled matches attached to an alert: their count and the latest ones."""
        found = self.db.alerts.find_one({"_id": alert_id}, {"suppressed": 1}) or {}
        latest = self.db.suppressed.find({"attached_to": alert_id}).sort("at_ts", DESCENDING).limit(limit)
        return {"count": found.get("suppressed", 0), "latest": list(latest)}

    def suppressed_by_alert(self, alert_ids: list[str]) -> dict[str, dict]:
        """For each of these alerts that has throttled matches attached: their count, the
        rule and its level (the owner's digest lists them)."""
        docs = self.db.alerts.find(
            {"_id": {"$in": list(alert_ids)}, "suppressed": {"$gt": 0}},
            {"suppressed": 1, "rule": 1, "level": 1},
        )
        return {d["_id"]: {"count": d["suppressed"], "rule": d["rule"], "level": d["level"]} for d in docs}

    # queries -----------------------------------------------------------------------

    def get_alert(self, alert_id: str) -> dict | None:
        return self.db.alerts.find_one({"_id": alert_id}, {"hits": 0, "suppressed_hits": 0})

    def alerts_by_id(self, alert_ids: list[str]) -> list[dict]:
        """These alerts (those that exist), one ``find`` by ``_id``, without markers."""
        if not alert_ids:
            return []
        return list(self.db.alerts.find({"_id": {"$in": list(alert_ids)}}, {"hits": 0, "suppressed_hits": 0}))

    def list_alerts(
        self, *, limit: int = 50, skip: int = 0, level: str | None = None, customer_id: str | None = None
    ) -> list[dict]:
        query: dict = {}
        if level:
            query["level"] = level
        if customer_id:
            query["customer.id"] = customer_id
        cursor = (
            self.db.alerts.find(query, {"hits": 0, "suppressed_hits": 0})
            .sort("raised_at", DESCENDING)
            .skip(skip)
            .limit(limit)
        )
        return list(cursor)

    def list_suppressed(self, rule_id: str, limit: int = 20) -> list[dict]:
        return list(self.db.suppressed.find({"rule_id": rule_id}).sort("at", DESCENDING).limit(limit))

    def suppressed_counts(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        """Throttled matches per rule, those suppressed in ``[since, until)`` when given."""
        return _count_by(self.db.suppressed, _in_period("at_ts", since, until), "$rule_id")

    def counts(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, dict]:
        """Alerts by level, by rule and by touchpoint (``-``: events without one), and the
        storm alerts by rule, those raised in ``[since, until)`` when given."""
        stages = _in_period("raised_ts", since, until)
        # a storm alert (storm.py) stands for its rule's refused matches: counted apart
        alerts = [*stages, {"$match": {"storm": {"$exists": False}}}]
        keys = {"by_level": "$level", "by_rule": "$rule.id", "by_touchpoint": "$event.touchpoint"}
        counts = {name: _count_by(self.db.alerts, alerts, key) for name, key in keys.items()}
        counts["by_touchpoint"] = {("-" if k is None else k): n for k, n in counts["by_touchpoint"].items()}
        storms = [*stages, {"$match": {"storm": {"$exists": True}}}]
        counts["storms_by_rule"] = _count_by(self.db.alerts, storms, "$rule.id")
        return counts


def _count_by(collection, stages: list[dict], key: str) -> dict:
    # one $group per figure: a compound group key is not evaluated by every server
    rows = collection.aggregate([*stages, {"$group": {"_id": key, "n": {"$sum": 1}}}])
    return {row["_id"]: row["n"] for row in rows}


def _in_period(field: str, since: datetime | None, until: datetime | None) -> list[dict]:
    """The ``$match`` stage keeping ``since <= field < until`` (either bound optional)
    on an epoch-seconds field: nx-27017 matches stored datetimes by range wrongly in
    aggregations (docs/store.md)."""
    bounds = {op: at.timestamp() for op, at in (("$gte", since), ("$lt", until)) if at is not None}
    return [{"$match": {field: bounds}}] if bounds else []


def _add_epoch(collection, field: str, twin: str, batch: int = 500) -> None:
    """Set ``twin`` (epoch seconds) from the datetime ``field`` where it is missing."""
    while True:
        docs = list(collection.find({twin: {"$exists": False}}, {field: 1}).limit(batch))
        updates = [
            UpdateOne({"_id": d["_id"]}, {"$set": {twin: _aware(d[field]).timestamp()}})
            for d in docs
            if isinstance(d.get(field), datetime)
        ]
        if updates:
            collection.bulk_write(updates, ordered=False)
        if len(updates) < batch:
            return


def _aware(moment: datetime) -> datetime:
    # pymongo hands back naive UTC datetimes unless the client is tz-aware
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
