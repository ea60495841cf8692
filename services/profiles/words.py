"""Word-frequency views: comment keywords and categories per customer and overall, per day.

Kept as feedback arrives, with reads and writes by ``_id`` only (no per-event query
on a growing collection, docs/store.md "Performance"):

* one document per customer and local day, ``<customer>|<day>``;
* the anonymous totals of everyone, spread over ``SHARDS`` documents per day,
  ``*|<day>|<shard>`` (the shard comes from the event, so no single document takes
  every event of a busy day).

A document holds ``terms`` (term code → count) and ``applied`` (one marker per event
counted in it; a customer's day keeps the event's term codes there, so a merge can
move events one by one). Recording an event is one ``$inc`` of its terms, guarded by
the absence of its marker and setting it in the same update: a replayed or resent
event, or two workers racing on it, count it once. Markers never leave a day's
document, which only collects that day's events, so it stays bounded.

A term is ``w:<keyword>`` or ``c:<category>``; its code in ``terms`` is ``w``/``c`` and
the UTF-8 bytes of the value in hex, because nx-27017 silently ignores ``$inc`` on a
dotted path with non-ASCII characters (docs/store.md). The day is the feedback's
calendar day in ``WORDS_TIMEZONE``. A query sums the day documents of a range.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from services.common.mongo import insert_many_once

EVERYONE = "*"
WORDS_TIMEZONE = ZoneInfo("Asia/Shanghai")
SHARDS = 16


def local_day(moment: datetime) -> date:
    return moment.astimezone(WORDS_TIMEZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), WORDS_TIMEZONE)
    return start, start + timedelta(days=1)


def terms(entry: dict) -> list[str]:
    """The terms of one timeline entry: its keywords and its category."""
    insight = entry.get("insight") or {}
    out = [f"w:{k}" for k in dict.fromkeys(insight.get("keywords") or [])]
    if insight.get("category"):
        out.append(f"c:{insight['category']}")
    return out


def encode(term: str) -> str:
    kind, _, value = term.partition(":")
    return kind + value.encode("utf-8").hex()


def decode(code: str) -> tuple[str, str]:
    """(kind, value) of a term code."""
    return code[0], bytes.fromhex(code[1:]).decode("utf-8")


def marker(key: str) -> str:
    """A short, field-name-safe stand-in for an event key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def customer_doc_id(customer_id: str, day: date) -> str:
    return f"{customer_id}|{day.isoformat()}"


def shard_doc_id(day: date, key: str) -> str:
    return f"{EVERYONE}|{day.isoformat()}|{int(marker(key)[:4], 16) % SHARDS:02d}"


def counted(entry: dict) -> bool:
    """Whether an entry's terms are counted (a feedback entry with a comment insight)."""
    return entry.get("kind") == "feedback" and bool(entry.get("insight"))


def day_groups(items: list[tuple[str, dict]]) -> dict[str, dict]:
    """The day documents a batch of (customer_id, entry) counts in, by id: each with its
    ``scope``, ``day`` and ``events`` (marker → term codes; an event once, however often
    the batch repeats it). Entries that count nothing are left out."""
    groups: dict[str, dict] = {}
    for customer_id, entry in items:
        if not counted(entry):
            continue
        day, codes, mark = local_day(entry["at"]), [encode(t) for t in terms(entry)], marker(entry["_id"])
        for doc_id, scope in (
            (customer_doc_id(customer_id, day), customer_id),
            (shard_doc_id(day, entry["_id"]), EVERYONE),
        ):
            group = groups.setdefault(doc_id, {"scope": scope, "day": day, "events": {}})
            group["events"].setdefault(mark, codes)
    return groups


