"""The idempotency inbox of a message handler: one document per message key, a lease
while a worker handles it, and ``done`` once its work and announcements are stored.

A redelivered or resent message finds its key done and changes nothing; a copy that
arrives while another worker holds the lease waits (``Busy``, or a batch's ``busy``
positions) until that worker finishes or its lease runs out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymongo.collection import Collection

from contracts.base import utcnow
from services.common import settings
from services.common.mongo import all_of, insert_many_once


class Busy(Exception):
    """Another worker is handling the same message right now; try again shortly.

    The consumer requeues the message after a pause without counting an
    attempt: if the other worker dies, its lease expires and this copy runs.
    """


class Inbox:
    """Idempotency for message handlers: one document per message key, plus a lease.

    ``handling(message)`` is a context manager yielding True when the work
    must run and False when it was already done (a redelivery or a resend).
    While it runs, the key is leased to this worker:

    * a copy arriving meanwhile raises Busy (requeued, never dropped: the
      holder may still crash, and then this copy is the one that runs);
    * if the work raises, the lease is released so the retry can claim it;
    * if the worker is killed, the lease expires after ``lease_seconds`` and
      the broker's redelivery takes it over; handler steps are each idempotent,
      so finishing half-done work is safe.

    A document's ``_id`` is its key (``key_id``), so every read and write of a
    claim is by ``_id`` (``$in`` for a batch): a filter on the key fields, or an
    ``$or`` of them, scans the collection on the embedded store, which grows with
    every message ever handled. The compound unique index on the key fields stays:
    it still guards documents written before keys became ids (ObjectId ``_id``),
    which are found by their fields on the rare paths that meet them.

    Lease times are epoch seconds (numbers), which every server compares alike.
    """

    def __init__(self, collection: Collection, key_fields: Iterable[str], lease_seconds: float | None = None):
        self.collection = collection
        self.key_fields = tuple(key_fields)
        self.lease_seconds = lease_seconds or settings.get("INBOX_LEASE_SECONDS")

    def index(self):
        from pymongo import ASCENDING, IndexModel

        return IndexModel([(f, ASCENDING) for f in self.key_fields], unique=True, name="idempotency_key")

    def _key(self, message: dict) -> dict:
        return {f: message[f] for f in self.key_fields}

    def key_id(self, message: dict) -> str:
        """The document id of a message's key: its fields as a JSON array."""
        return json.dumps([message[f] for f in self.key_fields], ensure_ascii=False, default=str)

    def claim(self, message: dict) -> bool:
        """True: this worker must do the work; False: it is done. Raises Busy."""
        claim = self.claim_many([message])
        if claim.busy:
            raise Busy(f"{self._key(message)} is being handled by another worker")
        return bool(claim.fresh)

    def release(self, message: dict) -> None:
        self.release_many([message])

    def done(self, message: dict) -> None:
        self.done_many([message])

    @contextmanager
    def handling(self, message: dict):
        if not self.claim(message):
            yield False
            return
        try:
            yield True
        except BaseException:
            self.release(message)
            raise
        self.done(message)

    # -- batches (services/common/batching.py) -------------------------------------

    def claim_many(self, messages: list[dict]) -> BatchClaim:
        """Claim a batch's keys in one ``insert_many`` (unordered): a duplicate key is
        a message seen before, looked up (one ``$in`` read) and taken over when its
        lease expired; a key repeated inside the batch runs once, at its first place."""
        now = time.time()
        claim = BatchClaim()
        first: dict[str, int] = {}
        for index, message in enumerate(messages):
            key = self.key_id(message)
            if key in first:
                claim.repeats.append(index)
            else:
                first[key] = index
        docs = [
            {
                "_id": key,
                **self._key(messages[i]),
                "state": "processing",
                "lease_until": now + self.lease_seconds,
                "first_seen_at": utcnow(),
                "claims": 1,
            }
            for key, i in first.items()
        ]
        key_of = {i: key for key, i in first.items()}
        order = list(key_of)
        seen = [order[k] for k in insert_many_once(self.collection, docs)]
        seen_set = set(seen)
        claim.fresh = [i for i in order if i not in seen_set]
        if seen:
            states = {
                doc["_id"]: doc
                for doc in self.collection.find({"_id": {"$in": [key_of[i] for i in seen]}}, {"state": 1})
            }
            for index in sorted(seen):
                doc = states.get(key_of[index])
                where = {"_id": doc["_id"]} if doc is not None else self._key(messages[index])
                if doc is None:  # written before keys became ids
                    doc = self.collection.find_one(where, {"state": 1})
                if doc is not None and doc.get("state") == "done":
                    claim.done.append(index)
                elif self._take_over(where, now):
                    claim.fresh.append(index)
                else:
                    claim.busy.append(index)
            claim.fresh.sort()
        return claim

    def _take_over(self, where: dict, now: float) -> bool:
        return (
            self.collection.find_one_and_update(
                {**where, "state": "processing", "lease_until": {"$lt": now}},
                {"$set": {"lease_until": now + self.lease_seconds}, "$inc": {"claims": 1}},
            )
            is not None
        )

    def _update_each(self, messages: list[dict], condition: dict, update: dict) -> None:
        """``update`` the messages' documents by id; the ones that did not match (written
        before keys became ids) by their key fields, one by one."""
        if not messages:
            return
        ids = [self.key_id(m) for m in messages]
        matched = self.collection.update_many(all_of({"_id": {"$in": ids}}, condition), update).matched_count
        if matched < len(set(ids)):  # not in that state, or an older document: which?
            known = {d["_id"] for d in self.collection.find({"_id": {"$in": ids}}, {"_id": 1})}
            for message, key in zip(messages, ids, strict=True):
                if key not in known:
                    self.collection.update_one(all_of(self._key(message), condition), update)

    def release_many(self, messages: list[dict]) -> None:
        self._update_each(messages, {"state": "processing"}, {"$set": {"lease_until": 0}})

    def done_many(self, messages: list[dict]) -> None:
        self._update_each(
            messages, {}, {"$set": {"state": "done", "lease_until": 0}, "$currentDate": {"done_at": True}}
        )


@dataclass
class BatchClaim:
    """Positions of a batch: ``fresh`` to handle now, ``done`` before (and ``repeats``
    of a key earlier in the batch: handled there), ``busy`` held by another worker."""

    fresh: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)
