"""Hourly feedback counters: what the dashboard and the boards read instead of the
timeline (issue 18).

One document per UTC hour of the feedback's ``at`` in ``feedback_hours`` (``_id``
``h<epoch seconds>``), and one per 8-hour UTC block (``b<epoch seconds>``) holding the
sum of its eight hours, so a 30-day window is about a hundred documents. Every
dimension is a top-level field of those documents, named ``<prefix>__<counter>``:

- prefixes: ``a`` (all feedback), ``t_<key>`` (touchpoint), ``c_<key>`` (channel),
  ``x_<touchpoint key>_<aspect key>`` (comments about an aspect at a touchpoint); a key
  is ``N`` for none or ``h`` + the UTF-8 hex of the value (ASCII: docs/store.md);
- counters of ``a``/``t``/``c``: the feedback (``n``), comments (``comments``: entries
  with a comment, as ``aspects.per_touchpoint`` counts them), the NPS answers by class
  (``nps_promoters``, ``nps_passives``, ``nps_detractors``), the CSAT / CES sums and
  counts (``trend.score_fields``); of ``x``: ``n``.

Hours are UTC, so any zone whose midnight falls on a whole UTC hour (every zone but a
few half-hour ones) buckets them into its days and weeks exactly; a block is read in
place of its hours when no bucket starts inside it (every Shanghai and UTC day is three
blocks); a window's partial hours at either end are read from the timeline.

**Exactly once.** A feedback entry is counted by the batch that inserted it into
the timeline (the timeline's ``_id`` is the event's key, ``insert_many_once``): a
redelivered or resent event finds its entry there and counts nothing. A batch's
increments are one unordered ``bulk_write`` of ``$inc`` upserts on top-level fields
(docs/store.md: no dotted paths on the upsert-insert path), two per hour the batch
touches (the hour and its block). A worker killed between its timeline insert and its
counter write leaves those events uncounted: the rebuild of every hour
(``python -m services.profiles.feedback_counts --everything``) repairs that.

**Which hours are counted.** ``meta.counted_from``: hours from then on are kept by
the recorder; earlier ones only once the rebuild has run (it sets it to the start
of time). A store created empty is counted from the start; a store that already
held feedback when this code first started (including one written with the earlier
per-dimension ``feedback_counts``) reads the timeline before that hour.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo import ReplaceOne, UpdateOne
from pymongo.database import Database

from services.profiles.aspects import entry_aspects, has_comment
from services.profiles.trend import score_fields

HOUR = 3600
BLOCK = 8 * HOUR
COLLECTION = "feedback_hours"
META = "meta"
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
DIMENSIONS = {"all": "a", "touchpoint": "t", "channel": "c"}


def contribution(entry: dict) -> Counter:
    """What one feedback timeline entry adds to its ``all``, ``touchpoint`` and
    ``channel`` counters: itself, its comment, its scores."""
    out: Counter = Counter(n=1, comments=int(has_comment(entry)))
    out.update(score_fields(entry.get("scores") or {}))
    return out


def encode(value: str | None) -> str:
    return "N" if value is None else "h" + value.encode().hex()


def decode(code: str) -> str | None:
    return None if code == "N" else bytes.fromhex(code[1:]).decode()


def prefix(dim: str, key: str | None) -> str:
    """The field prefix of one dimension's counters (``all``: ``a``)."""
    return "a" if dim == "all" else f"{DIMENSIONS[dim]}_{encode(key)}"


def entry_fields(entry: dict, comments_only: bool = False) -> Counter:
    """The counter fields a feedback entry adds to its hour (``comments_only``: what its
    comment adds, with its aspects, which an erasure takes off)."""
    add = contribution(entry)
    if comments_only:
        add = Counter(comments=add["comments"])
    touchpoint = entry.get("touchpoint")
    out: Counter = Counter()
    for dim, key in (("all", None), ("touchpoint", touchpoint), ("channel", entry.get("channel"))):
        out.update({f"{prefix(dim, key)}__{f}": v for f, v in add.items()})
    out.update(f"x_{encode(touchpoint)}_{encode(code)}__n" for code in entry_aspects(entry))
    return out


def hour_of(at: datetime) -> int:
    return int(at.timestamp()) // HOUR * HOUR


def hour_id(hour: int) -> str:
    return f"h{hour}"


