"""What notify keeps about messages to customers, one small part per aggregate:

* ``customer_messages``: one document per ``message_id`` (the request, its status, the
  outcome and whether it was announced); the durable deferral (quiet hours, retries) is
  its ``next_attempt_at``, claimed with a lease like a delivery; ``customer_message_log``
  holds each message's decisions and attempts;
* ``customer_consent``: opt-outs per customer (overall and per channel, with who, when
  and why, and their history: a map keyed by time, not an array of subdocuments, which
  the embedded server stores as text) and the erasure mark;
* ``customer_contacts`` (+ ``customer_contact_locks``): the messages notify sent each
  customer, the ledger contact fatigue counts synchronously;
* ``wechat_tokens``: the WeChat access token shared by the replicas.

Times compared in queries are epoch seconds (docs/store.md).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.claims import claim_earliest, matching
from services.common.erasure import ERASED
from services.common.mongo import Store, as_stored, insert_many_once
from services.notify.customers.decision import Consent

WAITING = ("deferred", "scheduled", "sending")
OPT_OUT_CHANNELS = ("all", "sms", "email", "wechat_oa")
RESERVED, FATIGUED, BUSY = "reserved", "fatigued", "busy"


class CustomerStore(Store):
    """The customer-message parts of the notify database."""

    def indexes(self) -> dict[str, list]:
        return {
            "customer_messages": [
                IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
                IndexModel([("customer_id", ASCENDING)], name="customer"),
                IndexModel([("created_at", DESCENDING)], name="created_at"),
                IndexModel([("announced", ASCENDING), ("finished", ASCENDING)], name="outbox"),
                IndexModel([("channel", ASCENDING), ("vendor_id", ASCENDING)], name="vendor_id", sparse=True),
                IndexModel([("address_key", ASCENDING)], name="address_key", sparse=True),
            ],
            "customer_message_log": [IndexModel([("message_id", ASCENDING)], name="message")],
            "customer_contacts": [IndexModel([("customer_id", ASCENDING), ("at", ASCENDING)], name="window")],
        }

    # messages ---------------------------------------------------------------------------

    def create_many(self, docs: list[dict], lease_until: float) -> list[dict | None]:
        """Insert new messages already leased to the caller (``sending`` until
        ``lease_until``) in one unordered ``insert_many``; None where the id existed
        (a redelivered request: its first copy owns it)."""
        stored = [
            {
                **doc,
                "created_at": utcnow(),
                "status": "sending",
                "lease_until": lease_until,
                "attempts": 0,
                "finished": 0,  # 0/1 numbers: bare booleans in $set are not portable (docs/store.md)
                "announced": 0,
            }
            for doc in docs
        ]
        existed = set(insert_many_once(self.db.customer_messages, stored))
        return [None if i in existed else as_stored(doc) for i, doc in enumerate(stored)]

    def claim_due(self, now: float, lease: float) -> dict | None:
        """Lease one message due now (a deferral that ended, a retry, one whose worker
        died), oldest first; None when none is due."""
        due = {"next_attempt_at": {"$lte": now}, "lease_until": {"$lt": now}}
        branches = [{"status": status, **due} for status in WAITING]  # from the due index (claims.py)
        update = {"$set": {"status": "sending", "lease_until": now + lease}}
        return claim_earliest(self.db.customer_messages, branches, "next_attempt_at", update)

    def settle(self, doc: dict, update: dict, entries: list[dict] | None = None, attempts: int = 0) -> bool:
        """Apply ``update`` while the caller still holds the lease it took ``doc`` with
        (``attempts`` added to its count in the same write); ``entries`` (decisions,
        attempts) go to its log, kept even when the lease was lost meanwhile."""
        if entries:
            self.db.customer_message_log.insert_many(
                [{**entry, "message_id": doc["_id"], "seq": n} for n, entry in enumerate(entries)]
            )
        change: dict = {"$set": {**update, "lease_until": 0}}
        if attempts:
            change["$inc"] = {"attempts": attempts}
        result = self.db.customer_messages.update_one(
            {"_id": doc["_id"], "lease_until": doc["lease_until"]}, change
        )
        return result.modified_count == 1

    def unannounced(self, older_than: float, limit: int = 50) -> list[dict]:
        """Finished messages whose outcome was not confirmed published (a worker died
        between recording and announcing)."""
        branch = {"announced": 0, "finished": 1, "finished_epoch": {"$lt": older_than}}
        return matching(self.db.customer_messages, [branch], "finished_epoch", limit)

    def mark_announced(self, ids: list[str]) -> None:
        if ids:
            self.db.customer_messages.update_many({"_id": {"$in": ids}}, {"$set": {"announced": 1}})

    def get(self, message_id: str) -> dict | None:
        return self.db.customer_messages.find_one({"_id": message_id})

    @staticmethod
    def _shown(doc: dict) -> dict:
        """A message as the log shows it: when it finished as a date too."""
        if doc.get("finished_epoch") is not None:
            doc["finished_at"] = datetime.fromtimestamp(doc["finished_epoch"], UTC)
        return doc

    def with_log(self, message_id: str) -> dict | None:
        """A message with its log (decisions and attempts, in order)."""
        doc = self.get(message_id)
        if doc is None:
            return None
        self._shown(doc)
        entries = self.db.customer_message_log.find({"message_id": message_id}, {"_id": 0, "message_id": 0})
        doc["log"] = [
            {k: v for k, v in e.items() if k != "seq"}
            for e in sorted(entries, key=lambda e: (e.get("at", 0), e.get("seq", 0)))
        ]
        return doc

    def list_messages(self, *, limit: int, skip: int, **filters) -> list[dict]:
        query = {k: v for k, v in filters.items() if v is not None}
        rows = (
            self.db.customer_messages.find(query, {"request.context": 0})
            .sort("created_at", DESCENDING)
            .skip(skip)
            .limit(limit)
        )
        return [self._shown(row) for row in rows]

    def counts(self) -> dict:
        """Customer messages by status, and refusals by reason."""
        by_status = {
            row["_id"]: row["n"]
            for row in self.db.customer_messages.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        refused = {
            row["_id"]: row["n"]
            for row in self.db.customer_messages.aggregate(
                [{"$match": {"status": "refused"}}, {"$group": {"_id": "$reason", "n": {"$sum": 1}}}]
            )
        }
        return {"by_status": by_status, "refused_by_reason": refused}

    # delivery receipts (receipts.py) ------------------------------------------------------

    def keep_receipt(self, receipt: dict, status: str, now: float) -> bool:
        """Keep a vendor's receipt once per reference; False when it was kept already."""
        key = f"{receipt['channel']}:{receipt['vendor_id']}"
        doc = {
            "channel": receipt["channel"],
            "vendor_id": receipt["vendor_id"],
            "status": status,
            "code": receipt.get("code"),
            "description": receipt.get("description"),
            "at": receipt.get("at"),
            "received_epoch": now,
            "applied": 0,
        }
        try:
            result = self.db.customer_receipts.update_one({"_id": key}, {"$setOnInsert": doc}, upsert=True)
        except DuplicateKeyError:  # the same receipt kept at this moment by another worker
            return False
        return result.upserted_id is not None

    def apply_receipt(self, channel: str, vendor_id: str, now: float) -> dict | None:
        """Apply a kept, unapplied receipt to the message sent under ``vendor_id`` while it
        is ``sent``: its status, the receipt, and a new outcome to announce. The changed
        message, or None (no such message yet, or applied already)."""
        key = f"{channel}:{vendor_id}"
        receipt = self.db.customer_receipts.find_one({"_id": key, "applied": 0})
        if receipt is None:
            return None
        kept = {k: receipt.get(k) for k in ("code", "description", "at")}
        doc = self.db.customer_messages.find_one_and_update(
            {"channel": channel, "vendor_id": vendor_id, "status": "sent"},
            {"$set": {"status": receipt["status"], "receipt": kept, "finished_epoch": now, "announced": 0}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            self.db.customer_receipts.update_one(
                {"_id": key}, {"$set": {"applied": 1, "message_id": doc["_id"]}}
            )
        return doc

    def surveys_for_address(self, key: str, limit: int = 10) -> list[dict]:
        """Follow-up surveys sent (or delivered) to the address with keyed hash ``key``, newest first."""
        rows = self.db.customer_messages.find(
            {"address_key": key, "purpose": "followup_survey", "status": {"$in": ["sent", "delivered"]}},
            {"case_id": 1, "request": 1, "created_at": 1},  # whole: dotted projections are not portable
        )
        return sorted(rows, key=lambda d: str(d.get("created_at")), reverse=True)[:limit]

    # consent ------------------------------------------------------------------------------

    def consent(self, customer_ids: list[str]) -> Consent:
        """The opt-outs recorded under any of ``customer_ids`` (the id a request named
        and the one it was merged into)."""
        docs = list(self.db.customer_consent.find({"_id": {"$in": sorted(set(customer_ids))}}))
        opted = {
            channel
            for doc in docs
            for channel, entry in (doc.get("opt_out") or {}).items()
            if entry.get("opted_out")
        }
        return Consent(
            all="all" in opted,
            channels=frozenset(opted - {"all"}),
            erased=any(doc.get("erased_at") for doc in docs),
        )

    def set_opt_out(
        self,
        customer_id: str,
        channel: str,
        opted_out: bool,
        by: str,
        reason: str | None,
        only_in_force=False,
    ) -> dict | None:
        """Record an opt-out (or its withdrawal) with who, when and why; one atomic write.
        ``only_in_force``: withdraw only an opt-out in force (None when there is none)."""
        entry = {"opted_out": opted_out, "by": by, "at": utcnow(), "reason": reason}
        match: dict = {"_id": customer_id}
        if only_in_force:
            match[f"opt_out.{channel}.opted_out"] = {"$in": [True, 1]}
        found = self.db.customer_consent.find_one_and_update(
            match,
            # history as a map keyed by time: arrays of subdocuments are not portable (docs/store.md)
            {
                "$set": {
                    f"opt_out.{channel}": entry,
                    f"history.h{time.time_ns()}": {**entry, "channel": channel},
                }
            },
            upsert=not only_in_force,
            return_document=ReturnDocument.AFTER,
        )
        return None if found is None else readable(found)

    def list_opt_outs(self, customer: str | None, channel: str | None, limit: int, skip: int) -> list[dict]:
        """The opt-outs in force (``opted_out``), a row per customer and channel, by
        customer id then channel; ``customer`` a prefix of the ids. Rows are paged over the
        ``skip + limit`` first matching customers (each has one row at least)."""
        channels = [channel] if channel else list(OPT_OUT_CHANNELS)
        # 0/1 as well: some servers store a boolean as an integer (``readable``)
        query: dict = {"$or": [{f"opt_out.{c}.opted_out": {"$in": [True, 1]}} for c in channels]}
        if customer:
            query = {"$and": [query, {"_id": {"$regex": "^" + re.escape(customer)}}]}
        docs = self.db.customer_consent.find(query, {"opt_out": 1}).sort("_id", ASCENDING).limit(skip + limit)
        rows = [
            {"customer_id": doc["_id"], "channel": c, **entry}
            for doc in docs
            for c, entry in sorted((readable({**doc, "history": {}}).get("opt_out") or {}).items())
            if c in channels and entry["opted_out"]
        ]
        return rows[skip : skip + limit]

    def get_consent(self, customer_id: str) -> dict | None:
        doc = self.db.customer_consent.find_one({"_id": customer_id})
        return None if doc is None else readable(doc)

    def mark_erased(self, customer_ids: list[str]) -> None:
        """Never contact them again, whatever a later request says; their messages'
        contents (context, rendered text, address) are dropped. Idempotent."""
        for customer_id in customer_ids:
            self.db.customer_consent.update_one(
                {"_id": customer_id},
                # $currentDate: a datetime leaf in $set or $max is stored as text (docs/store.md)
                {"$currentDate": {"erased_at": True}, "$setOnInsert": {"opt_out": {}}},
                upsert=True,
            )
        messages: dict = {"customer_id": {"$in": sorted(customer_ids)}}
        ids = [doc["_id"] for doc in self.db.customer_messages.find(messages, {"_id": 1})]
        self.db.customer_messages.update_many(
            messages, {"$set": {"request.context": {}, "subject": ERASED, "text": ERASED, "address": ERASED}}
        )
        if ids:  # vendors' errors may quote the address
            self.db.customer_message_log.update_many({"message_id": {"$in": ids}}, {"$unset": {"error": ""}})

    # contact ledger -------------------------------------------------------------------------

    def sent_since(self, customer_id: str, since: float, but: str | None = None) -> int:
        """Messages sent (or being sent) to the customer after ``since``, ``but`` one."""
        query: dict = {"customer_id": customer_id, "at": {"$gt": since}}
        if but is not None:
            query["_id"] = {"$ne": but}
        return self.db.customer_contacts.count_documents(query)

    def reserve(
        self,
        customer_id: str,
        message_id: str,
        channel: str,
        allowed: int,
        since: float,
        now: float,
        lease: float,
    ) -> str:
        """Take one of the customer's ``allowed`` contacts in the window for this message,
        atomically across replicas: a short per-customer lock around count-and-insert.
        ``reserved`` (also when it already was), ``fatigued``, or ``busy`` (another
        worker holds the customer's lock: decide again shortly)."""
        locks = self.db.customer_contact_locks
        try:
            locks.update_one(
                {"_id": customer_id, "lease_until": {"$lt": now}},
                {"$set": {"lease_until": now + lease, "holder": message_id}},
                upsert=True,
            )
        except DuplicateKeyError:
            return BUSY
        try:
            if self.db.customer_contacts.find_one({"_id": message_id}, {"_id": 1}) is not None:
                return RESERVED
            if self.sent_since(customer_id, since) >= allowed:
                return FATIGUED
            insert_many_once(
                self.db.customer_contacts,
                [{"_id": message_id, "customer_id": customer_id, "at": now, "channel": channel}],
            )
            return RESERVED
        finally:
            locks.update_one({"_id": customer_id, "holder": message_id}, {"$set": {"lease_until": 0}})

    def release(self, message_id: str) -> None:
        """The message reached nobody: its contact no longer counts."""
        self.db.customer_contacts.delete_one({"_id": message_id})


def readable(consent: dict) -> dict:
    """A consent document as callers read it: ``history`` a list, oldest first, and
    ``opted_out`` booleans (some servers store them as 0/1)."""
    history = consent.get("history") or {}
    consent["history"] = [history[key] for key in sorted(history, key=lambda k: int(k[1:]))]
    for entry in [*(consent.get("opt_out") or {}).values(), *consent["history"]]:
        entry["opted_out"] = bool(entry.get("opted_out"))
    return consent


class TokenCache:
    """Access tokens shared by the replicas (WeChat: one token per appid)."""

    def __init__(self, db):
        self.db = db

    def get(self, appid: str, now: float) -> str | None:
        doc = self.db.wechat_tokens.find_one({"_id": appid})
        return doc["token"] if doc and doc.get("expires_at", 0) > now else None

    def put(self, appid: str, token: str, expires_at: float) -> None:
        self.db.wechat_tokens.replace_one(
            {"_id": appid}, {"_id": appid, "token": token, "expires_at": expires_at}, upsert=True
        )
