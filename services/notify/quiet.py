"""Quiet hours (免打扰): when a held message may go out. Pure functions of ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def release_at(now: datetime, quiet_hours: dict | None, timezone: str) -> datetime | None:
    """The end of the quiet period ``now`` falls in (UTC), or None when ``now`` is not quiet.

    ``quiet_hours`` is ``{"start": "22:00", "end": "08:00"}`` in the recipient's
    ``timezone``; a period whose end is before its start spans midnight.
    Wall-clock times are resolved in the zone, so a DST change moves the
    instant, not the local time the recipient chose.
    """
    if not quiet_hours:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    start, end = _clock(quiet_hours["start"]), _clock(quiet_hours["end"])
    t = local.timetz().replace(tzinfo=None)
    today = local.date()
    if start < end:  # same-day period, e.g. 12:00–14:00
        if start <= t < end:
            return datetime.combine(today, end, zone).astimezone(UTC)
        return None
    # spans midnight, e.g. 22:00–08:00
    if t >= start:
        return datetime.combine(today + timedelta(days=1), end, zone).astimezone(UTC)
    if t < end:
        return datetime.combine(today, end, zone).astimezone(UTC)
    return None
