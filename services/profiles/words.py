"""Word-frequency views: comment keywords and categories per customer and overall, per day.

One document per (scope, local day, term) in ``word_counts``: scope is a
customer id or ``*`` (everyone), the day is the feedback's calendar day in
``WORDS_TIMEZONE``, the term ``w:<keyword>`` or ``c:<category>``. Its ``n`` is
never incremented: after a feedback entry is written, each of its terms is
recounted from the timeline for that day (``insight.keywords`` / ``insight.category``)
and applied with ``$max``. A replayed event therefore changes nothing, and two
workers writing the same day at once both end on the full count (the later
recount sees both entries) — the same rule as the profile's counters
(docs/store.md). A query sums the day documents of a range in Python.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EVERYONE = "*"
WORDS_TIMEZONE = ZoneInfo("Asia/Shanghai")


def local_day(moment: datetime) -> date:
    return moment.astimezone(WORDS_TIMEZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), WORDS_TIMEZONE)
    return start, start + timedelta(days=1)


def terms(entry: dict) -> list[tuple[str, str]]:
    """(term, timeline filter) of one timeline entry: its keywords and its category."""
    insight = entry.get("insight") or {}
    out = [(f"w:{k}", {"insight.keywords": k}) for k in dict.fromkeys(insight.get("keywords") or [])]
    if insight.get("category"):
        out.append((f"c:{insight['category']}", {"insight.category": insight["category"]}))
    return out


class WordCounts:
    def __init__(self, db):
        self.db = db

    def record(self, entry: dict) -> None:
        """Bring the counts of ``entry``'s terms on its day up to the timeline's."""
        if entry.get("kind") != "feedback" or not entry.get("insight"):
            return
        day = local_day(entry["at"])
        start, end = day_bounds(day)
        for term, match in terms(entry):
            for scope in (entry["customer_id"], EVERYONE):
                query = {"kind": "feedback", "at": {"$gte": start, "$lt": end}, **match}
                if scope != EVERYONE:
                    query["customer_id"] = scope
                self._apply(scope, day, term, self.db.timeline.count_documents(query))

    def rebuild(self, customer_id: str) -> None:
        """A customer's counts from their whole timeline (after a merge moved entries in)."""
        tally: Counter = Counter()
        for entry in self.db.timeline.find(
            {"customer_id": customer_id, "kind": "feedback"}, {"at": 1, "insight": 1}
        ):
            if entry.get("insight"):
                day = local_day(entry["at"])
                tally.update((day, term) for term, _ in terms(entry))
        for (day, term), n in tally.items():
            self._apply(customer_id, day, term, n)

    def forget(self, customer_id: str) -> int:
        """Drop a customer's own counts (erasure; the anonymous totals stay)."""
        return self.db.word_counts.delete_many({"scope": customer_id}).deleted_count

    def _apply(self, scope: str, day: date, term: str, n: int) -> None:
        key = f"{scope}|{day.isoformat()}|{term}"
        self.db.word_counts.update_one(
            {"_id": key},
            {"$setOnInsert": {"scope": scope, "day": day.isoformat(), "term": term}, "$max": {"n": n}},
            upsert=True,
        )

    def frequency(self, scope: str, since: date, until: date, limit: int) -> dict:
        """Top ``limit`` keywords and every category's count in days ``since..until`` (inclusive)."""
        words: Counter = Counter()
        categories: Counter = Counter()
        for doc in self.db.word_counts.find(
            {"scope": scope, "day": {"$gte": since.isoformat(), "$lte": until.isoformat()}},
            {"term": 1, "n": 1},
        ):
            kind, _, value = doc["term"].partition(":")
            (words if kind == "w" else categories)[value] += doc["n"]
        ranked = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return {
            "keywords": [{"word": w, "count": n} for w, n in ranked],
            "categories": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
            "comments": sum(categories.values()),
        }
