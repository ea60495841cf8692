"""The feedback history of the alerts store (``history``): a compact copy of every
evaluated event (without the customer's phone and email), kept ``ALERT_HISTORY_DAYS``
for backtests (services/alerts/dryrun.py)."""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel

from services.alerts.storage import digest, expiry
from services.common.mongo import Store, all_of, insert_many_once

# Contact details no rule needs in a backtest are not copied into the history.
HISTORY_DROPPED = ("phone", "email")


class EventHistory(Store):
    def indexes(self):
        return {
            "history": [
                # not (at, _id): nx-27017 refuses inserts under an index naming _id
                IndexModel([("at", ASCENDING)], name="at"),
                IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),
            ],
        }

    def record(self, events: list[dict], keep_days: float) -> None:
        """Keep a compact copy of each evaluated event: one unordered ``insert_many``
        for a batch; an event stored before (a redelivery) is left as it is."""
        insert_many_once(self.db.history, [_history_doc(event, keep_days) for event in events])

    def between(self, since: float, until: float, after: tuple[float, str] | None = None, limit: int = 0):
        """Stored events with ``since <= at < until`` in time order (epoch bounds);
        ``after`` = (at, _id) of the last one already read, for paging."""
        query: dict = {"at": {"$gte": since, "$lt": until}}
        if after is not None:
            query = all_of(
                query, {"$or": [{"at": {"$gt": after[0]}}, {"at": after[0], "_id": {"$gt": after[1]}}]}
            )
        cursor = self.db.history.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return cursor.limit(limit) if limit else cursor

    def count(self, since: float, until: float) -> int:
        return self.db.history.count_documents({"at": {"$gte": since, "$lt": until}})


def _history_doc(event: dict, keep_days: float) -> dict:
    """The compact copy of an evaluated event the history keeps (one per event)."""
    customer = {k: v for k, v in event["customer"].items() if k not in HISTORY_DROPPED}
    at = event["occurred_at"].timestamp()
    return {
        "_id": digest(event["source"], event["event_id"]),
        "at": at,
        "event": {**event, "customer": customer},
        "expires_at": expiry(at, int(keep_days * 86400)),
    }
