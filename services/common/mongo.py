"""MongoDB access: one DependencyProvider, plain domain stores, the inbox.

Services use pymongo only (no server specifics) so the code runs unchanged
against the embedded wire-protocol server and a real replica set. They keep to
the update shapes both handle identically (``docs/store.md``; each is pinned by
``tests/store/``):

* datetimes are written by insert/replace, ``$setOnInsert``, ``$currentDate`` or
  inside a subdocument value of ``$set``, never as a bare ``$set`` leaf;
* no array update operators; lists live in their own collection or as keyed
  subdocuments (``$set: {"open_cases.<id>": {...}}``);
* no ``$ne`` against arrays or subdocuments, and ``$ne`` only on fields that are
  initialised when the document is inserted;
* dotted-path updates only on documents that already exist;
* no ``$min``/``$max`` on datetimes (``$max`` on integers is fine).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from nameko import config as nameko_config
from nameko.extensions import DependencyProvider
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from contracts.base import utcnow
from services.common import settings

log = logging.getLogger(__name__)


def make_client(uri: str | None = None, appname: str = "cx") -> MongoClient:
    return MongoClient(
        uri or settings.get("MONGO_URI"),
        tz_aware=True,
        appname=appname,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
    )


def database_name(service_name: str) -> str:
    return f"{settings.get('MONGO_DB_PREFIX')}{service_name}"


class Store:
    """Base of each service's domain store: wraps its database with domain verbs.

    Subclasses return their indexes from ``indexes()`` (collection → list of
    IndexModel); ``ensure_indexes`` creates them at start-up.
    """

    def __init__(self, db: Database):
        self.db = db

    def indexes(self) -> dict[str, list]:
        return {}

    def ensure_indexes(self) -> None:
        for collection, models in self.indexes().items():
            if models:
                self.db[collection].create_indexes(models)

    # Every service counts what its consumers dead-lettered (the DLQ holds the body).
    def record_dead_letter(self, queue: str, reason: str, attempts: int, body: bytes) -> None:
        raw = body if isinstance(body, bytes) else str(body).encode("utf-8", "replace")
        self.db.dead_letters.insert_one(
            {
                "queue": queue,
                "reason": reason,
                "attempts": attempts,
                "at": utcnow(),
                "size": len(raw),
                "preview": raw[:500].decode("utf-8", "replace"),
            }
        )

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self.db.dead_letters.aggregate([{"$group": {"_id": "$queue", "n": {"$sum": 1}}}])
        return {row["_id"]: row["n"] for row in rows}


class MongoStore(DependencyProvider):
    """Injects the service's domain store; one client per service container.

    The database is ``<MONGO_DB_PREFIX><service name>``: a service never reads
    another service's collections.
    """

    def __init__(self, store_cls: type[Store]):
        self.store_cls = store_cls

    def setup(self) -> None:
        service = self.container.service_name
        self.client = make_client(appname=f"cx-{service}")
        self.store = self.store_cls(self.client[database_name(service)])
        self.store.ensure_indexes()

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx) -> Store:
        return self.store


class ConfigCache:
    """Rarely changing configuration (directories, policies, the rule index) held in
    memory per replica.

    ``load()`` reads it all; it is read again only when the revision counter (one
    document in the ``meta`` collection, ``config_meta`` unless named) moved, which
    every write through the store bumps (``bump``, after the write). The revision is
    read only when the cache may be stale, never per message:

    * after a write through this replica (``bump``): the next lookup sees it;
    * after another replica's write: its signal (services/common/config_signal.py)
      calls ``invalidate``, and the next lookup here reads the revision once;
    * after this replica's broker connection came back (a signal may have been
      missed): ``invalidate`` once;
    * otherwise at most every ``max_staleness`` seconds (``CONFIG_MAX_STALENESS_SECONDS``),
      the bound on staleness when a signal is lost;
    * a write that bypassed the store entirely is seen after ``max_age`` seconds.

    A lookup that follows an invalidation is answered from a revision read that
    started after it (an invalidation during a read leaves the cache stale), and a
    load that started earlier never replaces one that started later.
    """

    def __init__(
        self,
        db: Database,
        load,
        max_age: float = 60.0,
        meta: str = "config_meta",
        max_staleness: float | None = None,
    ):
        self.db = db
        self.load = load
        self.max_age = max_age
        self.name = meta  # what a change signal names
        self.meta = db[meta]
        self.max_staleness = max_staleness_setting() if max_staleness is None else max_staleness
        self.revision: int | None = None
        self.value: Any = None
        self.loaded_at = 0.0
        self.checked_at = float("-inf")  # when the latest revision read started (monotonic)
        self.changes = 0  # invalidations: local writes, other replicas' signals, reconnections
        self.verified = 0  # the changes a completed revision read had seen when it started
        self.tickets = 0  # loads started
        self.installed = 0  # the ticket of the load in use
        self.revision_reads = 0  # revision reads made (tests, bench)
        self.announce: Callable[[], None] | None = (
            None  # set by ConfigSignal: tells the other replicas after a bump
        )

    def invalidate(self) -> None:
        """The revision may have moved: the next lookup reads it."""
        self.changes += 1

    def bump(self) -> None:
        self.meta.update_one({"_id": "revision"}, {"$inc": {"n": 1}}, upsert=True)
        self.invalidate()
        if self.announce is not None:
            self.announce()

    def get(self) -> Any:
        now = time.monotonic()
        expired = now - self.loaded_at > self.max_age
        due = now - self.checked_at >= self.max_staleness
        if self.verified < self.changes or due or expired or self.value is None:
            changes = self.changes  # this read answers every invalidation so far
            self.checked_at = now  # workers meanwhile keep the value: one periodic read at a time
            self.revision_reads += 1
            doc = self.meta.find_one({"_id": "revision"}) or {}
            revision = doc.get("n", 0)
            if revision != self.revision or expired or self.value is None:
                self.tickets += 1
                ticket, loaded_at = self.tickets, time.monotonic()
                value = self.load()
                # loads run concurrently: one that started earlier never replaces a later one
                if ticket > self.installed:
                    self.value, self.revision, self.loaded_at = value, revision, loaded_at
                    self.installed = ticket
            self.verified = max(self.verified, changes)
        return self.value


def max_staleness_setting() -> float:
    """CONFIG_MAX_STALENESS_SECONDS, validated: how stale a cache may get when a change
    signal is lost (0: read the revision at every lookup)."""
    try:
        value = settings.get("CONFIG_MAX_STALENESS_SECONDS")
    except ValueError:  # not a number at all
        value = nameko_config.get("CONFIG_MAX_STALENESS_SECONDS")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"CONFIG_MAX_STALENESS_SECONDS must be a number of seconds ≥ 0, not {value!r}")
    return float(value)


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


def insert_many_once(collection: Collection, documents: list[dict]) -> list[int]:
    """Insert documents with one unordered ``insert_many``; those whose key exists
    already are skipped. Returns the positions that were skipped."""
    if not documents:
        return []
    try:
        collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return sorted(e["index"] for e in errors)
    return []


@dataclass
class BatchClaim:
    """Positions of a batch: ``fresh`` to handle now, ``done`` before (and ``repeats``
    of a key earlier in the batch: handled there), ``busy`` held by another worker."""

    fresh: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)


def all_of(*filters: dict) -> dict:
    """Combine filters so each keeps its own meaning: ``{"$and": [...]}``.

    Never put ``$or`` beside other keys in one filter: nx-27017 evaluates
    ``{"a": 1, "$or": [x, y]}`` as ``(a = 1 AND x) OR y`` (docs/store.md).
    """
    parts = [f for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


def handled_once_each(inbox: str = "inbox", dispatcher: str = "dispatch"):
    """Run a batch handler (it receives a list of messages) at most once per message key: the
    batch's keys are claimed at once and the handler gets the fresh messages only.
    Its dispatches (buffered by the ``dispatcher`` attribute, a ContractDispatcher)
    are published and confirmed before the keys are marked done, so a key is never
    done with its announcements unsent; messages another worker holds are answered
    ``Outcome(later=...)`` (requeued after a pause)::

        @feedback_batch_consumer()
        @handled_once_each("feedback_inbox")
        def handle_feedback(self, events): ...
    """
    from services.common.batching import Outcome

    def decorate(handler):
        @wraps(handler)
        def wrapper(self, messages: list[dict]):
            box = getattr(self.store, inbox)
            claim = box.claim_many(messages)
            fresh = [messages[i] for i in claim.fresh]
            if fresh:
                try:
                    handler(self, fresh)
                    flush = getattr(getattr(self, dispatcher, None), "flush", None)
                    if flush is not None:
                        flush()
                except BaseException:
                    box.release_many(fresh)
                    raise
                box.done_many(fresh)
            return Outcome(later=frozenset(claim.busy)) if claim.busy else None

        return wrapper

    return decorate


_STORED: CodecOptions = CodecOptions(tz_aware=True)


def as_stored(doc: dict) -> dict:
    """``doc`` as the store returns it after writing it (BSON: datetimes to the
    millisecond), so a document just written need not be read back."""
    return bson.decode(bson.encode(doc), codec_options=_STORED)


def jsonable(value: Any) -> Any:
    """Make a stored document safe for JSON (RPC replies, CLI ``--json``)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    return value
