"""A rule's optional active hours: when it may fire, by the event's own time."""

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import RuleError, is_active, load_rule

NOW = datetime(2026, 11, 23, tzinfo=UTC)
BASE = {
    "id": "office",
    "name": "工作时间差评 / Low score in office hours",
    "level": "P2",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"field": "scores.nps", "op": "lte", "value": 6},
}
CST = timedelta(hours=8)


def rule(hours):
    return dict(load_rule({**BASE, "active_hours": hours}), version=1)


def at(day, hh, mm=0):
    """2026-11-<day> hh:mm in Beijing time (the 23rd is a Monday)."""
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC) - CST


@pytest.mark.parametrize(
    "moment, expected",
    [
        (at(23, 9), True),  # Monday 09:00, the start is inside
        (at(23, 17, 59), True),
        (at(23, 18), False),  # the end is outside
        (at(23, 8, 59), False),
        (at(28, 10), False),  # Saturday
    ],
)
def test_office_hours_on_weekdays(moment, expected):
    office = rule({"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"})
    assert is_active(office, moment) is expected


@pytest.mark.parametrize(
    "moment, expected",
    [
        (at(27, 22), True),  # Friday evening
        (at(28, 5, 59), True),  # Saturday early morning: Friday's night
        (at(28, 6), False),
        (at(28, 22), False),  # Saturday evening: not listed
        (at(23, 3), False),  # Monday early morning: Sunday's night, not listed
        (at(24, 3), True),  # Tuesday early morning: Monday's night
    ],
)
def test_overnight_hours_belong_to_the_day_they_start(moment, expected):
    night = rule({"days": ["mon", "tue", "wed", "thu", "fri"], "from": "22:00", "to": "06:00"})
    assert is_active(night, moment) is expected


def test_timezone_is_the_rules_own():
    london = rule({"from": "09:00", "to": "17:00", "timezone": "Europe/London"})
    assert is_active(london, datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert not is_active(london, at(23, 9, 30))  # 01:30 in London


def test_outside_active_hours_the_rule_does_not_fire_but_windows_still_count():
    office = rule({"from": "09:00", "to": "18:00"})
    counting = dict(
        load_rule(
            {
                **BASE,
                "id": "thrice",
                "active_hours": {"from": "09:00", "to": "18:00"},
                "when": {
                    "window": {
                        "count": {
                            "at_least": 3,
                            "within": "7d",
                            "where": {"field": "scores.nps", "op": "lte", "value": 6},
                        }
                    }
                },
            }
        ),
        version=1,
    )
    engine = Engine(MemoryState())

    def event(n, moment):
        return {
            "source": "app",
            "event_id": f"e{n}",
            "occurred_at": moment,
            "customer": {"id": "C1"},
            "channel": "app",
            "scores": {"nps": 2},
        }

    assert engine.process([office, counting], event(1, at(23, 20)), NOW) == []  # 20:00: inactive
    assert engine.process([office, counting], event(2, at(23, 23)), NOW) == []
    fired = engine.process([office, counting], event(3, at(24, 10)), NOW)
    assert {o.rule_id for o in fired} == {"office", "thrice"}  # the night's two were counted


@pytest.mark.parametrize(
    "hours, error",
    [
        ({"from": "9:00", "to": "18:00"}, "active_hours.from: must be a time of day"),
        ({"from": "09:00", "to": "09:00"}, "active_hours.to: must differ from from"),
        ({"from": "09:00", "to": "18:00", "timezone": "Mars/Base"}, "active_hours.timezone: unknown"),
        ({"from": "09:00", "to": "18:00", "days": ["monday"]}, "active_hours.days.0"),
        ({"from": "09:00", "to": "18:00", "days": []}, "active_hours.days: must list"),
        ({"from": "09:00"}, "active_hours.to"),
    ],
)
def test_bad_active_hours_are_rejected_naming_the_field(hours, error):
    with pytest.raises(RuleError) as caught:
        load_rule({**BASE, "active_hours": hours})
    assert any(e.startswith(error) for e in caught.value.errors), caught.value.errors
