"""The engine's running state on the store (``State`` in services/alerts/engine.py):
what rules need between events, every write keyed by the event so a replay changes
nothing.

* ``customers``: first event seen per customer (``is_first_contact``);
* ``windows``: one document per (window, customer) holding the events a ``count``
  window counted (``entries.<event>``); an event's hit is written and the window read
  back in one atomic update by ``_id``, so of concurrent hits exactly one sees the
  window reach its threshold;
* ``score_series``: one document per (customer, score) for ``score_drop``, the same way;
* ``dedup``: per dedup key, the open alert and until when (epoch seconds); a batch
  claims the keys it meets first in one ``insert_many`` (``claim_new_dedups``);
* ``throttle``: per (rule, period) the alerts it let through (``n`` moves with the
  alert's marker, conditionally on ``n < max``): never overfilled, replay-safe;
* ``deadlines``: per (no-response rule, event) a survey waiting for a response,
  answered by ``respond`` or claimed with a lease by the timer once due;
  ``waiting`` lists each customer's deadlines by id, so a response finds them by ``_id``;
* the alerts and suppressed matches the engine writes are kept by ``AlertRecords``
  (services/alerts/alert_records.py): ``save_alerts``, ``attach`` and
  ``record_suppressed`` hand them over.

Every read and write an event causes is by ``_id`` (no query scans state that grows
with traffic). Window and score entries expire ``keep`` (the window) + 1 day after
the later of event time and now: reads ignore them and drop them in batches, and a
document nothing was recorded in for that long goes by its TTL index (``expiry.at``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne

from contracts.base import utcnow
from services.alerts.alert_records import AlertRecords
from services.alerts.engine import Refused, deadline_id
from services.alerts.group_rules import GroupHit
from services.alerts.storage import digest, expiry, insert_once
from services.common.claims import claim_earliest
from services.common.mongo import Store, insert_many_once

DEADLINE_LEASE_SECONDS = 60.0
# the counters a group bucket may hold (services/alerts/group_rules.py ``increments``)
GROUP_COUNTERS = {"n": 1, "sum": 1, "pro": 1, "det": 1, "neg": 1}
# Expired entries a window or score document collects before a read drops them.
PRUNE_AT = 32


class MongoState(Store):
    def __init__(self, db, alerts: AlertRecords):
        super().__init__(db)
        self.alerts = alerts

    def indexes(self):
        return {
            # one document per (window, customer) and per (customer, score), read by _id;
            # each expires when nothing was recorded in it for its window plus a day
            "windows": [IndexModel([("expiry.at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            "score_series": [IndexModel([("expiry.at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            # one document per (group rule, group, bucket), read by _id; gone once no
            # judgement reads it (its window, and a spike's weeks, past)
            "group_buckets": [IndexModel([("expiry.at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            "deadlines": [
                IndexModel([("state", ASCENDING), ("due", ASCENDING)], name="due"),
                IndexModel([("customer", ASCENDING), ("state", ASCENDING)], name="customer"),
            ],
        }

    # customers ---------------------------------------------------------------------

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

    def first_event(self, customer_id: str) -> str | None:
        doc = self.db.customers.find_one({"_id": customer_id}, {"first_event": 1})
        return doc["first_event"] if doc else None

    # windows and score series ------------------------------------------------------

    def _keep_in(
        self, collection: str, doc_id: str, fields: dict, entry: str, value: dict, keep: int
    ) -> list[dict]:
        """Record ``value`` under ``entries.<entry>`` of one state document (created with
        ``fields`` when missing) and return the document's live entries, each step one
        atomic write that returns the document: concurrent writers each see their own
        entry and those written before it, never a later one. A replay writes the same
        value again. (Not an upsert: nx-27017 drops ``$setOnInsert`` there, docs/store.md.)"""
        expires = expiry(value["at"], keep)
        value = {**value, "expires": expires.timestamp()}
        update = {"$set": {f"entries.{entry}": value, "expiry": {"at": expires}}}
        docs, after = self.db[collection], ReturnDocument.AFTER
        doc = docs.find_one_and_update({"_id": doc_id}, update, return_document=after)
        if doc is None:
            doc = {"_id": doc_id, **fields, "entries": {entry: value}, "expiry": {"at": expires}}
            if not insert_once(docs, doc):  # another first writer won: add to it
                doc = docs.find_one_and_update({"_id": doc_id}, update, return_document=after)
        return self._live(collection, doc)

    def _entries(self, collection: str, doc_id: str) -> list[dict]:
        return self._live(collection, self.db[collection].find_one({"_id": doc_id}))

    def _live(self, collection: str, doc: dict | None) -> list[dict]:
        """A state document's live entries; expired ones are dropped now and then."""
        if doc is None:
            return []
        entries = doc.get("entries") or {}
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
            digest(window, customer_id),
            {"window": window, "customer": customer_id},
            digest(key),
            {"key": key, "at": at},
            keep,
        )
        return {e["key"]: e["at"] for e in entries}

    def hit_times(self, window: str, customer_id: str, since: float, until: float) -> dict[str, float]:
        entries = self._entries("windows", digest(window, customer_id))
        return {e["key"]: e["at"] for e in entries if since < e["at"] <= until}

    def record_score(
        self, customer_id: str, score: str, key: str, value: float, at: float, keep: int
    ) -> None:
        self._keep_in(
            "score_series",
            digest(customer_id, score),
            {"customer": customer_id, "score": score},
            digest(key),
            {"key": key, "value": value, "at": at},
            keep,
        )

    def score_history(
        self, customer_id: str, score: str, since: float, until: float, exclude: str
    ) -> list[float]:
        entries = self._entries("score_series", digest(customer_id, score))
        return [e["value"] for e in entries if since < e["at"] <= until and e["key"] != exclude]

    # dedup and throttle ----------------------------------------------------------------

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
            if insert_once(self.db.dedup, {"_id": dedup_key, **claim}):
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
        mine = digest(alert_id)
        for _ in range(8):
            taken = self.db.throttle.update_one(
                {"_id": bucket, "n": {"$lt": max_alerts}, f"alerts.{mine}": {"$exists": False}},
                {"$inc": {"n": 1}, "$set": {f"alerts.{mine}": alert_id, "last": alert_id}},
            )
            if taken.matched_count:
                return True
            doc = self.db.throttle.find_one({"_id": bucket})
            if doc is None:
                if insert_once(
                    self.db.throttle, {"_id": bucket, "n": 1, "alerts": {mine: alert_id}, "last": alert_id}
                ):
                    return True
            elif mine in (doc.get("alerts") or {}):
                return True  # a replay keeps its slot
            elif doc.get("n", 0) >= max_alerts:
                return False
        return False

    # group rules' buckets (services/alerts/group_engine.py) ---------------------------

    def count_group_hits(self, hits: list[GroupHit], read: list[str]) -> dict[str, dict[str, float]]:
        """Count a batch's group hits in three round trips whatever its size: the
        buckets it needs inserted where missing (one unordered ``insert_many``), every
        hit as an atomic ``$inc`` of the bucket's counters guarded by the absence of
        the event's marker, which the same update sets (one unordered ``bulk_write``:
        replays and concurrent replicas count each event once, nothing is read
        before it is written), then the ``read`` buckets in one ``find`` by ``_id``."""
        if hits:
            buckets: dict[str, dict] = {}
            for hit in hits:
                # from the later of the bucket's last reading and now (as ``expiry``): a
                # replay of old events is not swept away before it is read
                expires = datetime.fromtimestamp(max(hit.expires, time.time()), UTC) + timedelta(days=1)
                buckets.setdefault(hit.bucket, {"_id": hit.bucket, **hit.meta, "expiry": {"at": expires}})
            insert_many_once(self.db.group_buckets, list(buckets.values()))
            self.db.group_buckets.bulk_write(
                [
                    UpdateOne(
                        {"_id": hit.bucket, f"seen.{digest(hit.key)}": {"$exists": False}},
                        {"$inc": hit.fields, "$set": {f"seen.{digest(hit.key)}": 1}},
                    )
                    for hit in hits
                ],
                ordered=False,
            )
        return self.group_totals(read)

    def group_totals(self, read: list[str]) -> dict[str, dict[str, float]]:
        """The counters of these buckets (those that exist), one ``find`` by ``_id``."""
        if not read:
            return {}
        docs = self.db.group_buckets.find({"_id": {"$in": read}}, GROUP_COUNTERS)
        return {d["_id"]: {k: d[k] for k in GROUP_COUNTERS if k in d} for d in docs}

    def group_counted(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Whether each (bucket, event key) is counted already (explain previews)."""
        found = {}
        for bucket in {b for b, _ in pairs}:
            found[bucket] = (self.db.group_buckets.find_one({"_id": bucket}, {"seen": 1}) or {}).get(
                "seen"
            ) or {}
        return [digest(key) in found[bucket] for bucket, key in pairs]

    def end_group_episodes(self, ends: list[tuple[str, float]]) -> None:
        """Release the group keys that recovered (one ``bulk_write``): a claim still open
        at the recovering event's time, and opened no later, closes at that time."""
        self.db.dedup.bulk_write(
            [
                UpdateOne(
                    {"_id": key, "open_until": {"$gt": at}, "opened_at": {"$lte": at}},
                    {"$set": {"open_until": at}},
                )
                for key, at in ends
            ],
            ordered=False,
        )

    # read-only views for explain previews (services/alerts/memory.py PreviewState)

    def dedup_owner(self, dedup_key: str) -> dict | None:
        return self.db.dedup.find_one({"_id": dedup_key})

    def throttle_room(self, bucket: str, max_alerts: int, alert_id: str) -> bool:
        doc = self.db.throttle.find_one({"_id": bucket}) or {}
        return digest(alert_id) in (doc.get("alerts") or {}) or doc.get("n", 0) < max_alerts

    # alerts and suppressed matches (kept by AlertRecords) ------------------------------

    def save_alerts(self, alerts: list[tuple[dict, dict[str, float]]]) -> list[bool]:
        return self.alerts.save_alerts(alerts)

    def attach(self, alert_id: str, key: str, event: dict, at: float) -> None:
        self.alerts.attach(alert_id, key, event, at)

    def suppress_matches(self, matches: list[Refused]) -> None:
        """Each throttled match goes to its period's storm alert (services/alerts/storm.py),
        a group rule's to the alert that last took a slot of its period (``last`` on the
        throttle document, one ``find`` for the batch's group rules' periods)."""
        buckets = sorted({bucket for *_, bucket, holder in matches if holder is None})
        last = {}
        if buckets:
            found = self.db.throttle.find({"_id": {"$in": buckets}}, {"last": 1})
            last = {d["_id"]: d.get("last") for d in found}
        self.alerts.suppress_matches(
            [(r, key, alert, holder or last.get(bucket)) for r, key, alert, bucket, holder in matches]
        )

    def slot_alerts(self, bucket: str) -> list[str]:
        """The alerts that took a slot of a throttle period (slots taken before the ids
        were kept there count as unknown)."""
        doc = self.db.throttle.find_one({"_id": bucket}, {"alerts": 1}) or {}
        return sorted(v for v in (doc.get("alerts") or {}).values() if isinstance(v, str))

    # no-response deadlines ---------------------------------------------------------

    def add_deadline(self, rule_id: str, event: dict, at: float, due: float) -> None:
        deadline = deadline_id(rule_id, event)
        customer = event["customer"]["id"]
        insert_once(
            self.db.deadlines,
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
            if not insert_once(self.db.waiting, {"_id": customer, "deadlines": {deadline: at}}):
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
            branches = [
                {"state": "waiting", "due": {"$lte": now}},
                {"state": "firing", "due": {"$lte": now}, "lease_until": {"$lt": time.time()}},
            ]
            doc = claim_earliest(self.db.deadlines, branches, "due", lease)
            if doc is None:
                break
            claimed.append(doc)
        return claimed

    def finish_deadline(self, deadline_id: str) -> None:
        self.db.deadlines.update_one({"_id": deadline_id}, {"$set": {"state": "fired", "lease_until": 0}})