def block_id(hour: int) -> str:
    return f"b{hour // BLOCK * BLOCK}"


def tally(entries: Iterable[dict], comments_only: bool = False) -> dict[str, Counter]:
    """Each counter document's increments for ``entries`` (feedback timeline entries):
    ``{document id: {field: n}}``, every hour and its block."""
    out: dict[str, Counter] = {}
    for entry in entries:
        if entry.get("kind") != "feedback":
            continue
        hour, add = hour_of(entry["at"]), entry_fields(entry, comments_only)
        for doc in (hour_id(hour), block_id(hour)):
            out.setdefault(doc, Counter()).update(add)
    return out


def hours_between(since: datetime, until: datetime, counted_from: datetime) -> tuple[int, int] | None:
    """The whole counted hours ``[first, last)`` inside ``[since, until)``, or None."""
    first = -(-int(max(since, counted_from).timestamp()) // HOUR) * HOUR
    if max(since, counted_from).timestamp() > first:  # a fraction of a second past
        first += HOUR
    last = int(until.timestamp()) // HOUR * HOUR
    return (first, last) if first < last else None


def cover(hours: tuple[int, int], cuts: Iterable[float] = ()) -> list[str]:
    """The documents that hold ``[first, last)`` exactly: whole blocks inside it that no
    cut (a bucket's start, epoch seconds) falls inside, the other hours one by one."""
    inner = sorted(c for c in cuts if hours[0] < c < hours[1])
    ids, hour = [], hours[0]
    while hour < hours[1]:
        end = hour + BLOCK
        if hour % BLOCK == 0 and end <= hours[1] and not any(hour < c < end for c in inner):
            ids.append(block_id(hour))
            hour = end
        else:
            ids.append(hour_id(hour))
            hour += HOUR
    return ids


def at_hour(hour: int) -> datetime:
    return datetime.fromtimestamp(hour, UTC)


def counter_fields(docs: Iterable[dict], dim: str, key: str | None) -> list[dict]:
    """One dimension's counters of each document, as ``{"hour": its start, counter: n}``
    (what ``trend.score_trend`` adds up)."""
    head = prefix(dim, key) + "__"
    return [
        {"hour": int(doc["_id"][1:]), **{f[len(head) :]: v for f, v in doc.items() if f.startswith(head)}}
        for doc in docs
    ]


def touchpoint_rows(docs: Iterable[dict]) -> list[tuple[str | None, dict]]:
    """``(touchpoint, {"n", "comments"} or {"aspects"})`` summed over ``docs``."""
    sums: Counter = Counter()
    for doc in docs:
        sums.update({f: v for f, v in doc.items() if f[:2] in ("t_", "x_")})
    rows: list[tuple[str | None, dict]] = []
    for field, n in sums.items():
        head, _, counter = field.partition("__")
        keys = head.split("_")[1:]
        if head.startswith("x_"):
            rows.append((decode(keys[0]), {"aspects": {decode(keys[1]): n}}))
        elif counter in ("n", "comments"):
            rows.append((decode(keys[0]), {counter: n}))
    return rows


class FeedbackCounts:
    """The hourly counters of one profiles database."""

    def __init__(self, db: Database):
        self.collection = db[COLLECTION]
        self.timeline = db.timeline

    def add(self, entries: Iterable[dict], sign: int = 1, comments_only: bool = False) -> None:
        """Move the counters by ``entries``' contributions (``sign`` -1: take them off):
        one unordered ``bulk_write`` of ``$inc`` upserts, one per hour and one per block."""
        ops = [
            UpdateOne({"_id": doc}, {"$inc": {f: sign * v for f, v in add.items()}}, upsert=True)
            for doc, add in tally(entries, comments_only).items()
            if +add
        ]
        if ops:
            self.collection.bulk_write(ops, ordered=False)

    def counted_from(self) -> datetime:
        meta = self.collection.find_one({"_id": META})
        return meta["counted_from"] if meta else datetime.max.replace(tzinfo=UTC)

    def start_counting(self) -> None:
        """At start-up, once per store: an empty timeline is counted from the start,
        one with feedback already in it from the next hour (the rebuild does the past)."""
        if self.collection.find_one({"_id": META}) is not None:
            return
        empty = self.timeline.find_one({"kind": "feedback"}, {"_id": 1}) is None
        start = BEGINNING if empty else at_hour(hour_of(datetime.now(UTC)) + HOUR)
        try:
            self.collection.insert_one({"_id": META, "counted_from": start})
        except Exception as exc:  # another replica started first: its choice stands
            if getattr(exc, "code", None) != 11000:
                raise

    def hour_entries(self, hour: int) -> list[dict]:
        """The feedback entries of one counted hour, by their ``hour`` (an aggregate
        ``$match`` equality: read from its index on the embedded store, docs/store.md)."""
        return list(self.timeline.aggregate([{"$match": {"hour": hour}}]))

    def documents(self, hours: tuple[int, int], cuts: Iterable[float] = ()) -> list[dict]:
        """The counter documents holding ``hours`` (``cover``), one read by ``_id``."""
        return list(self.collection.find({"_id": {"$in": cover(hours, cuts)}}))

    def per_touchpoint(self, hours: tuple[int, int]) -> list[tuple[str | None, dict]]:
        """``(touchpoint, {"n", "comments"} or {"aspects"})`` summed over ``hours``."""
        return touchpoint_rows(self.documents(hours))

    def _mark_hours(self, entries: list[dict]) -> None:
        """Give the entries written before they carried their ``hour`` that field: one
        ``update_many`` by ``_id`` per hour."""
        missing: dict[int, list] = {}
        for entry in entries:
            if entry.get("hour") != hour_of(entry["at"]):
                missing.setdefault(hour_of(entry["at"]), []).append(entry["_id"])
        for hour, ids in missing.items():
            for start in range(0, len(ids), 1000):
                chunk = {"_id": {"$in": ids[start : start + 1000]}}
                self.timeline.update_many(chunk, {"$set": {"hour": hour}})

    def rebuild(self, everything: bool = False) -> dict:
        """Recount the hours before ``counted_from`` (``everything``: every hour) from the
        timeline, replacing those documents (and the blocks they are in), and give their
        entries their ``hour``; then everything is counted. Idempotent. Events recorded
        while it runs into the hours it rebuilds may be missed: run it again, or with
        ``everything`` when the pipeline is quiet."""
        until = datetime.max.replace(tzinfo=UTC) if everything else self.counted_from()
        query: dict = {"kind": "feedback"}
        if until.year < 9999:
            # the block of counted_from also holds counted hours: recount it whole
            query["at"] = {"$lt": at_hour(-(-hour_of(until) // BLOCK) * BLOCK)}
        fields = {"kind": 1, "at": 1, "hour": 1, "touchpoint": 1, "channel": 1, "scores": 1, "insight": 1}
        entries = list(self.timeline.find(query, {**fields, "text": 1}))
        self._mark_hours(entries)
        wanted = tally(entries)
        limit = query.get("at", {}).get("$lt")
        gone = [
            d["_id"]
            for d in self.collection.find({"_id": {"$ne": META}}, {"_id": 1})
            if d["_id"] not in wanted and (limit is None or int(d["_id"][1:]) < limit.timestamp())
        ]
        if gone:
            self.collection.delete_many({"_id": {"$in": gone}})
        ops = [ReplaceOne({"_id": i}, {"_id": i, **add}, upsert=True) for i, add in wanted.items()]
        for start in range(0, len(ops), 1000):
            self.collection.bulk_write(ops[start : start + 1000], ordered=False)
        self.collection.replace_one({"_id": META}, {"_id": META, "counted_from": BEGINNING}, upsert=True)
        return {
            "documents": len(wanted),
            "entries": sum(c.get("a__n", 0) for i, c in wanted.items() if i.startswith("h")),
        }


def main(argv: list[str] | None = None) -> int:
    """``python -m services.profiles.feedback_counts [--everything]``: rebuild the counters
    of ``<MONGO_DB_PREFIX>profiles`` at ``MONGO_URI`` (the environment, as deploy/config.yaml)."""
    import os

    import pymongo

    parser = argparse.ArgumentParser(description="Rebuild the profiles' hourly feedback counters.")
    parser.add_argument(
        "--everything", action="store_true", help="recount every hour, not only the uncounted"
    )
    args = parser.parse_args(argv)
    client: pymongo.MongoClient = pymongo.MongoClient(
        os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"), tz_aware=True
    )
    db = client[f"{os.environ.get('MONGO_DB_PREFIX', 'cx_')}profiles"]
    print(json.dumps(FeedbackCounts(db).rebuild(everything=args.everything)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
