"""The alerts service's MongoDB store: rules with versions, alerts, the feedback inbox,
and the engine's running state (``State`` in services/alerts/engine.py).

Running state, every write keyed by the event so a replay changes nothing:

* ``customers``: first event seen per customer (``is_first_contact``);
* ``windows``: one document per (window, customer) holding the events a ``count``
  window counted (``entries.<event>``); an event's hit is written and the window read
  back in one atomic update by ``_id``, so of concurrent hits exactly one sees the
  window reach its threshold;
* ``score_series``: one document per (customer, score) for ``score_drop``, the same way;
* ``dedup``: per dedup key, the open alert and until when (epoch seconds); a batch
  claims the keys it meets first in one ``insert_many`` (``claim_new_dedups``) and
  stores its new alerts in another (``save_alerts``);
* ``throttle``: per (rule, period) the alerts it let through (``n`` moves with the
  alert's marker, conditionally on ``n < max``): never overfilled, replay-safe;
* ``suppressed``: matches the throttle refused, per (rule, event);
* ``deadlines``: per (no-response rule, event) a survey waiting for a response,
  answered by ``respond`` or claimed with a lease by the timer once due;
  ``waiting`` lists each customer's deadlines by id, so a response finds them by ``_id``;
* an alert's ``hits``: one marker per event the alert absorbed, set in the same
  update that moves its ``count`` (so a replay counts nothing);
* ``history``: a compact copy of every evaluated event (without the customer's
  phone and email), kept ``ALERT_HISTORY_DAYS`` for backtests.

Every read and write an event causes is by ``_id`` (no query scans state that grows
with traffic). Window and score entries expire ``keep`` (the window) + 1 day after
the later of event time and now: reads ignore them and drop them in batches, and a
document nothing was recorded in for that long goes by its TTL index (``expiry.at``).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.alerts.engine import deadline_id
from services.alerts.index import RuleIndex
from services.common.erasure import anonymise, scrub_dead_letters
from services.common.errors import Conflict
from services.common.mongo import ConfigCache, Inbox, Store, all_of, insert_many_once

DEADLINE_LEASE_SECONDS = 60.0
# Expired entries a window or score document collects before a read drops them.
PRUNE_AT = 32
# Contact details no rule needs in a backtest are not copied into the history.
HISTORY_DROPPED = ("phone", "email")


class AlertStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.feedback_inbox, ("source", "event_id"))
        # the enabled rules, indexed: reloaded when the rules revision moved (ConfigCache)
        self.rule_cache = ConfigCache(db, self._load_index, meta="rules_meta")

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
                IndexModel([("rule.id", ASCENDING), ("raised_at", DESCENDING)], name="rule_raised_at"),
                IndexModel([("raised_ts", DESCENDING)], name="raised_ts"),
            ],
            # one document per (window, customer) and per (customer, score), read by _id;
            # each expires when nothing was recorded in it for its window plus a day
            "windows": [IndexModel([("expiry.at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            "score_series": [IndexModel([("expiry.at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            "suppressed": [
                IndexModel([("rule_id", ASCENDING)], name="rule"),
                IndexModel([("at_ts", DESCENDING)], name="at_ts"),
            ],
            "history": [
                # not (at, _id): nx-27017 refuses inserts under an index naming _id
                IndexModel([("at", ASCENDING)], name="at"),
                IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl"),
            ],
            "deadlines": [
                IndexModel([("state", ASCENDING), ("due", ASCENDING)], name="due"),
                IndexModel([("customer", ASCENDING), ("state", ASCENDING)], name="customer"),
            ],
        }

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        # Alerts and suppressed matches stored before the period filters carry only
        # the datetime: give them its epoch twin once (idempotent, every replica).
        _add_epoch(self.db.alerts, "raised_at", "raised_ts")
        _add_epoch(self.db.suppressed, "at", "at_ts")

    # rules --------------------------------------------------------------

    def apply_rules(self, rules: list[dict], actor: str) -> dict:
        """Store validated rules; a rule whose content changed gets a new version.

        Returns ``{"created": [...], "updated": [...], "unchanged": [...]}``.
        """
        summary: dict[str, list] = {"created": [], "updated": [], "unchanged": []}
        for rule in rules:
            current = self.get_rule(rule["id"])
            version = self.write_version(rule, actor, "applied", current)
            if version is None:
                summary["unchanged"].append(rule["id"])
            else:
                summary["updated" if current else "created"].append(f"{rule['id']}@v{version}")
        return summary

    def write_version(self, rule: dict, actor: str, action: str, current: dict | None) -> int | None:
        """Make ``rule`` the current definition as a new immutable version.

        None when nothing changed (same fingerprint and not deleted). The unique
        (rule_id, version) index makes a concurrent writer fail loudly (Conflict)
        instead of two definitions sharing one version.
        """
        if current and current["fingerprint"] == rule["fingerprint"] and not current.get("deleted"):
            return None
        version = (current["version"] + 1) if current else 1
        now = utcnow()
        try:
            self.db.rule_versions.insert_one(
                {
                    "rule_id": rule["id"],
                    "version": version,
                    "action": action,
                    "definition": rule,
                    "created_at": now,
                    "created_by": actor,
                }
            )
        except DuplicateKeyError:
            raise Conflict(f"rule {rule['id']} changed concurrently; reload and retry") from None
        self.db.rules.replace_one(
            {"_id": rule["id"]},
            {**rule, "_id": rule["id"], "version": version, "updated_at": now, "updated_by": actor},
            upsert=True,
        )
        self._bump_revision()
        return version

    def soft_delete(self, rule: dict, actor: str) -> int:
        """Disable and hide a rule, keeping its versions and alerts (a new version)."""
        current = self.get_rule(rule["id"])
        if current is None:
            raise LookupError(f"no rule {rule['id']}")
        version = current["version"] + 1
        now = utcnow()
        try:
            self.db.rule_versions.insert_one(
                {
                    "rule_id": rule["id"],
                    "version": version,
                    "action": "deleted",
                    "definition": rule,
                    "created_at": now,
                    "created_by": actor,
                }
            )
        except DuplicateKeyError:
            raise Conflict(f"rule {rule['id']} changed concurrently; reload and retry") from None
        self.db.rules.replace_one(
            {"_id": rule["id"]},
            {
                **rule,
                "_id": rule["id"],
                "version": version,
                "deleted": {"at": now, "by": actor},
                "updated_at": now,
                "updated_by": actor,
            },
        )
        self._bump_revision()
        return version

    def get_rule(self, rule_id: str) -> dict | None:
        return self.db.rules.find_one({"_id": rule_id})

    def rule_version(self, rule_id: str, version: int) -> dict | None:
        return self.db.rule_versions.find_one({"rule_id": rule_id, "version": version})

    def enabled_rules(self) -> list[dict]:
        return [
            r for r in self.db.rules.find({"enabled": True}).sort("_id", ASCENDING) if not r.get("deleted")
        ]

    def _bump_revision(self) -> None:
        """Every rule change bumps the rules revision (``rules_meta``), which tells the
        other replicas (ConfigCache, services/common/config_signal.py)."""
        self.rule_cache.bump()

    def _load_index(self) -> RuleIndex:
        return RuleIndex(self.enabled_rules())

    def rule_index(self) -> RuleIndex:
        """The enabled rules, indexed (services/alerts/index.py); rebuilt only when the
        rules revision moved, whichever replica moved it: at once after a change made
        through this replica, on another replica's change signal, and otherwise within
        CONFIG_MAX_STALENESS_SECONDS (no revision read per event).

        The revision is read before the rules: a change landing in between leaves
        the cache one revision behind, and the next read of the revision rebuilds it.
        """
        return self.rule_cache.get()

    def list_rules(self, include_deleted: bool = False) -> list[dict]:
        rules = self.db.rules.find().sort("_id", ASCENDING)
        return [r for r in rules if include_deleted or not r.get("deleted")]

    def rule_versions(self, rule_id: str) -> list[dict]:
        return list(self.db.rule_versions.find({"rule_id": rule_id}).sort("version", ASCENDING))

    # engine state (services/alerts/engine.py State) -----------------------

    def _insert_once(self, collection: str, document: dict) -> bool:
        try:
            self.db[collection].insert_one(document)
            return True
        except DuplicateKeyError:
            return False

    def register_customer(self, customer_id: str, key: str) -> bool:
        """True when ``key`` is the first event seen from this customer (just stored)."""
        return self.register_customers([(customer_id, key)])[0]

    def register_customers(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """``register_customer`` for a batch in one unordered ``insert_many``: an event
        is its customer's first when its insert is the one that landed."""
        now = utcnow()
        docs = [{"_id": customer, "first_event": key, "seen_at": now} for customer, key in pairs]
        seen = set(insert_many_once(self.db.customers, docs))
        return [i not in seen for i in range(len(pairs))]

    def _keep_in(
        self, collection: str, doc_id: str, fields: dict, entry: str, value: dict, keep: int
    ) -> list[dict]:
        """Record ``value`` under ``entries.<entry>`` of one state document (created with
        ``fields`` when missing) and return the document's live entries, each step one
        atomic write that returns the document: concurrent writers each see their own
        entry and those written before it, never a later one. A replay writes the same
        value again. (Not an upsert: nx-27017 drops ``$setOnInsert`` there, docs/store.md.)"""
        expires = _expiry(value["at"], keep)
        value = {**value, "expires": expires.timestamp()}
        update = {"$set": {f"entries.{entry}": value, "expiry": {"at": expires}}}
        docs, after = self.db[collection], ReturnDocument.AFTER
        doc = docs.find_one_and_update({"_id": doc_id}, update, return_document=after)
        if doc is None:
            doc = {"_id": doc_id, **fields, "entries": {entry: value}, "expiry": {"at": expires}}
            if not self._insert_once(collection, doc):  # another first writer won: add to it
                doc = docs.find_one_and_update({"_id": doc_id}, update, return_document=after)
        return self._live(collection, doc)

    def _entries(self, collection: str, doc_id: str) -> list[dict]:
        return self._live(collection, self.db[collection].find_one({"_id": doc_id}))

    def _live(self, collection: str, doc: dict | None) -> list[dict]:
        """A state document's live entries; expired ones are dropped now and then."""
        entries = (doc or {}).get("entries") or {}
        now = time.time()
        expired = [e for e, v in entries.items() if v["expires"] < now]
        if len(expired) >= PRUNE_AT:
            self.db[collection].update_one(
                {"_id": doc["_id"]}, {"$unset": {f"entries.{e}": "" for e in expired}}
            )
        return [v for v in entries.values() if v["expires"] >= now]

    def record_hit(self, window: str, customer_id: str, key: str, at: float, keep: int) -> dict[str, float]:
        """Count the event in the window; the window's live hits (key -> event time)
        as of this write, read in the same atomic update (engine.State)."""
        entries = self._keep_in(
            "windows",
            _digest(window, customer_id),
            {"window": window, "customer": customer_id},
            _digest(key),
            {"key": key, "at": at},
            keep,
        )
        return {e["key"]: e["at"] for e in entries}

    def hit_times(self, window: str, customer_id: str, since: float, until: float) -> dict[str, float]:
        entries = self._entries("windows", _digest(window, customer_id))
        return {e["key"]: e["at"] for e in entries if since < e["at"] <= until}

    # read-only views for explain previews (services/alerts/memory.py PreviewState)

    def first_event(self, customer_id: str) -> str | None:
        doc = self.db.customers.find_one({"_id": customer_id}, {"first_event": 1})
        return doc["first_event"] if doc else None

    def dedup_owner(self, dedup_key: str) -> dict | None:
        return self.db.dedup.find_one({"_id": dedup_key})

    def throttle_room(self, bucket: str, max_alerts: int, alert_id: str) -> bool:
        doc = self.db.throttle.find_one({"_id": bucket}) or {}
        return _digest(alert_id) in (doc.get("alerts") or {}) or doc.get("n", 0) < max_alerts

    def record_score(
        self, customer_id: str, score: str, key: str, value: float, at: float, keep: int
    ) -> None:
        self._keep_in(
            "score_series",
            _digest(customer_id, score),
            {"customer": customer_id, "score": score},
            _digest(key),
            {"key": key, "value": value, "at": at},
            keep,
        )

    def score_history(
        self, customer_id: str, score: str, since: float, until: float, exclude: str
    ) -> list[float]:
        entries = self._entries("score_series", _digest(customer_id, score))
        return [e["value"] for e in entries if since < e["at"] <= until and e["key"] != exclude]

    def claim_new_dedups(self, claims: list[tuple[str, str, float, float]]) -> list[bool]:
        """Claim the keys of (dedup key, alert, at, until) that have no claim yet, in one
        unordered ``insert_many``; False where the key exists (a DuplicateKey: claimed by
        an earlier delivery or another alert, open, lapsed or released), which
        ``claim_dedup`` settles (engine.State)."""
        docs = [
            {"_id": key, "alert_id": alert_id, "open_until": until, "opened_at": at}
            for key, alert_id, at, until in claims
        ]
        taken = set(insert_many_once(self.db.dedup, docs))
        return [i not in taken for i in range(len(claims))]

    def claim_dedup(self, dedup_key: str, alert_id: str, at: float, until: float) -> str:
        """The alert that owns ``dedup_key`` at event time ``at``: ``alert_id`` when
        the key was free or its cool-down is over (atomic: one winner), else the
        open alert.

        The owner is read only while it is open at ``at``: a claim released (a
        throttled alert) or lapsed between the failed claim and the read is claimed
        again, so an event never attaches to an alert that will not exist. The
        engine calls it for keys ``claim_new_dedups`` found taken, so it tries the
        take-over first and the insert last.
        """
        claim = {"alert_id": alert_id, "open_until": until, "opened_at": at}
        for _ in range(8):
            won = self.db.dedup.update_one({"_id": dedup_key, "open_until": {"$lte": at}}, {"$set": claim})
            if won.matched_count:
                return alert_id
            doc = self.db.dedup.find_one({"_id": dedup_key, "open_until": {"$gt": at}}, {"alert_id": 1})
            if doc is not None:
                return doc["alert_id"]
            if self._insert_once("dedup", {"_id": dedup_key, **claim}):
                return alert_id
        raise RuntimeError(f"dedup key {dedup_key!r}: no stable owner after 8 attempts")

    def release_dedup(self, dedup_key: str, alert_id: str) -> None:
        self.db.dedup.update_one({"_id": dedup_key, "alert_id": alert_id}, {"$set": {"open_until": 0}})

    def take_throttle_slot(self, bucket: str, max_alerts: int, alert_id: str) -> bool:
        """One of the period's ``max_alerts`` slots for ``alert_id``, atomically: the
        bucket's count moves only with the alert's marker, so a replay keeps its slot
        and concurrent alerts can never overfill the period. "Full" is answered only
        from a bucket that is full: one created by a concurrent first alert between
        the failed take and the read is tried again."""
        mine = _digest(alert_id)
        for _ in range(8):
            taken = self.db.throttle.update_one(
                {"_id": bucket, "n": {"$lt": max_alerts}, f"alerts.{mine}": {"$exists": False}},
                {"$inc": {"n": 1}, "$set": {f"alerts.{mine}": 1}},
            )
            if taken.matched_count:
                return True
            doc = self.db.throttle.find_one({"_id": bucket})
            if doc is None:
                if self._insert_once("throttle", {"_id": bucket, "n": 1, "alerts": {mine: 1}}):
                    return True
            elif mine in (doc.get("alerts") or {}):
                return True  # a replay keeps its slot
            elif doc.get("n", 0) >= max_alerts:
                return False
        return False

    def record_suppressed(self, rule_id: str, key: str, alert: dict) -> None:
        now = utcnow()
        self._insert_once(
            "suppressed",
            {
                "_id": _digest(rule_id, key),
                "rule_id": rule_id,
                "at": now,
                "at_ts": now.timestamp(),
                "alert_id": alert["_id"],
                "customer": alert["customer"],
                "event": alert["event"],
                "dedup_key": alert["dedup"]["key"],
            },
        )

    def attach(self, alert_id: str, key: str, event: dict, at: float) -> None:
        """Count a match the open alert absorbs, once per event, in one update by ``_id``.

        The event's marker (``hits.<digest>``) is set in the same update that moves
        ``count``, guarded by its absence: replays and races count it once, and no
        query counts a growing collection. ``last_seen`` moves only forward in event time.
        """
        hit = f"hits.{_digest(key)}"
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

    def add_deadline(self, rule_id: str, event: dict, at: float, due: float) -> None:
        deadline = deadline_id(rule_id, event)
        customer = event["customer"]["id"]
        self._insert_once(
            "deadlines",
            {
                "_id": deadline,
                "rule_id": rule_id,
                "customer": customer,
                "event": event,
                "at": at,
                "due": due,
                "state": "waiting",
                "lease_until": 0,
            },
        )
        # the customer's waiting deadlines by id, so a response finds them by _id
        listed = {"$set": {f"deadlines.{deadline}": at}}
        if not self.db.waiting.update_one({"_id": customer}, listed).matched_count:
            if not self._insert_once("waiting", {"_id": customer, "deadlines": {deadline: at}}):
                self.db.waiting.update_one({"_id": customer}, listed)

    def respond(self, customer_id: str, at: float) -> int:
        """Mark the customer's deadlines of surveys up to ``at`` answered: one read by
        ``_id`` when none waits (the common case), never a scan of the deadlines."""
        listed = self.db.waiting.find_one({"_id": customer_id}) or {}
        due = [d for d, since in (listed.get("deadlines") or {}).items() if since <= at]
        if not due:
            return 0
        result = self.db.deadlines.update_many(
            {"_id": {"$in": due}, "state": "waiting"}, {"$set": {"state": "answered"}}
        )
        # answered or fired: no response can change them any more
        self.db.waiting.update_one({"_id": customer_id}, {"$unset": {f"deadlines.{d}": "" for d in due}})
        return result.modified_count

    def claim_due(self, now: float, limit: int) -> list[dict]:
        """Claim due deadlines one by one (atomic, leased): waiting ones, and firing
        ones whose worker died before finishing."""
        claimed = []
        lease = {"$set": {"state": "firing", "lease_until": time.time() + DEADLINE_LEASE_SECONDS}}
        for _ in range(limit):
            doc = self.db.deadlines.find_one_and_update(
                all_of(
                    {"due": {"$lte": now}},
                    {
                        "$or": [
                            {"state": "waiting"},
                            {"state": "firing", "lease_until": {"$lt": time.time()}},
                        ]
                    },
                ),
                lease,
                sort=[("due", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(doc)
        return claimed

    def finish_deadline(self, deadline_id: str) -> None:
        self.db.deadlines.update_one({"_id": deadline_id}, {"$set": {"state": "fired", "lease_until": 0}})

    def suppressed_counts(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        """Throttled matches per rule, those suppressed in ``[since, until)`` when given."""
        return self._count_by(self.db.suppressed, _in_period("at_ts", since, until), "$rule_id")

    @staticmethod
    def _count_by(collection, stages: list[dict], key: str) -> dict:
        # one $group per figure: a compound group key is not evaluated by every server
        rows = collection.aggregate([*stages, {"$group": {"_id": key, "n": {"$sum": 1}}}])
        return {row["_id"]: row["n"] for row in rows}

    def list_suppressed(self, rule_id: str, limit: int = 20) -> list[dict]:
        return list(self.db.suppressed.find({"rule_id": rule_id}).sort("at", DESCENDING).limit(limit))

    # history for backtests ----------------------------------------------

    def record_history(self, events: list[dict], keep_days: float) -> None:
        """Keep a compact copy of each evaluated event: one unordered ``insert_many``
        for a batch; an event stored before (a redelivery) is left as it is."""
        insert_many_once(self.db.history, [_history_doc(event, keep_days) for event in events])

    def history(self, since: float, until: float, after: tuple[float, str] | None = None, limit: int = 0):
        """Stored events with ``since <= at < until`` in time order (epoch bounds);
        ``after`` = (at, _id) of the last one already read, for paging."""
        query: dict = {"at": {"$gte": since, "$lt": until}}
        if after is not None:
            query = all_of(
                query, {"$or": [{"at": {"$gt": after[0]}}, {"at": after[0], "_id": {"$gt": after[1]}}]}
            )
        cursor = self.db.history.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)])
        return cursor.limit(limit) if limit else cursor

    def history_count(self, since: float, until: float) -> int:
        return self.db.history.count_documents({"at": {"$gte": since, "$lt": until}})

    # alerts -------------------------------------------------------------

    def save_alerts(self, alerts: list[tuple[dict, dict[str, float]]]) -> list[bool]:
        """Insert new alerts in one unordered ``insert_many``, each with the events it
        holds already (event key -> event time) as its hits; False for those that
        exist (a redelivered event)."""
        docs = [{**alert, "hits": {_digest(k): at for k, at in hits.items()}} for alert, hits in alerts]
        exists = set(insert_many_once(self.db.alerts, docs))
        return [i not in exists for i in range(len(alerts))]

    def get_alert(self, alert_id: str) -> dict | None:
        return self.db.alerts.find_one({"_id": alert_id}, {"hits": 0})

    def list_alerts(
        self, *, limit: int = 50, skip: int = 0, level: str | None = None, customer_id: str | None = None
    ) -> list[dict]:
        query: dict = {}
        if level:
            query["level"] = level
        if customer_id:
            query["customer.id"] = customer_id
        cursor = self.db.alerts.find(query, {"hits": 0}).sort("raised_at", DESCENDING).skip(skip).limit(limit)
        return list(cursor)

    def stats(self, since: datetime | None = None, until: datetime | None = None) -> dict:
        """The service's figures. Alerts (by level, by rule) and suppressed matches
        count only those raised in ``[since, until)`` when a bound is given; the
        events evaluated and the dead letters are the service's running totals."""
        stages = _in_period("raised_ts", since, until)
        by_level = self._count_by(self.db.alerts, stages, "$level")
        by_rule = self._count_by(self.db.alerts, stages, "$rule.id")
        events = self.db.feedback_inbox.count_documents({"state": "done"})
        return {
            "period": {"since": since, "until": until},
            "alerts": sum(by_level.values()),
            "by_level": by_level,
            "by_rule": by_rule,
            "events_evaluated": events,
            "suppressed_by_rule": self.suppressed_counts(since, until),
            "dead_letters": self.dead_letter_counts(),
        }


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


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _expiry(at: float, keep: int) -> datetime:
    # Counted from the later of event time and now, so a replay of old events
    # is not swept away before it is counted; a day of slack for late events.
    return datetime.fromtimestamp(max(at, time.time()), UTC) + timedelta(seconds=keep + 86400)


def _history_doc(event: dict, keep_days: float) -> dict:
    """The compact copy of an evaluated event the history keeps (one per event)."""
    customer = {k: v for k, v in event["customer"].items() if k not in HISTORY_DROPPED}
    at = event["occurred_at"].timestamp()
    return {
        "_id": _digest(event["source"], event["event_id"]),
        "at": at,
        "event": {**event, "customer": customer},
        "expires_at": _expiry(at, int(keep_days * 86400)),
    }


# -- erasure (customer_erased) -----------------------------------------------------------------

ALERT_PERSONAL = ("customer.name", "event.text", "event.tags", "trace")
DEADLINE_PERSONAL = tuple(f"event.customer.{k}" for k in ("name", "phone", "email", "attributes")) + (
    "event.text",
    "event.tags",
    "event.attributes",
)


def anonymise_customer(db, customer_ids: list[str]) -> dict:
    """Remove an erased customer's personal data from the alerts service's collections:
    name, comment text and tags, and the rule trace (it quotes the comment) on alerts and
    suppressed repeats, the whole feedback event's identity on waiting deadlines, and
    dead-letter previews. Ids, rules, levels, counts and times stay. Idempotent."""
    ids = {"$in": list(customer_ids)}
    return {
        "alerts": anonymise(db.alerts, {"customer.id": ids}, ALERT_PERSONAL),
        "suppressed": anonymise(db.suppressed, {"customer.id": ids}, ALERT_PERSONAL),
        "deadlines": anonymise(db.deadlines, {"customer": ids}, DEADLINE_PERSONAL),
        # the backtest history keeps whole events: the same fields as a deadline's
        "history": anonymise(db.history, {"event.customer.id": ids}, DEADLINE_PERSONAL),
        "dead_letters": scrub_dead_letters(db, customer_ids),
    }
