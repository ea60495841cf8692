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

from datetime import date, datetime, timedelta
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


class Tally:
    """Running NPS counts and CSAT / CES sums of one bucket."""

    def __init__(self):
        self.nps = {"promoters": 0, "passives": 0, "detractors": 0}
        self.sums = {"csat": 0, "ces": 0}
        self.counts = {"csat": 0, "ces": 0}

    def add(self, scores: dict) -> None:
        nps = scores.get("nps")
        if nps is not None:
            group = (
                "promoters" if nps >= PROMOTER_MIN else "detractors" if nps <= DETRACTOR_MAX else "passives"
            )
            self.nps[group] += 1
        for kind in ("csat", "ces"):
            if scores.get(kind) is not None:
                self.sums[kind] += scores[kind]
                self.counts[kind] += 1

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


def score_trend(entries, since: datetime, until: datetime, bucket: str, timezone: str) -> dict:
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
    return {
        "since": since,
        "until": until,
        "bucket": bucket,
        "timezone": timezone,
        "buckets": [{"start": start.isoformat(), **tallies[start].figures()} for start in starts],
        "total": total.figures(),
    }
