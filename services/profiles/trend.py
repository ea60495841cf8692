"""Global score trend for the console dashboard: NPS / CSAT / CES per day or week.

Pure code: ``score_trend(entries, since, until, bucket, timezone)`` takes scored
feedback entries (``{"at": datetime, "scores": {...}}``) and returns one row per
calendar bucket in ``timezone`` (days; ISO weeks starting on Monday), empty
buckets included so a chart has no gaps, plus the totals of the whole range.
The range is half-open, ``since <= at < until``.

NPS = promoters % − detractors % of the NPS answers in the bucket (promoters
score 9–10, passives 7–8, detractors 0–6), with the three counts; CSAT and CES
are plain averages with their counts. Figures are rounded to 2 decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BUCKETS = ("day", "week")
MAX_BUCKETS = 400
PROMOTER_MIN, DETRACTOR_MAX = 9, 6


def bucket_start(moment: datetime, bucket: str, zone: ZoneInfo) -> date:
    """The local calendar day (or the Monday of the ISO week) ``moment`` falls in."""
    day = moment.astimezone(zone).date()
    return day if bucket == "day" else day - timedelta(days=day.weekday())


def bucket_starts(since: datetime, until: datetime, bucket: str, zone: ZoneInfo) -> list[date]:
    """Every bucket the half-open range ``[since, until)`` touches, oldest first."""
    first = bucket_start(since, bucket, zone)
    last = bucket_start(until - timedelta(microseconds=1), bucket, zone)
    step = timedelta(days=1 if bucket == "day" else 7)
    out = []
    while first <= last:
        out.append(first)
        first += step
    return out


def nps_class(nps: int) -> str:
    return "promoters" if nps >= PROMOTER_MIN else "detractors" if nps <= DETRACTOR_MAX else "passives"


def score_fields(scores: dict) -> dict[str, int]:
    """One answer's scores as counter fields: its NPS class, the CSAT / CES sums and counts
    (what ``Tally`` and the hourly counters, ``feedback_counts.py``, add up)."""
    out: dict[str, int] = {}
    if scores.get("nps") is not None:
        out[f"nps_{nps_class(scores['nps'])}"] = 1
    for kind in ("csat", "ces"):
        if scores.get(kind) is not None:
            out[f"{kind}_sum"] = scores[kind]
            out[f"{kind}_n"] = 1
    return out


class Tally:
    """Running NPS counts and CSAT / CES sums of one bucket."""

    def __init__(self):
        self.nps = {"promoters": 0, "passives": 0, "detractors": 0}
        self.sums = {"csat": 0, "ces": 0}
        self.counts = {"csat": 0, "ces": 0}

    def add(self, scores: dict) -> None:
        self.add_counts(score_fields(scores))

    def add_counts(self, fields: dict) -> None:
        """Add counter fields (``score_fields``' names; others are ignored)."""
        for group in self.nps:
            self.nps[group] += fields.get(f"nps_{group}", 0)
        for kind in ("csat", "ces"):
            self.sums[kind] += fields.get(f"{kind}_sum", 0)
            self.counts[kind] += fields.get(f"{kind}_n", 0)

    def figures(self) -> dict:
        n = sum(self.nps.values())
        nps = {"score": None, "count": n, **self.nps, "promoters_pct": None, "detractors_pct": None}
        if n:
            promoters, detractors = 100 * self.nps["promoters"] / n, 100 * self.nps["detractors"] / n
            nps.update(
                score=round(promoters - detractors, 2),
                promoters_pct=round(promoters, 2),
                detractors_pct=round(detractors, 2),
            )
        out = {"nps": nps}
        for kind in ("csat", "ces"):
            count = self.counts[kind]
            out[kind] = {"avg": round(self.sums[kind] / count, 2) if count else None, "count": count}
        return out


def score_trend(
    entries, since: datetime, until: datetime, bucket: str, timezone: str, counts: Iterable[dict] = ()
) -> dict:
    """The trend of ``entries`` (scored feedback) and ``counts`` (hourly counter documents,
    ``feedback_counts.py``: each falls whole into the bucket of its hour's start)."""
    zone = ZoneInfo(timezone)
    starts = bucket_starts(since, until, bucket, zone)
    tallies = {start: Tally() for start in starts}
    total = Tally()
    for entry in entries:
        at = entry["at"]
        if not since <= at < until:
            continue  # the store widens its bounds to whole seconds (docs/store.md)
        scores = entry.get("scores") or {}
        tallies[bucket_start(at, bucket, zone)].add(scores)
        total.add(scores)
    for doc in counts:
        tallies[bucket_start(datetime.fromtimestamp(doc["hour"], UTC), bucket, zone)].add_counts(doc)
        total.add_counts(doc)
    return {
        "since": since,
        "until": until,
        "bucket": bucket,
        "timezone": timezone,
        "buckets": [{"start": start.isoformat(), **tallies[start].figures()} for start in starts],
        "total": total.figures(),
    }


def bucket_edges(since: datetime, until: datetime, bucket: str, timezone: str) -> list[float]:
    """The starts of the buckets between ``since`` and ``until``, as epoch seconds."""
    zone = ZoneInfo(timezone)
    starts = bucket_starts(since, until, bucket, zone)
    return [datetime.combine(start, time(), zone).timestamp() for start in starts]


def hour_aligned(since: datetime, until: datetime, bucket: str, timezone: str) -> bool:
    """Do the buckets between ``since`` and ``until`` start on whole UTC hours (so hourly
    counters fall whole into one bucket each)? False for the few half-hour zones."""
    return all(edge % 3600 == 0 for edge in bucket_edges(since, until, bucket, timezone))
