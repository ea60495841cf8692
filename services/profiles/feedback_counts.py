"""Hourly feedback counters: what the dashboard and the journey board read instead of
the timeline (issue 18).

One document per (UTC hour of the feedback's ``at``, dimension, key) in
``feedback_counts``: the dimensions ``all`` (key None), ``touchpoint`` (None: no
touchpoint) and ``channel`` hold the hour's feedback (``n``), comments (``comments``:
entries with a comment, as ``aspects.per_touchpoint`` counts them), the NPS answers by
class (``nps_promoters``, ``nps_passives``, ``nps_detractors``) and the CSAT / CES sums
and counts (``trend.score_fields``); the dimension ``aspect`` (key ``[touchpoint, aspect
code]``) holds in ``n`` the comments about that aspect. Hours are UTC, so any zone whose
midnight falls on a whole UTC hour (every zone but a few half-hour ones) buckets them
into its days and weeks exactly; a window's partial hours at either end are read from
the timeline.

**Exactly once.** A feedback entry is counted by the batch that inserted it into
the timeline (the timeline's ``_id`` is the event's key, ``insert_many_once``): a
redelivered or resent event finds its entry there and counts nothing. The batch's
increments are one unordered ``bulk_write`` of ``$inc`` upserts on top-level fields
(docs/store.md: no dotted paths on the upsert-insert path). A worker killed between
its timeline insert and its counter write leaves those events uncounted: the
rebuild of every hour (``python -m services.profiles.feedback_counts --everything``)
repairs that.

**Which hours are counted.** ``meta.counted_from``: hours from then on are kept by
the recorder; earlier ones only once the rebuild has run (it sets it to the start
of time). A store created empty is counted from the start; a store that already
held feedback when this code first started reads the timeline before that hour.
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
COLLECTION = "feedback_counts"
META = "meta"
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def contribution(entry: dict) -> Counter:
    """What one feedback timeline entry adds to its hour's ``all``, ``touchpoint`` and
    ``channel`` documents: itself, its comment, its scores."""
    out: Counter = Counter(n=1, comments=int(has_comment(entry)))
    out.update(score_fields(entry.get("scores") or {}))
    return out


def hour_of(at: datetime) -> int:
    return int(at.timestamp()) // HOUR * HOUR


def aspect_key(touchpoint: str | None, code: str) -> str:
    return json.dumps([touchpoint, code], ensure_ascii=False)


def doc_id(dim: str, key: str | None, hour: int) -> str:
    return json.dumps([dim, key, hour], ensure_ascii=False)


def tally(entries: Iterable[dict], comments_only: bool = False) -> dict[tuple, Counter]:
    """Each counter document's increments for ``entries`` (feedback timeline entries;
    ``comments_only``: what their comments add, which an erasure takes off)."""
    out: dict[tuple, Counter] = {}
    for entry in entries:
        if entry.get("kind") != "feedback":
            continue
        hour, touchpoint = hour_of(entry["at"]), entry.get("touchpoint")
        add = contribution(entry)
        if comments_only:
            add = Counter(comments=add["comments"])
        for dim, key in (("all", None), ("touchpoint", touchpoint), ("channel", entry.get("channel"))):
            out.setdefault((dim, key, hour), Counter()).update(add)
        for code in entry_aspects(entry):
            out.setdefault(("aspect", aspect_key(touchpoint, code), hour), Counter())["n"] += 1
    return out


def hours_between(since: datetime, until: datetime, counted_from: datetime) -> tuple[int, int] | None:
    """The whole counted hours ``[first, last)`` inside ``[since, until)``, or None."""
    first = -(-int(max(since, counted_from).timestamp()) // HOUR) * HOUR
    if max(since, counted_from).timestamp() > first:  # a fraction of a second past
        first += HOUR
    last = int(until.timestamp()) // HOUR * HOUR
    return (first, last) if first < last else None


def at_hour(hour: int) -> datetime:
    return datetime.fromtimestamp(hour, UTC)


class FeedbackCounts:
    """The hourly counters of one profiles database."""

    def __init__(self, db: Database):
        self.collection = db[COLLECTION]
        self.timeline = db.timeline

    def add(self, entries: Iterable[dict], sign: int = 1, comments_only: bool = False) -> None:
        """Move the counters by ``entries``' contributions (``sign`` -1: take them off):
        one unordered ``bulk_write`` of ``$inc`` upserts."""
        ops = [
            UpdateOne(
                {"_id": doc_id(dim, key, hour)},
                {
                    "$inc": {f: sign * v for f, v in add.items()},
                    "$set": {"dim": dim, "key": key, "hour": hour},
                },
                upsert=True,
            )
            for (dim, key, hour), add in tally(entries, comments_only).items()
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

    def read(self, dim: str, key: str | None, hours: tuple[int, int]) -> list[dict]:
        """The counter documents of ``dim`` and ``key`` in ``hours``."""
        return list(
            self.collection.find({"dim": dim, "key": key, "hour": {"$gte": hours[0], "$lt": hours[1]}})
        )

    def per_touchpoint(self, hours: tuple[int, int]) -> list[tuple[str | None, dict]]:
        """``(touchpoint, {"n", "comments"} or {"aspects"})`` summed over ``hours``: two
        ``$group`` aggregations, which the embedded store answers in SQL."""
        span = {"hour": {"$gte": hours[0], "$lt": hours[1]}}
        sums = {"n": {"$sum": "$n"}, "comments": {"$sum": "$comments"}}
        rows = [
            (r["_id"], {"n": r["n"], "comments": r["comments"]})
            for r in self.collection.aggregate(
                [{"$match": {"dim": "touchpoint", **span}}, {"$group": {"_id": "$key", **sums}}]
            )
        ]
        for r in self.collection.aggregate(
            [{"$match": {"dim": "aspect", **span}}, {"$group": {"_id": "$key", "n": {"$sum": "$n"}}}]
        ):
            touchpoint, code = json.loads(r["_id"])
            rows.append((touchpoint, {"aspects": {code: r["n"]}}))
        return rows

    def rebuild(self, everything: bool = False) -> dict:
        """Recount the hours before ``counted_from`` (``everything``: every hour) from the
        timeline, replacing those documents; then everything is counted. Idempotent.
        Events recorded while it runs into the hours it rebuilds may be missed: run it
        again, or with ``everything`` when the pipeline is quiet."""
        until = datetime.max.replace(tzinfo=UTC) if everything else self.counted_from()
        query: dict = {"kind": "feedback"}
        if until.year < 9999:
            query["at"] = {"$lt": until}
        fields = {"kind": 1, "at": 1, "touchpoint": 1, "channel": 1, "scores": 1, "insight": 1, "text": 1}
        counts = tally(self.timeline.find(query, fields))
        wanted = {
            doc_id(d, k, h): {"dim": d, "key": k, "hour": h, **add} for (d, k, h), add in counts.items()
        }
        stale = {"_id": {"$ne": META}, **({"hour": {"$lt": hour_of(until)}} if until.year < 9999 else {})}
        gone = [d["_id"] for d in self.collection.find(stale, {"_id": 1}) if d["_id"] not in wanted]
        if gone:
            self.collection.delete_many({"_id": {"$in": gone}})
        ops = [ReplaceOne({"_id": i}, {"_id": i, **doc}, upsert=True) for i, doc in wanted.items()]
        for start in range(0, len(ops), 1000):
            self.collection.bulk_write(ops[start : start + 1000], ordered=False)
        self.collection.replace_one({"_id": META}, {"_id": META, "counted_from": BEGINNING}, upsert=True)
        return {
            "documents": len(wanted),
            "entries": sum(c["n"] for (d, _, _), c in counts.items() if d == "all"),
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
