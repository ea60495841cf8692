"""What a customer's comments are about: the aspects of their feedback entries.

An aspect (delivery, price, product_quality, staff_attitude, after_sales,
waiting_time, billing, app_website) is found in a comment by the shared analysis
(``textanalysis/text.py``) and kept on the feedback's timeline entry as
``insight.aspects``. The profile counts them all-time (``aspect_counts``, a running
counter moved with the event's marker like ``channels``); ``get_profile`` adds the
most frequent ones of the last 30 and 90 days from the entries it reads anyway for
the rolling scores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from services.profiles.insight import comment_aspects
from services.profiles.scores import WINDOW_DAYS


def entry_aspects(entry: dict) -> list[str]:
    """The aspect codes of a feedback timeline entry: its ``insight.aspects``, or, for an
    entry recorded before aspects were kept, those of its text (when read with it)."""
    insight = entry.get("insight") or {}
    if "aspects" in insight:
        return list(insight["aspects"])
    return list(comment_aspects(entry.get("text")))


def count_aspects(entries) -> dict[str, int]:
    """``{code: number of entries about it}``."""
    return dict(Counter(a for e in entries for a in entry_aspects(e)))


def ranked(counts: dict[str, int]) -> list[dict]:
    """Most frequent first (ties by code): ``[{"aspect", "count"}]``."""
    return [{"aspect": a, "count": n} for a, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def per_touchpoint(counts: Iterable[tuple[str | None, dict]]) -> list[dict]:
    """Feedback per touchpoint from ``(touchpoint, counts)`` pairs, counts holding any of
    ``n`` (feedback), ``comments`` and ``aspects`` (``{code: n}``): how many, how many
    had a comment, and how many of those were about each aspect; busiest touchpoint
    first (ties by name, entries without a touchpoint last under ``None``)."""
    rows: dict[str | None, dict] = {}
    for touchpoint, counted in counts:
        row = rows.setdefault(touchpoint, {"feedback": 0, "comments": 0, "aspects": Counter()})
        row["feedback"] += counted.get("n", 0)
        row["comments"] += counted.get("comments", 0)
        row["aspects"].update(counted.get("aspects") or {})
    order = sorted(rows, key=lambda k: (k is None, -rows[k]["feedback"], k or ""))
    return [
        {"touchpoint": k, **rows[k], "aspects": {a: n for a, n in rows[k]["aspects"].items() if n > 0}}
        for k in order
    ]


def has_comment(entry: dict) -> bool:
    return bool(entry.get("insight") or entry.get("text"))


def entry_counts(entry: dict) -> dict:
    """A feedback entry's ``per_touchpoint`` counts."""
    return {"n": 1, "comments": int(has_comment(entry)), "aspects": Counter(entry_aspects(entry))}


def recent_aspects(entries: list[dict], now: datetime) -> dict[str, list[dict]]:
    """Per window of the rolling scores (``last_30d``, ``last_90d``: ``now - d < at <= now``),
    the aspects of the entries in it, most frequent first."""
    return {
        f"last_{days}d": ranked(
            count_aspects(e for e in entries if now - timedelta(days=days) < e["at"] <= now)
        )
        for days in WINDOW_DAYS
    }
