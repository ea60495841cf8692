"""The notify service's MongoDB store: recipients, deliveries and their attempts,
the send-rate buckets, template overrides and counters; and the removal of an erased
customer's personal data from the delivery log (``anonymise_customer``).

Times that queries compare (``next_attempt_at``, ``lease_until``, ``tat``) are
epoch seconds, which every server compares alike (docs/store.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne

from contracts.base import utcnow
from services.common.claims import claim_earliest
from services.common.erasure import MARK, redact, scrub_dead_letters
from services.common.inbox import Inbox
from services.common.mongo import ConfigCache, Store, as_stored, insert_many_once, plain_copy
from services.notify.customers.store import CustomerStore

# Statuses a delivery moves through; "held" waits out the recipient's quiet hours.
WAITING = ("scheduled", "held", "sending")
FINISHED = ("delivered", "failed")


def recipient_documents(directory: dict) -> list[dict]:
    """The stored form of a directory's people and teams (``_id`` ``kind:id``)."""
    return [
        {**item, "_id": f"{kind}:{item['id']}", "kind": kind}
        for kind, items in (("person", directory["people"]), ("team", directory["teams"]))
        for item in items
    ]


class Recipients:
    """The recipients directory in memory: people and teams by ``kind:id``, read with
    the verbs the delivery stages use. Each answer is a copy the caller may change."""

    def __init__(self, by_id: dict[str, dict]):
        self.by_id = by_id

    @classmethod
    def of(cls, directory: dict) -> Recipients:
        """A directory as ``load_directory`` returns it, in memory (no store)."""
        return cls({doc["_id"]: doc for doc in recipient_documents(directory)})

    def recipient(self, kind: str, id_: str) -> dict | None:
        return plain_copy(self.by_id.get(f"{kind}:{id_}"))

    def resolve(self, ref: dict) -> list[dict]:
        """The people a recipient reference reaches (a person, or a team's members)."""
        doc = self.recipient(ref["kind"], ref["id"])
        if doc is None:
            return []
        if doc["kind"] == "person":
            return [doc]
        ids = sorted({f"person:{m}" for m in doc["members"]} & self.by_id.keys())
        return [plain_copy(self.by_id[i]) for i in ids]

    def teams_of(self, person_id: str) -> list[dict]:
        return [
            plain_copy(t) for t in self.by_id.values() if t["kind"] == "team" and person_id in t["members"]
        ]


def override_record(doc: dict) -> dict:
    """What the console shows of a stored override; one saved before versions were kept
    is version 0 with its ``by`` and ``saved_at`` (its next save is version 1)."""
    last = doc.get("last") or {
        "action": "saved",
        "by": doc.get("by"),
        "reason": None,
        "at": doc.get("saved_at"),
    }
    return {"overridden": "source" in doc, "version": doc.get("version", 0), **last}


class NotifyStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.notification_inbox, ("notification_id",))
        self.customer_inbox = Inbox(db.customer_message_inbox, ("message_id",))
        self.customers = CustomerStore(db)  # messages to customers (customers/store.py)
        self.config = ConfigCache(db, self._load_config)

    def _load_config(self) -> dict:
        """The recipients directory and the template overrides (ConfigCache)."""
        return {
            "recipients": {d["_id"]: d for d in self.db.recipients.find().sort("_id", ASCENDING)},
            # a reverted override keeps its document (its versions) without a source
            "templates": {d["_id"]: d["source"] for d in self.db.templates.find() if "source" in d},
        }

    def indexes(self):
        return {
            **self.customers.indexes(),
            "notification_inbox": [self.inbox.index()],
            "customer_message_inbox": [self.customer_inbox.index()],
            "deliveries": [
                IndexModel([("notification_id", ASCENDING)], name="notification_id"),
                IndexModel([("created_at", DESCENDING)], name="created_at"),
                IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
            ],
            # attempts made before they were kept in the delivery (read only)
            "delivery_attempts": [
                IndexModel([("delivery_id", ASCENDING), ("attempt", ASCENDING)], name="delivery")
            ],
            "recipients": [IndexModel([("kind", ASCENDING), ("id", ASCENDING)], unique=True, name="kind_id")],
            "template_versions": [
                IndexModel([("name", ASCENDING), ("version", DESCENDING)], name="name_version")
            ],
        }

    # recipients ---------------------------------------------------------

    def apply_directory(self, directory: dict) -> dict:
        now = utcnow()
        for doc in recipient_documents(directory):
            self.db.recipients.replace_one({"_id": doc["_id"]}, {**doc, "updated_at": now}, upsert=True)
        self.config.bump()
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
        return self.directory().recipient(kind, id_)

    def resolve(self, ref: dict) -> list[dict]:
        """The people a recipient reference reaches (a person, or a team's members)."""
        return self.directory().resolve(ref)

    def teams_of(self, person_id: str) -> list[dict]:
        return self.directory().teams_of(person_id)

    def directory(self) -> Recipients:
        """The recipients directory as cached (``ConfigCache``): no read per message."""
        return Recipients(self.config.get()["recipients"])

    def list_recipients(self) -> list[dict]:
        return list(self.db.recipients.find().sort("_id", ASCENDING))

    # deliveries ---------------------------------------------------------

    def create_delivery(self, doc: dict) -> bool:
        """Insert a delivery keyed by its idempotency key; False if it exists."""
        return self.create_leased(doc, 0) is not None

    def create_leased(self, doc: dict, lease_until: float) -> dict | None:
        """Insert a delivery already claimed (``sending`` until ``lease_until``) by the
        worker that will attempt it now: no claim round trip. It is the stored
        delivery; None if it exists. A lease of 0 creates it unclaimed."""
        return self.create_many([(doc, lease_until)])[0]

    def create_many(self, items: list[tuple[dict, float]]) -> list[dict | None]:
        """``create_leased`` for many (delivery, lease_until) pairs in one unordered
        ``insert_many``; each the stored delivery, or None where it existed."""
        stored = []
        for doc, lease_until in items:
            one = {**doc, "created_at": utcnow(), "attempts": 0, "lease_until": lease_until}
            if lease_until:
                one["status"] = "sending"
            stored.append(one)
        existed = set(insert_many_once(self.db.deliveries, stored))
        return [None if i in existed else as_stored(doc) for i, doc in enumerate(stored)]

    def get_delivery(self, delivery_id: str) -> dict | None:
        return self.db.deliveries.find_one({"_id": delivery_id}, {"attempt_log": 0})

    def delivery_log(self, delivery_id: str) -> dict | None:
        """A delivery with every attempt (``attempt_log``, in order); None if there is none."""
        doc = self.get_delivery(delivery_id)
        return None if doc is None else {**doc, "attempt_log": self.attempts(delivery_id)}

    def get_deliveries(self, ids: list[str]) -> dict[str, dict]:
        """The deliveries of ``ids`` that exist, by id, in one ``find``."""
        if not ids:
            return {}
        found = self.db.deliveries.find({"_id": {"$in": sorted(set(ids))}}, {"attempt_log": 0})
        return {doc["_id"]: doc for doc in found}

    def claim_due(self, now: float, lease: float, ids: list[str] | None = None) -> dict | None:
        """Atomically lease one due delivery (oldest first); None when none is due.

        A ``sending`` delivery whose lease expired was being sent by a worker
        that died; it is claimed again.
        """
        due = {"next_attempt_at": {"$lte": now}, "lease_until": {"$lt": now}}
        update = {"$set": {"status": "sending", "lease_until": now + lease}}
        if ids is None:  # the sweep: per status, from the due index (see claims.py)
            branches = [{"status": status, **due} for status in WAITING]
            return claim_earliest(self.db.deliveries, branches, "next_attempt_at", update)
        query: dict = {"status": {"$in": list(WAITING)}, **due, "_id": {"$in": ids}}
        return self.db.deliveries.find_one_and_update(
            query,
            {"$set": {"status": "sending", "lease_until": now + lease}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    def settle(self, doc: dict, update: dict, attempt: dict | None = None) -> bool:
        """``settle_many`` for one delivery."""
        return self.settle_many([(doc, update, attempt)])[0]

    def settle_many(self, items: list[tuple[dict, dict, dict | None]]) -> list[bool]:
        """Apply each ``(doc, update, attempt)``'s ``update`` if this worker still holds
        the lease it claimed ``doc`` with, in one unordered ``bulk_write``; for each,
        whether it applied.

        ``attempt`` (the attempt just made) goes into the delivery's ``attempt_log`` in
        the same update; it is logged even when the lease was lost meanwhile. Each update
        also stores the lease it was made under (``settled_lease``): a bulk result only
        counts matches, so when some missed (a lease lost, or a retry after a store
        outage of updates that had applied), one ``find`` tells which were this worker's.
        """
        if not items:
            return []
        logs, ops = [], []
        for doc, update, attempt in items:
            log = {}
            if attempt is not None:
                n = attempt["attempt"]
                entry = {"_id": f"{attempt['delivery_id']}#{n}", **attempt, "at": utcnow()}
                log = {f"attempt_log.a{n}": entry}
            logs.append(log)
            ops.append(
                UpdateOne(
                    {"_id": doc["_id"], "lease_until": doc["lease_until"]},
                    {
                        "$set": {**update, **log, "lease_until": 0, "settled_lease": doc["lease_until"]},
                        "$currentDate": {"updated_at": True},
                    },
                )
            )
        if self.db.deliveries.bulk_write(ops, ordered=False).matched_count == len(ops):
            return [True] * len(items)
        ids = [doc["_id"] for doc, _, _ in items]
        stored = {
            d["_id"]: d.get("settled_lease")
            for d in self.db.deliveries.find({"_id": {"$in": ids}}, {"settled_lease": 1})
        }
        held = [stored.get(doc["_id"]) == doc["lease_until"] for doc, _, _ in items]
        lost_logs = [
            UpdateOne({"_id": doc["_id"]}, {"$set": log})
            for (doc, _, _), log, ok in zip(items, logs, held, strict=True)
            if log and not ok
        ]
        if lost_logs:
            self.db.deliveries.bulk_write(lost_logs, ordered=False)
        return held

    def attempts(self, delivery_id: str) -> list[dict]:
        """Every attempt of a delivery, in order (kept in the delivery; older deliveries
        kept them in ``delivery_attempts``)."""
        doc = self.db.deliveries.find_one({"_id": delivery_id}, {"attempt_log": 1}) or {}
        found = {a["attempt"]: a for a in self.db.delivery_attempts.find({"delivery_id": delivery_id})}
        found.update({a["attempt"]: a for a in (doc.get("attempt_log") or {}).values()})
        return [found[n] for n in sorted(found)]

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
        cursor = self.db.deliveries.find(query, {"attempt_log": 0}).sort("created_at", DESCENDING)
        return list(cursor.skip(skip).limit(limit))

    # send-rate buckets (GCRA: one "theoretical arrival time" per channel+destination)

    def take_token(self, key: str, interval: float, burst: int, now: float) -> float:
        """0 when a send may go now (and it is counted), else seconds to wait."""
        granted, wait = self.take_tokens(key, 1, interval, burst, now)
        return 0.0 if granted else wait

    def take_tokens(self, key: str, count: int, interval: float, burst: int, now: float) -> tuple[int, float]:
        """Tokens for up to ``count`` sends to one bucket: how many may go now (each
        counted), and the seconds the others wait.

        A GCRA bucket in one ordered ``bulk_write``, no read-modify-write: the
        theoretical arrival time ``tat`` is first raised to ``now`` (``$max``, creating
        the bucket), then moved by ``count`` intervals in one conditional ``$inc`` that
        applies only while all of them fit in the burst tolerance (the common case: one
        update, whatever ``count``). When they do not all fit, a second ``bulk_write``
        moves it by one interval per token, each move a conditional ``$inc`` that applies
        only while ``tat`` is within the tolerance. Every move is atomic, so concurrent
        takers (other batches, other replicas) each get their own tokens and none is
        granted twice; the tokens granted are the moves that matched (never more than
        ``burst``: after the ``$max`` no more fit). Refused: the wait until a token
        frees, read once.
        """
        if count < 1:
            return 0, 0.0
        tolerance = interval * (burst - 1)
        start = [UpdateOne({"_id": key}, {"$max": {"tat": now}}, upsert=True)]
        if count <= burst:  # all at once when they all fit: one move, not one per token
            fits = {"_id": key, "tat": {"$lte": now + tolerance - (count - 1) * interval}}
            result = self.db.rate_buckets.bulk_write(
                [*start, UpdateOne(fits, {"$inc": {"tat": interval * count}})], ordered=True
            )
            if result.matched_count + result.upserted_count - 1 == 1:
                return count, 0.0
            start = []  # the bucket exists, and ``tat`` is at least ``now``
        moves = [
            UpdateOne({"_id": key, "tat": {"$lte": now + tolerance}}, {"$inc": {"tat": interval}})
            for _ in range(min(count, max(burst, 1)))
        ]
        result = self.db.rate_buckets.bulk_write([*start, *moves], ordered=True)
        granted = result.matched_count + result.upserted_count - len(start)
        if granted == count:
            return granted, 0.0
        doc = self.db.rate_buckets.find_one({"_id": key}) or {"tat": now}
        return granted, max(doc["tat"] - tolerance - now, interval)

    # template overrides -------------------------------------------------

    def save_template(self, name: str, source: str, by: str, reason: str | None = None) -> dict:
        """Store ``source`` as the override of ``name``: the next version (one atomic
        ``$inc``), who and why kept with it and in ``template_versions``."""
        saved = self._template_version(name, {"$set": {"source": source}}, "saved", by, reason, source)
        assert saved is not None  # an upsert always finds its document
        return saved

    def delete_template(self, name: str, by: str = "admin", reason: str | None = None) -> dict | None:
        """Drop the override (the shipped file applies again) as a new version; None when
        ``name`` has no override. The document stays, so the versions keep counting."""
        return self._template_version(
            name, {"$unset": {"source": ""}}, "reverted", by, reason, None, {"source": {"$exists": True}}
        )

    def _template_version(self, name, change, action, by, reason, source, guard=None) -> dict | None:
        last = {"action": action, "by": by, "reason": reason, "at": utcnow()}  # a subdocument (docs/store.md)
        try:
            doc = self.db.templates.find_one_and_update(
                {"_id": name, **(guard or {})},
                {**change, "$set": {**change.get("$set", {}), "last": last}, "$inc": {"version": 1}},
                upsert=guard is None,
                return_document=ReturnDocument.AFTER,
            )
        finally:
            self.config.bump()
        if doc is None:
            return None
        version = {"name": name, "version": doc["version"], **last, "source": source}
        self.db.template_versions.insert_one({"_id": f"{name}@{doc['version']}", **version})
        return {k: v for k, v in version.items() if k != "source"}

    def template_overrides(self) -> dict[str, str]:
        return dict(self.config.get()["templates"])

    def template_records(self) -> dict[str, dict]:
        """Each template's override record (version, last change: who, why, when), by name;
        a reverted one too (no ``source``)."""
        return {d["_id"]: override_record(d) for d in self.db.templates.find()}

    def template_versions(self, name: str, limit: int = 20) -> list[dict]:
        """A template's versions, newest first (the source of each saved one)."""
        rows = self.db.template_versions.find({"name": name}).sort("version", DESCENDING).limit(limit)
        return [{k: v for k, v in row.items() if k != "_id"} for row in rows]

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
            "customer_messages": self.customers.counts(),
            "deliveries": by_status,
            "delivered_by_channel": by_channel,
            "counters": counters,
            "dead_letters": self.dead_letter_counts(),
        }


# -- erasure (customer_erased) -----------------------------------------------------------------

# What a notification context says about its customer besides the id (the cases service's
# notification_context): the name, the comment and its tags, the rule trace that quotes it.
CUSTOMER_PERSONAL = (("customer", "name"), ("event", "text"), ("event", "tags"), ("trace",))
# A delivery's own texts that may quote what was sent (vendor answers, errors).
ANSWER_FIELDS = ("last_error", "message_id")
CAS_TRIES = 8


def scrub_context(context, customer_ids: set[str]) -> tuple[dict, set[str]]:
    """``context`` without the personal data of ``customer_ids``, and the names it held.

    Every part about an erased customer (a dict whose ``customer.id`` is one of them:
    a case notification's whole context, a digest's row) loses the customer's name,
    comment, tags and trace, and the name is replaced by ``[erased 已删除]`` in its
    remaining text (the case title, an agent's reason). Other customers' parts stay.
    """
    names: set[str] = set()

    def walk(value):
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        customer = value.get("customer")
        if isinstance(customer, dict) and customer.get("id") in customer_ids:
            return about_erased(value)
        return {k: walk(v) for k, v in value.items()}

    def about_erased(part: dict) -> dict:
        part = copy.deepcopy(part)
        found = {part["customer"].get("name")} - {None}
        for path in CUSTOMER_PERSONAL:
            parent: dict = part
            for key in path[:-1]:
                child = parent.get(key)
                parent = child if isinstance(child, dict) else {}
            parent.pop(path[-1], None)
        names.update(str(n) for n in found)
        return redact_all(part, found)

    return walk(context), names


def redact_all(value, names: Iterable[str]):
    """``value`` (JSON) with ``names`` redacted from every string in it."""
    if isinstance(value, str):
        return redact(value, names)
    if isinstance(value, list):
        return [redact_all(v, names) for v in value]
    if isinstance(value, dict):
        return {k: redact_all(v, names) for k, v in value.items()}
    return value


def scrubbed_delivery(doc: dict, customer_ids: set[str]) -> tuple[dict, set[str]]:
    """The ``$set`` that removes ``customer_ids``' personal data from a delivery (empty
    when there is none left), and the names found."""
    context, names = scrub_context(doc.get("context") or {}, customer_ids)
    update: dict = {"context": context} if context != doc.get("context") else {}
    for field in ANSWER_FIELDS:
        if isinstance(doc.get(field), str) and redact(doc[field], names) != doc[field]:
            update[field] = redact(doc[field], names)
    for key, entry in (doc.get("attempt_log") or {}).items():
        error = entry.get("error")
        if isinstance(error, str) and redact(error, names) != error:
            update[f"attempt_log.{key}.error"] = redact(error, names)
    return update, names


def anonymise_customer(db, customer_ids: list[str]) -> dict:
    """Remove an erased customer's personal data from the notify service's collections:
    the notification context of every delivery about them (case notifications, and
    their rows in digests), the names in what vendors answered, in the attempt log
    and in older attempts (``delivery_attempts``), and dead-letter previews naming them.
    Delivery ids, status, channel, recipient, attempts and times stay, and a waiting
    delivery is still sent, without the data. Idempotent: a second run changes nothing.
    """
    ids = set(customer_ids)
    wanted = {"$in": sorted(ids)}
    # A digest lists its customers in ``customer_ids``: the embedded server does not
    # match a dotted path through an array of subdocuments (its rows), but it does
    # match an array of strings.
    query = {"$or": [{"context.customer.id": wanted}, {"context.customer_ids": wanted}]}
    deliveries = attempts = 0
    for doc in db.deliveries.find(query):
        _, names = scrub_context(doc.get("context") or {}, ids)
        # older attempts first: once the delivery is scrubbed, its names are gone
        attempts += _scrub_old_attempts(db, doc["_id"], names)
        deliveries += scrub_delivery(db, doc, ids)
    return {"deliveries": deliveries, "attempts": attempts, "dead_letters": scrub_dead_letters(db, ids)}


def _scrub_old_attempts(db, delivery_id: str, names: set[str]) -> int:
    """``names`` out of the errors of attempts kept in ``delivery_attempts`` (before a
    delivery held its attempt log); each write conditional on the error it replaces."""
    changed = 0
    for entry in db.delivery_attempts.find({"delivery_id": delivery_id}) if names else ():
        error = entry.get("error")
        if isinstance(error, str) and redact(error, names) != error:
            changed += db.delivery_attempts.update_one(
                {"_id": entry["_id"], "error": error}, {"$set": {"error": redact(error, names)}}
            ).modified_count
    return changed


def scrub_delivery(db, doc: dict, customer_ids: set[str]) -> int:
    """One atomic write per delivery, on the condition that nothing changed it since it
    was read: no attempt recorded (``attempts``), no other erasure (``erasures``, e.g.
    another customer of the same digest). A miss reads it again."""
    for _ in range(CAS_TRIES):
        update, _ = scrubbed_delivery(doc, customer_ids)
        if not update:
            return 0
        guard = {
            "_id": doc["_id"],
            "attempts": doc.get("attempts"),
            "erasures": doc["erasures"] if "erasures" in doc else {"$exists": False},
        }
        changes = {"$set": update, "$inc": {"erasures": 1}, "$currentDate": {MARK: True}}
        if db.deliveries.update_one(guard, changes).modified_count:
            return 1
        doc = db.deliveries.find_one({"_id": doc["_id"]})
        if doc is None:
            return 0
    # the event is retried (bounded) rather than leaving the data in place silently
    raise RuntimeError(f"delivery {doc['_id']} kept changing while an erasure scrubbed it")