class WordCounts:
    def __init__(self, db):
        self.db = db
        self.docs = db.word_counts

    def record(self, customer_id: str, entry: dict, *, likely_new: bool = True) -> None:
        """Count ``entry``'s terms once, for ``customer_id`` and for everyone.

        ``likely_new``: the customer's document of that day probably does not exist
        yet (try the insert first; either order is correct, one saves a round trip).
        """
        if not counted(entry):
            return
        day, codes, key = local_day(entry["at"]), [encode(t) for t in terms(entry)], entry["_id"]
        self._add(customer_doc_id(customer_id, day), customer_id, day, codes, marker(key), likely_new)
        self._add(shard_doc_id(day, key), EVERYONE, day, codes, marker(key), False)

    def record_many(self, items: list[tuple[str, dict]]) -> None:
        """``record`` for a batch of (customer_id, entry): three round trips in all.

        The day documents the batch touches are read at once (their markers); the
        missing ones are inserted with the batch's counts (one ``insert_many``); each
        existing one gets the terms of the batch's events it has no marker for, in one
        update guarded by the absence of all those markers (one ``bulk_write``). When
        a concurrent writer got in between (a duplicate insert, or fewer updates
        matched than sent), the events of those documents are counted one by one,
        each guarded by its own marker, so nothing counts twice.
        """
        groups = day_groups(items)
        if not groups:
            return
        applied = {
            d["_id"]: d.get("applied") or {}
            for d in self.docs.find({"_id": {"$in": list(groups)}}, {"applied": 1})
        }
        fresh, updates, updated = [], [], []
        for doc_id, group in groups.items():
            scope, events = group["scope"], group["events"]
            if doc_id in applied:
                events = {m: c for m, c in events.items() if m not in applied[doc_id]}
                if not events:
                    continue  # a replay: every event is counted there already
            tally = Counter(code for codes in events.values() for code in codes)
            noted = {m: (1 if scope == EVERYONE else codes) for m, codes in events.items()}
            if doc_id not in applied:
                fresh.append(
                    {
                        "_id": doc_id,
                        "scope": scope,
                        "day": group["day"].isoformat(),
                        "terms": dict(tally),
                        "applied": noted,
                    }
                )
                continue
            guard = {"_id": doc_id, **{f"applied.{m}": {"$exists": False} for m in events}}
            change = {"$set": {f"applied.{m}": v for m, v in noted.items()}}
            if tally:
                change["$inc"] = {f"terms.{c}": n for c, n in tally.items()}
            updates.append(UpdateOne(guard, change))
            updated.append(doc_id)
        again = [fresh[i]["_id"] for i in insert_many_once(self.docs, fresh)]
        if updates and self.docs.bulk_write(updates, ordered=False).matched_count < len(updates):
            again += updated
        for doc_id in again:  # one by one, each event guarded by its marker
            group = groups[doc_id]
            for mark, codes in group["events"].items():
                self._add(doc_id, group["scope"], group["day"], codes, mark, insert_first=False)

    def undo(self, customer_id: str, entry: dict) -> None:
        """Take ``entry``'s terms back out of ``customer_id``'s day (the write went to an id
        that was being merged; it is recorded on the survivor instead). Once only."""
        if not counted(entry):
            return
        codes, mark = [encode(t) for t in terms(entry)], marker(entry["_id"])
        self.docs.update_one(
            {
                "_id": customer_doc_id(customer_id, local_day(entry["at"])),
                f"applied.{mark}": {"$exists": True},
            },
            {
                "$inc": {f"terms.{c}": -n for c, n in Counter(codes).items()},
                "$unset": {f"applied.{mark}": ""},
            },
        )

    def _add(
        self, doc_id: str, scope: str, day: date, codes: list[str], mark: str, insert_first: bool
    ) -> None:
        # A customer's day keeps each event's terms under its marker (a merge moves them
        # event by event); the shared totals need only the marker.
        noted = 1 if scope == EVERYONE else codes
        tally = Counter(codes)
        update = {"$inc": {f"terms.{c}": n for c, n in tally.items()}, "$set": {f"applied.{mark}": noted}}
        guard = {"_id": doc_id, f"applied.{mark}": {"$exists": False}}
        fresh = {"_id": doc_id, "scope": scope, "day": day.isoformat(), "terms": dict(tally)}
        fresh["applied"] = {mark: noted}
        # Dotted updates only on an existing document (docs/store.md): insert when it is missing.
        if not insert_first and self.docs.update_one(guard, update).matched_count:
            return
        try:
            self.docs.insert_one(fresh)
            return
        except DuplicateKeyError:
            pass
        # It exists: count unless the marker says this event already is (a miss here means it is).
        self.docs.update_one(guard, update)

    def move(self, merged: str, survivor: str) -> None:
        """Move ``merged``'s counts to ``survivor``, event by event, then drop its documents.

        Each event moves in one update guarded by its marker on the survivor's day, so
        an event a concurrent writer recorded there as well (it followed the merge)
        counts once. Idempotent.
        """
        for doc in list(self.docs.find({"scope": merged})):
            day = date.fromisoformat(doc["day"])
            target = customer_doc_id(survivor, day)
            if "term" in doc:  # the per-term layout before per-day documents
                moves = {marker(f"moved:{doc['_id']}"): [encode(doc["term"])] * doc.get("n", 0)}
            else:
                moves = {
                    m: codes for m, codes in (doc.get("applied") or {}).items() if isinstance(codes, list)
                }
            for mark, codes in moves.items():
                self._add(target, survivor, day, codes, mark, insert_first=False)
            self.docs.delete_one({"_id": doc["_id"]})

    def rebuild(self, customer_id: str, entries) -> None:
        """Set ``customer_id``'s day documents to what ``entries`` (its feedback timeline) say."""
        tally: dict[date, Counter] = {}
        marks: dict[date, dict] = {}
        for entry in entries:
            if counted(entry):
                day, codes = local_day(entry["at"]), [encode(t) for t in terms(entry)]
                tally.setdefault(day, Counter()).update(codes)
                marks.setdefault(day, {})[marker(entry["_id"])] = codes
        self.docs.delete_many({"scope": customer_id})
        for day, counts in tally.items():
            self.docs.replace_one(
                {"_id": customer_doc_id(customer_id, day)},
                {"scope": customer_id, "day": day.isoformat(), "terms": dict(counts), "applied": marks[day]},
                upsert=True,
            )

    def forget(self, customer_id: str) -> int:
        """Drop a customer's own counts (erasure; the anonymous totals stay)."""
        return self.docs.delete_many({"scope": customer_id}).deleted_count

    def frequency(self, scope: str, since: date, until: date, limit: int) -> dict:
        """Top ``limit`` keywords and every category's count in days ``since..until`` (inclusive)."""
        words: Counter = Counter()
        categories: Counter = Counter()
        # aggregate $match: the embedded store reads it by the (scope, day) index, its find scans
        days = {"scope": scope, "day": {"$gte": since.isoformat(), "$lte": until.isoformat()}}
        for doc in self.docs.aggregate([{"$match": days}]):
            if "term" in doc:  # the per-term layout before per-day documents
                kind, _, value = doc["term"].partition(":")
                rows = [(kind, value, doc["n"])]
            else:
                rows = [(*decode(code), n) for code, n in (doc.get("terms") or {}).items()]
            for kind, value, n in rows:
                if n:
                    (words if kind == "w" else categories)[value] += n
        ranked = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return {
            "keywords": [{"word": w, "count": n} for w, n in ranked],
            "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
            "comments": sum(categories.values()),
        }
