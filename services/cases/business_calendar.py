"""Business-time arithmetic on a working calendar: pure, clock-free code.

A calendar is working hours per weekday in one time zone, plus a holiday
source. With ``holidays: cn`` the Chinese statutory holidays and the 调休
make-up working days come from the ``chinesecalendar`` package (1.11.0 covers
2004-2026): a statutory holiday is closed whatever its weekday, a make-up day
works the Monday hours.

**Admin overrides take precedence.** ``statutory_overrides`` gives, per year,
the State Council's notice as data (``{year, holidays: [...], workdays:
[...]}``): for that year it replaces the package's data entirely, so an admin
can add 2027 before the package knows it, or correct a year it has wrong. The
calendar's own ``extra_holidays``/``extra_workdays`` (company days) apply on
top of either. A year with neither package data nor an override is *not*
covered: only the weekly hours apply there, ``covers(day)`` says so, the SLA
records a warning on every case whose deadlines reach it, a warning is logged,
and saving the policy reports it, rather than treating that year's holidays as
working days silently.

Hours are ``"HH:MM-HH:MM"`` in local wall-clock time; an end before the start
(``22:00-06:00``) is an overnight shift that belongs to the day it starts on.
Times are converted through ``zoneinfo``, so a deadline is an aware datetime.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CN_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
MAX_DAYS = 3 * 366  # a budget that needs more calendar than this is a configuration error


def parse_span(text: str) -> tuple[int, int]:
    """``"09:00-18:00"`` → minutes from local midnight; overnight ends are past 1440."""
    try:
        start, end = (t.strip() for t in text.split("-"))
        s = _minutes(start)
        e = _minutes(end)
    except ValueError:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM") from None
    if e == s:
        raise ValueError(f"{text!r} is empty")
    return (s, e if e > s else e + 1440)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(hhmm)
    return h * 60 + m


@dataclass(frozen=True)
class Calendar:
    id: str
    timezone: str
    hours: tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday first)
    holidays: str = "none"  # "cn" | "none"
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    # year -> (statutory holidays, 调休 make-up workdays) entered by an admin
    overrides: tuple[tuple[int, frozenset[date], frozenset[date]], ...] = ()

    @classmethod
    def from_spec(cls, spec: dict) -> Calendar:
        """Build from the stored form (``hours: {mon: ["09:00-18:00"], ...}``)."""
        return _from_spec_cached(_freeze(spec))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def covers(self, day: date) -> bool:
        return self.holidays != "cn" or day.year in CN_YEARS or day.year in self._overrides

    @cached_property
    def _overrides(self) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
        return {year: (off, on) for year, off, on in self.overrides}

    def _statutory(self, day: date) -> tuple[bool, bool]:
        """(statutory holiday, 调休 make-up workday) for ``day``: an override, else the package."""
        if self.holidays != "cn":
            return False, False
        if day.year in self._overrides:
            off, on = self._overrides[day.year]
            return day in off, day in on
        if day.year in CN_YEARS:
            return day in chinese_calendar.holidays, day in chinese_calendar.workdays
        return False, False

    def spans_of(self, day: date) -> tuple[tuple[int, int], ...]:
        """The working spans that start on ``day`` (minutes from its local midnight)."""
        if day in self.extra_holidays:
            return ()
        if day in self.extra_workdays:
            return self.hours[0] if day.weekday() >= 5 else self.hours[day.weekday()]
        holiday, makeup = self._statutory(day)
        if holiday:
            return ()
        if makeup and day.weekday() >= 5:
            return self.hours[0]  # 调休: a make-up working day works Monday's hours
        return self.hours[day.weekday()]

    def spans(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working spans as UTC datetimes, in order, merged, from ``start`` on."""
        zone = self.zone
        day = start.astimezone(zone).date() - timedelta(days=1)  # yesterday's overnight shift
        cursor = start.astimezone(UTC)
        for _ in range(MAX_DAYS):
            midnight = datetime.combine(day, time(0), tzinfo=zone)
            for s, e in self.spans_of(day):
                begin = (midnight + timedelta(minutes=s)).astimezone(UTC)
                end = (midnight + timedelta(minutes=e)).astimezone(UTC)
                begin = max(begin, cursor)
                if end > begin:
                    yield begin, end
                    cursor = end
            day += timedelta(days=1)
        raise ValueError(f"calendar {self.id}: no working time within {MAX_DAYS} days of {start}")

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if it is working time, else the next working minute."""
        for begin, _ in self.spans(moment):
            return begin
        raise AssertionError("unreachable")  # spans() raises first

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of working time after ``start``."""
        if minutes <= 0:
            return start.astimezone(UTC)
        left = timedelta(minutes=minutes)
        for begin, end in self.spans(start):
            if end - begin >= left:
                return begin + left
            left -= end - begin
        raise AssertionError("unreachable")  # spans() raises first

    def between(self, start: datetime, end: datetime) -> float:
        """Working minutes in [start, end)."""
        if end <= start:
            return 0.0
        total = timedelta()
        for begin, stop in self.spans(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
        return total / timedelta(minutes=1)

    def days_not_covered(self, start: datetime, end: datetime) -> list[str]:
        """Years between start and end for which the statutory holiday data is missing."""
        years = range(start.astimezone(self.zone).year, end.astimezone(self.zone).year + 1)
        return [str(y) for y in years if not self.covers(date(y, 1, 1))]


def always_open(calendar_id: str = "24x7") -> Calendar:
    return Calendar(calendar_id, "UTC", tuple(((0, 1440),) for _ in WEEKDAYS))


def _freeze(spec: dict) -> tuple:
    hours = spec.get("hours") or {}
    return (
        spec["id"],
        spec.get("timezone", "Asia/Shanghai"),
        tuple(tuple(hours.get(d, ())) for d in WEEKDAYS),
        spec.get("holidays", "none"),
        tuple(sorted(str(d) for d in spec.get("extra_holidays", ()))),
        tuple(sorted(str(d) for d in spec.get("extra_workdays", ()))),
        tuple(
            sorted(
                (
                    int(o["year"]),
                    tuple(sorted(map(str, o.get("holidays", ())))),
                    tuple(sorted(map(str, o.get("workdays", ())))),
                )
                for o in spec.get("statutory_overrides", ())
            )
        ),
    )


@lru_cache(maxsize=256)
def _from_spec_cached(frozen: tuple) -> Calendar:
    cid, tz, hours, holidays, extra_off, extra_on, overrides = frozen
    ZoneInfo(tz)  # an unknown zone fails here, at validation
    return Calendar(
        cid,
        tz,
        tuple(tuple(sorted(parse_span(h) for h in day)) for day in hours),
        holidays,
        frozenset(date.fromisoformat(d) for d in extra_off),
        frozenset(date.fromisoformat(d) for d in extra_on),
        tuple(
            (year, frozenset(map(date.fromisoformat, off)), frozenset(map(date.fromisoformat, on)))
            for year, off, on in overrides
        ),
    )
