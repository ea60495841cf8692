"""profiles.score_trend on known data (real store): exact NPS / CSAT / CES per local day
and ISO week, half-open range edges, segments, and bad arguments named by field."""

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from services.common.errors import BadRequest
from services.profiles.service import ProfilesService
from services.profiles.store import ProfileStore

SINCE, UNTIL = "2026-11-16T00:00:00+08:00", "2026-11-24T00:00:00+08:00"


@pytest.fixture
def profiles(mongo_client, db_prefix):
    s = ProfileStore(mongo_client[f"{db_prefix}profiles"])
    s.ensure_indexes()
    service = worker_factory(ProfilesService, store=s)
    for n, (cid, at, scores, tier, channel) in enumerate(
        [
            ("C1", "2026-11-16T00:00:00+08:00", {"nps": 10}, "vip", "wechat"),  # exactly at since
            ("C2", "2026-11-16T12:00:00+08:00", {"nps": 9, "csat": 5}, "vip", "wechat"),
            ("C3", "2026-11-16T18:00:00+08:00", {"nps": 3, "ces": 2}, "vip", "app"),
            ("C1", "2026-11-17T00:30:00+08:00", {"nps": 7, "csat": 4}, "vip", "wechat"),  # the 16th in UTC
            ("C4", "2026-11-19T09:00:00+08:00", {"nps": 9, "csat": 2, "ces": 6}, "std", "wechat"),
            ("C2", "2026-11-23T23:59:59.500+08:00", {"nps": 8}, "vip", "wechat"),  # shares until's second
            ("C3", "2026-11-24T00:00:00+08:00", {"nps": 0}, "vip", "wechat"),  # at until: excluded
            ("C3", "2026-11-15T23:59:59+08:00", {"nps": 0}, "vip", "wechat"),  # before since
            ("C5", "2026-11-18T10:00:00+08:00", None, "vip", "wechat"),  # no scores: not counted
        ]
    ):
        body = {
            "schema_version": 1,
            "event_id": f"e{n}",
            "source": "survey-app",
            "occurred_at": at,
            "customer": {"id": cid, "tier": tier},
            "channel": channel,
            "text": "还行",
        }
        if scores:
            body["scores"] = scores
        service.handle_feedback([parse_feedback(body)])
    return service


EMPTY = {
    "nps": {
        "score": None,
        "count": 0,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
        "promoters_pct": None,
        "detractors_pct": None,
    },
    "csat": {"avg": None, "count": 0},
    "ces": {"avg": None, "count": 0},
}


def nps(score, count, promoters, passives, detractors, promoters_pct, detractors_pct):
    return {
        "score": score,
        "count": count,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "promoters_pct": promoters_pct,
        "detractors_pct": detractors_pct,
    }


def test_daily_buckets_are_local_calendar_days_with_exact_figures(profiles):
    trend = profiles.score_trend(SINCE, UNTIL)
    days = {b["start"]: {k: b[k] for k in ("nps", "csat", "ces")} for b in trend["buckets"]}
    assert list(days) == [f"2026-11-{d}" for d in range(16, 24)]  # empty days included
    assert days["2026-11-16"] == {
        "nps": nps(33.33, 3, 2, 0, 1, 66.67, 33.33),
        "csat": {"avg": 5.0, "count": 1},
        "ces": {"avg": 2.0, "count": 1},
    }
    assert days["2026-11-17"]["nps"] == nps(0.0, 1, 0, 1, 0, 0.0, 0.0)  # 00:30 in Shanghai
    assert days["2026-11-18"] == EMPTY == days["2026-11-20"]
    assert days["2026-11-23"]["nps"]["count"] == 1
    assert trend["total"] == {
        "nps": nps(33.33, 6, 3, 2, 1, 50.0, 16.67),
        "csat": {"avg": 3.67, "count": 3},
        "ces": {"avg": 4.0, "count": 2},
    }
    assert trend["bucket"] == "day" and trend["timezone"] == "Asia/Shanghai"


def test_weekly_buckets_start_on_monday_and_other_zones_move_the_edges(profiles):
    weeks = profiles.score_trend(SINCE, UNTIL, bucket="week")["buckets"]
    assert [(w["start"], w["nps"]["score"], w["nps"]["count"]) for w in weeks] == [
        ("2026-11-16", 40.0, 5),
        ("2026-11-23", 0.0, 1),
    ]
    utc = profiles.score_trend(SINCE, UNTIL, timezone="UTC")["buckets"]
    assert utc[0]["start"] == "2026-11-15" and utc[0]["nps"]["count"] == 1  # 16 Nov 00:00 +08 = 15 Nov UTC
    assert utc[1]["start"] == "2026-11-16" and utc[1]["nps"]["count"] == 3


def test_segments_filter_by_current_tier_channel_or_touchpoint(profiles):
    std = profiles.score_trend(SINCE, UNTIL, segment="tier:std")["total"]
    assert std["nps"]["score"] == 100.0 and std["csat"] == {"avg": 2.0, "count": 1}
    app = profiles.score_trend(SINCE, UNTIL, segment="channel:app")["total"]
    assert app["nps"] == nps(-100.0, 1, 0, 0, 1, 0.0, 100.0)
    assert profiles.score_trend(SINCE, UNTIL, segment="tier:gold")["total"] == EMPTY


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"since": "yesterday"}, "since: Not a valid"),
        ({"since": None}, "since: Missing data"),
        ({"until": SINCE}, "until: must be later than since"),
        ({"bucket": "month"}, "bucket: Must be one of"),
        ({"segment": "vip"}, "segment: one of tier:NAME"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone"),
        ({"until": "2028-01-01T00:00:00+08:00"}, "until: the range holds more than 400 day buckets"),
    ],
)
def test_bad_arguments_name_the_field(profiles, kwargs, message):
    arguments = {"since": SINCE, "until": UNTIL, **kwargs}
    with pytest.raises(BadRequest, match=message):
        profiles.score_trend(**arguments)


def test_several_segments_at_once_answer_as_one_segment_at_a_time(profiles):
    segments = ["channel:app", "tier:std", "touchpoint:delivery", "channel:none-such"]
    got = profiles.score_trends(SINCE, UNTIL, "week", segments, "UTC")
    assert got == [profiles.score_trend(SINCE, UNTIL, "week", s, "UTC") for s in segments]
    assert got[0]["total"]["nps"] == nps(-100.0, 1, 0, 0, 1, 0.0, 100.0)
    with pytest.raises(BadRequest, match="segments: one of tier:NAME"):
        profiles.score_trends(SINCE, UNTIL, "week", ["channel:app", "vip"])
    with pytest.raises(BadRequest, match="segments: Length must be between 1 and 200"):
        profiles.score_trends(SINCE, UNTIL, "week", [])
