"""Rolling experience scores (NPS / CSAT / CES), computed from timeline entries.

Pure code: ``rolling(entries, now)`` takes the customer's scored feedback
entries (``{"at": datetime, "scores": {...}}``) and an explicit ``now``.

Windows are half-open and end at ``now``: the 30-day window holds entries with
``now - 30d < at <= now``; entries later than ``now`` are ignored (a replayed
or back-dated clock sees the profile as it was). The trend compares the
average of the last 30 days with the average of the 30 days before them
(``now - 60d < at <= now - 30d``); it is ``None`` when either window is empty.
``direction`` is ``up``/``down``/``flat`` on the raw value, with a dead band of
5 % of the scale; ``better`` says whether the move is good news, because for
CES (effort) a lower score is better.
"""

from __future__ import annotations

from datetime import datetime, timedelta

SCORE_KINDS = ("nps", "csat", "ces")
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
LOWER_IS_BETTER = {"ces"}
WINDOW_DAYS = (30, 90)
TREND_DAYS = 30
HORIZON_DAYS = max(max(WINDOW_DAYS), 2 * TREND_DAYS)


def _avg(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def window(values: list[tuple[datetime, int]], now: datetime, days_from: int, days_to: int) -> list[int]:
    """Values with ``now - days_to < at <= now - days_from``."""
    newest, oldest = now - timedelta(days=days_from), now - timedelta(days=days_to)
    return [v for at, v in values if oldest < at <= newest]


def trend(kind: str, values: list[tuple[datetime, int]], now: datetime) -> dict | None:
    recent = window(values, now, 0, TREND_DAYS)
    before = window(values, now, TREND_DAYS, 2 * TREND_DAYS)
    if not recent or not before:
        return None
    recent_avg, before_avg = _avg(recent), _avg(before)
    assert recent_avg is not None and before_avg is not None
    delta = round(recent_avg - before_avg, 2)
    low, high = SCALES[kind]
    band = 0.05 * (high - low)
    direction = "flat" if abs(delta) < band else ("up" if delta > 0 else "down")
    better = None if direction == "flat" else (direction == "down") == (kind in LOWER_IS_BETTER)
    return {
        "last_30d_avg": recent_avg,
        "previous_30d_avg": before_avg,
        "delta": delta,
        "direction": direction,
        "better": better,
    }


def series(entries: list[dict], kind: str, now: datetime) -> list[tuple[datetime, int]]:
    """(at, value) of one score kind, oldest first, none later than ``now``."""
    out = [
        (e["at"], e["scores"][kind]) for e in entries if kind in (e.get("scores") or {}) and e["at"] <= now
    ]
    out.sort(key=lambda p: p[0])
    return out


def points(entries: list[dict], now: datetime, days: int = max(WINDOW_DAYS)) -> dict[str, list[dict]]:
    """Per score kind with any, its values of the last ``days`` days, oldest first
    (``{"at", "value"}``): what a chart of the customer's scores draws."""
    out = {}
    for kind in SCORE_KINDS:
        values = [
            {"at": at, "value": v} for at, v in series(entries, kind, now) if at > now - timedelta(days=days)
        ]
        if values:
            out[kind] = values
    return out


def rolling(entries: list[dict], now: datetime, latest: dict | None = None) -> dict:
    """Per score kind: last value, 30/90-day average and count, trend.

    ``latest`` (the profile's stored ``latest``) supplies the last value when
    the newest score is older than the horizon the entries cover.
    """
    out = {}
    for kind in SCORE_KINDS:
        values = series(entries, kind, now)
        last = None
        if values:
            last = {"value": values[-1][1], "at": values[-1][0]}
        elif latest and kind in latest and latest[kind]["at"] <= now:
            last = {"value": latest[kind]["value"], "at": latest[kind]["at"]}
        if last is None:
            continue
        kind_out: dict = {"last": last}
        for days in WINDOW_DAYS:
            in_window = window(values, now, 0, days)
            kind_out[f"avg_{days}d"] = _avg(in_window)
            kind_out[f"count_{days}d"] = len(in_window)
        kind_out["trend"] = trend(kind, values, now)
        out[kind] = kind_out
    return out
