"""Business-time arithmetic checked against a deliberately simple oracle.

The oracle walks minute by minute in local time and counts a minute when a
working span of that day (or yesterday's overnight span) covers it. Its
holiday data is typed in here from the State Council's 2026 notice, not read
from the library, so the table checks the library integration too.
"""

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.cases import sla
from services.cases.business_calendar import Calendar
from services.common.errors import BadRequest

SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = timedelta(minutes=1)

# 国务院办公厅 2026 年部分节假日安排 (statutory holidays and 调休 make-up days)
HOLIDAYS_2026 = {
    date(2026, 1, d) for d in (1, 2, 3)
} | {date(2026, 2, d) for d in range(15, 24)} | {date(2026, 4, d) for d in (4, 5, 6)} | {
    date(2026, 5, d) for d in range(1, 6)
} | {date(2026, 6, d) for d in (19, 20, 21)} | {date(2026, 9, d) for d in (25, 26, 27)} | {
    date(2026, 10, d) for d in range(1, 8)
}  # fmt: skip
MAKEUP_2026 = {
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
}

CALENDARS = {
    "office": {
        "id": "office",
        "timezone": "Asia/Shanghai",
        "holidays": "cn",
        "hours": {d: ["09:00-12:00", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    },
    "saturday-half": {
        "id": "saturday-half",
        "timezone": "Asia/Shanghai",
        "holidays": "cn",
        "hours": {
            **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "sat": ["09:00-13:00"],
        },
    },
    "night": {  # an overnight desk: cross-midnight shifts
        "id": "night",
        "timezone": "Asia/Shanghai",
        "holidays": "cn",
        "hours": {d: ["22:00-06:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    },
    "plain": {  # no holiday source: weekends only
        "id": "plain",
        "timezone": "Asia/Shanghai",
        "holidays": "none",
        "hours": {d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    },
    "24x7": {"id": "24x7"},
}


def oracle_spans(spec, day):
    if spec["id"] == "24x7":
        return [(0, 1440)]
    key = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    if spec.get("holidays") == "cn":
        if day in HOLIDAYS_2026:
            return []
        if day in MAKEUP_2026:
            key = "mon"
    out = []
    for text in spec["hours"].get(key, []):
        a, b = text.split("-")
        s = int(a[:2]) * 60 + int(a[3:])
        e = int(b[:2]) * 60 + int(b[3:])
        out.append((s, e if e > s else e + 1440))
    return out


def oracle_working(spec, moment):
    local = moment.astimezone(SHANGHAI)
    for back in (0, 1):
        day = local.date() - timedelta(days=back)
        offset = local.hour * 60 + local.minute + back * 1440
        if any(s <= offset < e for s, e in oracle_spans(spec, day)):
            return True
    return False


def oracle_deadline(spec, start, budget, pauses=()):
    """The end of the ``budget``-th working minute after ``start``, pauses skipped."""
    if budget <= 0:
        return start
    t, counted = start, 0
    while True:
        paused = any(p0 <= t < p1 for p0, p1 in pauses)
        if not paused and oracle_working(spec, t):
            counted += 1
            if counted == budget:
                return t + MINUTE
        t += MINUTE


def clock_due(spec, start, budget, pauses=(), ratio=0.8):
    cal = sla.calendar_of(spec)
    clock = sla.start_clock(budget, start, cal, ratio)
    for p0, p1 in pauses:
        clock = sla.pause_clock(clock, p0, cal)
        assert clock["due"] is None and clock["due_epoch"] is None
        clock = sla.resume_clock(clock, p1, cal, ratio)
    return clock


ANCHORS = [
    date(2026, 1, 1), date(2026, 1, 3), date(2026, 1, 4), date(2026, 2, 13), date(2026, 2, 14),
    date(2026, 2, 20), date(2026, 2, 27), date(2026, 2, 28), date(2026, 4, 3), date(2026, 4, 30),
    date(2026, 5, 8), date(2026, 5, 9), date(2026, 6, 18), date(2026, 9, 19), date(2026, 9, 24),
    date(2026, 9, 30), date(2026, 10, 9), date(2026, 10, 10), date(2026, 11, 20), date(2026, 12, 31),
]  # fmt: skip
BUDGETS = [5, 30, 45, 60, 240, 480, 540, 1000, 1440, 2400]


def table(n=520, seed=20261123):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cal_id = list(CALENDARS)[i % len(CALENDARS)]
        anchor = (
            rng.choice(ANCHORS)
            if rng.random() < 0.7
            else date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        )
        start = datetime(anchor.year, anchor.month, anchor.day, tzinfo=SHANGHAI) + timedelta(
            minutes=rng.randrange(-24 * 60, 48 * 60)
        )
        budget = rng.choice(BUDGETS)
        pauses = []
        if rng.random() < 0.4:  # pending_customer once or twice
            t = start
            for _ in range(rng.choice((1, 2))):
                p0 = t + timedelta(minutes=rng.randrange(0, 3000))
                p1 = p0 + timedelta(minutes=rng.randrange(1, 4000))
                pauses.append((p0, p1))
                t = p1
        rows.append((i, cal_id, start.astimezone(UTC), budget, tuple(pauses)))
    return rows


TABLE = table()


def test_the_table_is_big_and_varied():
    assert len(TABLE) >= 500
    assert {row[1] for row in TABLE} == set(CALENDARS)
    assert sum(1 for row in TABLE if row[4]) > 150


@pytest.mark.parametrize("chunk", range(8))
def test_deadlines_match_the_minute_by_minute_oracle(chunk):
    for i, cal_id, start, budget, pauses in TABLE[chunk::8]:
        spec = CALENDARS[cal_id]
        clock = clock_due(spec, start, budget, pauses)
        expected = oracle_deadline(spec, start, budget, pauses)
        assert clock["due"] == expected, (i, cal_id, start, budget, pauses)
        assert clock["due_epoch"] == expected.timestamp()
        warn = oracle_deadline(spec, start, int(budget * 0.8), pauses)
        if pauses:  # a warning time that passed before a pause is due at the last resume
            warn = max(warn, pauses[-1][1])
        assert clock["warn_at"] == warn, (i, "warn", cal_id, start, budget, pauses)
        # the working minutes between start and the deadline, minus the paused ones, is the budget
        cal = sla.calendar_of(spec)
        paused = sum(cal.between(max(p0, start), min(p1, expected)) for p0, p1 in pauses if p0 < expected)
        if expected > start and not any(p1 > expected for _, p1 in pauses):
            assert cal.between(start, expected) - paused == pytest.approx(budget), i


@pytest.mark.parametrize("chunk", range(4))
def test_a_policy_change_mid_case_keeps_the_time_used(chunk):
    rng = random.Random(chunk)
    for i, cal_id, start, budget, _ in TABLE[chunk::16]:
        spec = CALENDARS[cal_id]
        terms = {
            "calendar": spec,
            "warn_ratio": 0.8,
            "acknowledge_minutes": budget,
            "resolve_minutes": budget,
        }
        case_sla = sla.open_sla(terms, start)
        at = start + timedelta(minutes=rng.randrange(0, 5000))
        new_budget = rng.choice(BUDGETS)
        after = sla.reapply(case_sla, {**terms, "resolve_minutes": new_budget}, at)
        expected = max(oracle_deadline(spec, start, new_budget), at)
        assert after["clocks"]["resolve"]["due"] == expected, (i, cal_id, start, budget, at, new_budget)
        assert after["clocks"]["resolve"]["budget"] == new_budget


def office():
    return Calendar.from_spec(CALENDARS["office"])


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def test_named_cases_weekend_holiday_makeup_saturday_and_midnight():
    cal = office()
    # Friday 17:00 + 2 h → Monday 10:00 (weekend skipped)
    assert cal.add(at(2026, 11, 20, 17), 120) == at(2026, 11, 23, 10)
    # Thursday 30 Apr 17:00 + 2 h: May Day holiday 1-5 May → Wednesday 6 May 10:00
    assert cal.add(at(2026, 4, 30, 17), 120) == at(2026, 5, 6, 10)
    # Friday 8 May 17:00 + 2 h → 调休 Saturday 9 May 10:00
    assert cal.add(at(2026, 5, 8, 17), 120) == at(2026, 5, 9, 10)
    # lunch break: 11:30 + 1 h → 14:00
    assert cal.add(at(2026, 11, 23, 11, 30), 60) == at(2026, 11, 23, 14)
    night = Calendar.from_spec(CALENDARS["night"])
    # Monday 23:00 + 3 h runs across midnight → Tuesday 02:00
    assert night.add(at(2026, 11, 23, 23), 180) == at(2026, 11, 24, 2)
    # Friday night's shift ends Saturday 06:00; next shift Monday 22:00
    assert night.add(at(2026, 11, 28, 5), 120) == at(2026, 11, 30, 23)


def test_outside_the_libraries_years_weekly_hours_apply_and_the_case_says_so():
    cal = office()
    assert not cal.covers(date(2027, 1, 1)) and cal.covers(date(2026, 12, 31))
    # 2027-01-01 is a Friday: without data it counts as a working day
    assert cal.add(at(2026, 12, 31, 17), 120) == at(2027, 1, 1, 10)
    terms = {
        "calendar": CALENDARS["office"],
        "warn_ratio": 0.8,
        "acknowledge_minutes": 60,
        "resolve_minutes": 960,
    }
    opened = sla.open_sla(terms, at(2026, 12, 31, 9).astimezone(UTC))
    assert opened["warnings"] == ["no statutory holiday data for 2027: weekly hours only"]
    extra = Calendar.from_spec({**CALENDARS["office"], "extra_holidays": ["2027-01-01"]})
    assert extra.add(at(2026, 12, 31, 17), 120) == at(2027, 1, 4, 10)


def test_clock_lifecycle_pause_resume_stop_and_breach_state():
    terms = {
        "calendar": CALENDARS["office"],
        "warn_ratio": 0.8,
        "acknowledge_minutes": 30,
        "resolve_minutes": 600,
    }
    t0 = at(2026, 11, 23, 9).astimezone(UTC)
    s = sla.open_sla(terms, t0)
    assert s["clocks"]["resolve"]["due"] == at(2026, 11, 24, 11, 30)  # 450 min on Monday (lunch off)
    assert s["clocks"]["resolve"]["warn_at"] == at(2026, 11, 24, 9, 30)
    assert sla.breach_state(s, t0) == "ok"
    assert sla.breach_state(s, at(2026, 11, 23, 9, 25)) == "warning"  # 80 % of 30 min
    s = sla.on_action(s, "acknowledge", at(2026, 11, 23, 9, 20))
    assert s["clocks"]["acknowledge"]["met"] is True
    s = sla.on_action(s, "pending_customer", at(2026, 11, 23, 10))
    assert s["clocks"]["resolve"]["state"] == "paused" and s["clocks"]["resolve"]["used"] == 60
    s = sla.on_action(s, "resume", at(2026, 11, 25, 10))  # two days waiting for the customer
    assert s["clocks"]["resolve"]["due"] == at(2026, 11, 26, 11, 30)
    s = sla.on_action(s, "resolve", at(2026, 11, 26, 12))
    assert s["clocks"]["resolve"]["met"] is False and sla.breach_state(s, at(2026, 11, 26, 12)) == "breached"
    s = sla.on_action(s, "reopen", at(2026, 11, 27, 9))
    assert s["clocks"]["acknowledge"]["state"] == "running" and s["clocks"]["resolve"]["used"] == 0


def test_policies_are_validated_naming_the_field():
    from services.common.errors import BadRequest

    with pytest.raises(BadRequest) as info:
        sla.load_policy(
            {
                "default_calendar": "nope",
                "calendars": [{"id": "c", "timezone": "Mars/Base", "hours": {"mon": ["09:00-09:00"]}}],
                "levels": {"P1": {"acknowledge_minutes": 60, "resolve_minutes": 30}},
            }
        )
    assert set(info.value.errors) >= {
        "default_calendar: unknown calendar nope",
        "levels.P1.acknowledge_minutes: must not exceed resolve_minutes",
        "levels: missing levels: P2, P3, P4",
        "calendars.0.hours.mon.value.0: '09:00-09:00' is empty",
    }


def test_a_levels_calendar_wins_then_the_teams_then_the_default():
    policy = {
        "id": "default",
        "warn_ratio": 0.8,
        "default_calendar": "office",
        "calendars": [CALENDARS["office"], CALENDARS["night"]],
        "levels": {
            "P1": {"acknowledge_minutes": 5, "resolve_minutes": 60, "calendar": "24x7"},
            "P2": {"acknowledge_minutes": 30, "resolve_minutes": 480, "calendar": None},
        },
    }
    assert sla.terms_for(policy, 4, "P1", "night")["calendar"] == {"id": "24x7"}
    assert sla.terms_for(policy, 4, "P2", "night")["calendar"]["id"] == "night"
    assert sla.terms_for(policy, 4, "P2", "unknown-team-calendar")["calendar"]["id"] == "office"
    terms = sla.terms_for(policy, 4, "P2", None)
    assert (terms["version"], terms["acknowledge_minutes"], terms["calendar"]["id"]) == (4, 30, "office")


# A 2027 notice as an admin would enter it (illustrative dates, not the real notice)
OVERRIDE_2027 = {
    "year": 2027,
    "holidays": ["2027-01-01", *(f"2027-10-0{d}" for d in range(1, 9))],
    "workdays": ["2027-09-26", "2027-10-09"],  # a Sunday and a Saturday
}


def test_a_2027_override_makes_the_year_covered_and_counts_its_holidays(caplog):
    spec = {**CALENDARS["office"], "statutory_overrides": [OVERRIDE_2027]}
    [checked] = sla.load_policy(
        {
            "default_calendar": "office",
            "calendars": [spec],
            "levels": {lv: LEVEL for lv in ("P1", "P2", "P3", "P4")},
        }
    )["calendars"]
    cal = Calendar.from_spec(checked)
    assert cal.covers(date(2027, 6, 1)) and not cal.covers(date(2028, 1, 1))
    # Thursday 31 Dec 2026 17:00 + 2 h: 1 Jan 2027 is a holiday now → Monday 4 Jan 10:00
    assert cal.add(at(2026, 12, 31, 17), 120) == at(2027, 1, 4, 10)
    # National Day week is closed; the 调休 Sunday before and Saturday after work Monday's hours
    assert cal.add(at(2027, 9, 24, 17), 120) == at(2027, 9, 26, 10)
    assert cal.add(at(2027, 9, 30, 17), 120) == at(2027, 10, 9, 10)
    terms = {"calendar": checked, "warn_ratio": 0.8, "acknowledge_minutes": 60, "resolve_minutes": 960}
    assert sla.open_sla(terms, at(2026, 12, 31, 9).astimezone(UTC))["warnings"] == []
    # without the override the same case warns, in the log too (once per calendar and year)
    sla._warn_uncovered.cache_clear()
    with caplog.at_level("WARNING", logger="services.cases.sla"):
        plain = sla.open_sla({**terms, "calendar": CALENDARS["office"]}, at(2026, 12, 31, 9).astimezone(UTC))
    assert plain["warnings"] == ["no statutory holiday data for 2027: weekly hours only"]
    assert "calendar office: no statutory holiday data for 2027" in caplog.text


def test_an_override_replaces_the_librarys_year():
    # 2 Oct 2026 is a holiday in chinesecalendar; an override for 2026 that omits it wins
    spec = {**CALENDARS["office"], "statutory_overrides": [{"year": 2026, "holidays": ["2026-10-01"]}]}
    cal = Calendar.from_spec(spec)
    assert office().spans_of(date(2026, 10, 2)) == () and cal.spans_of(date(2026, 10, 2)) != ()
    assert cal.spans_of(date(2026, 10, 1)) == ()
    assert cal.spans_of(date(2026, 10, 10)) == ()  # not a make-up day unless the override says so


LEVEL = {"acknowledge_minutes": 60, "resolve_minutes": 480}


def test_overrides_are_validated_and_missing_years_reported():
    def policy(override):
        spec = {**CALENDARS["office"], "statutory_overrides": override}
        return {
            "default_calendar": "office",
            "calendars": [spec],
            "levels": {lv: LEVEL for lv in ("P1", "P2", "P3", "P4")},
        }

    where = "calendars.0.statutory_overrides"
    for override, message in (
        ([{"year": 2027, "holidays": ["2028-01-01"]}], f"{where}.0.holidays: not in 2027: 2028-01-01"),
        (
            [{"year": 2027, "holidays": [], "workdays": ["2027-02-03"]}],
            "fall on a Saturday or Sunday: 2027-02-03",
        ),
        ([{"year": 2027, "holidays": ["2027-02-06"], "workdays": ["2027-02-06"]}], "also listed as holidays"),
        ([{"year": 2027, "holidays": []}, {"year": 2027, "holidays": []}], f"{where}: one entry per year"),
        ([{"year": 2027, "holidays": ["soon"]}], f"{where}.0.holidays.0: Not a valid date"),
        ([{"holidays": []}], f"{where}.0.year: Missing data"),
    ):
        with pytest.raises(BadRequest, match=message):
            sla.load_policy(policy(override))
    missing = sla.coverage_warnings(sla.load_policy(policy([])), date(2026, 11, 23))
    assert missing == [
        "calendars.office: no statutory holiday data for 2027 (chinesecalendar covers 2004-2026); "
        "add statutory_overrides for 2027, or its holidays count as working days"
    ]
    assert sla.coverage_warnings(sla.load_policy(policy([OVERRIDE_2027])), date(2026, 11, 23)) == []
