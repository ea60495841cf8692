"""The checks of the alerts service's read-only answers (services/alerts/queries.py)
without a store: periods, moments and events, refused with the argument named."""

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts import queries
from services.common.errors import BadRequest
from tests.unit.test_contracts import event

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_a_period_is_a_duration_or_a_time_until_now_by_default():
    assert queries.period("30d", None, NOW) == (NOW - timedelta(days=30), NOW)
    start, end = queries.period("2026-11-01T08:00:00+08:00", "2026-11-02", NOW)
    assert start == datetime(2026, 11, 1, tzinfo=UTC) and end == datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "since, until, message",
    [
        ("yesterday", None, "since: must be a duration"),
        ("1d", "soon", "until: must be a duration"),
        ("1d", "2d", "since: must be before until"),
        ("2026-11-23T12:00:00+00:00", None, "since: must be before until"),  # empty
    ],
)
def test_a_bad_period_names_the_argument(since, until, message):
    with pytest.raises(BadRequest, match=message):
        queries.period(since, until, NOW)


class Figures:
    def stats(self, since, until):
        return {"since": since, "until": until}


def test_figures_take_either_bound_and_refuse_an_empty_period():
    assert queries.stats(Figures(), None, None, NOW) == {"since": None, "until": None}
    assert queries.stats(Figures(), "7d", None, NOW) == {"since": NOW - timedelta(days=7), "until": None}
    assert queries.stats(Figures(), None, "1d", NOW) == {"since": None, "until": NOW - timedelta(days=1)}
    with pytest.raises(BadRequest, match="until: must be after since"):
        queries.stats(Figures(), "1d", "2d", NOW)
    with pytest.raises(BadRequest, match="since: must be a duration"):
        queries.stats(Figures(), "last week", None, NOW)


def test_an_event_is_read_by_the_feedback_contract():
    assert queries.feedback_event(event())["occurred_at"] == datetime(2026, 11, 20, 2, tzinfo=UTC)
    with pytest.raises(BadRequest, match="^event: "):
        queries.feedback_event(event(occurred_at="someday"))
