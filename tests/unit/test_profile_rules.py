"""Pure profile rules: rolling scores against a naive recount, normalisation, PII stripping."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.profiles.profile import (
    identity_set,
    is_survey,
    normalise_email,
    normalise_phone,
    timeline_entry,
    without_pii,
)
from services.profiles.scores import rolling, trend

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def naive(entries, kind, now, newest_days_ago, oldest_days_ago):
    """Independent recount: loop over days-ago as floats, no shared helper."""
    picked = []
    for e in entries:
        if kind not in e["scores"]:
            continue
        age = (now - e["at"]).total_seconds() / 86400
        if newest_days_ago <= age < oldest_days_ago:
            picked.append(e["scores"][kind])
    return picked


@pytest.mark.parametrize("seed", range(5))
def test_rolling_averages_counts_and_trend_match_a_naive_recount(seed):
    rng = random.Random(seed)
    entries = []
    for _ in range(200):
        at = NOW - timedelta(seconds=rng.randint(-5 * 86400, 120 * 86400))  # some in the future
        scores = {}
        if rng.random() < 0.7:
            scores["nps"] = rng.randint(0, 10)
        if rng.random() < 0.5:
            scores["csat"] = rng.randint(1, 5)
        if rng.random() < 0.3:
            scores["ces"] = rng.randint(1, 7)
        entries.append({"at": at, "scores": scores})
    out = rolling(entries, NOW)
    for kind in ("nps", "csat", "ces"):
        for days in (30, 90):
            values = naive(entries, kind, NOW, 0, days)
            assert out[kind][f"count_{days}d"] == len(values)
            assert out[kind][f"avg_{days}d"] == pytest.approx(sum(values) / len(values), abs=0.005)
        recent, before = naive(entries, kind, NOW, 0, 30), naive(entries, kind, NOW, 30, 60)
        delta = sum(recent) / len(recent) - sum(before) / len(before)
        assert out[kind]["trend"]["delta"] == pytest.approx(delta, abs=0.011)
        past = [e for e in entries if kind in e["scores"] and e["at"] <= NOW]
        newest = max(past, key=lambda e: e["at"])
        assert out[kind]["last"] == {"value": newest["scores"][kind], "at": newest["at"]}


def test_window_edges_and_empty_windows():
    day = timedelta(days=1)
    entries = [
        {"at": NOW, "scores": {"nps": 10}},  # in (now is inclusive)
        {"at": NOW - 30 * day, "scores": {"nps": 0}},  # exactly 30 days old: previous window
        {"at": NOW - 90 * day, "scores": {"nps": 5}},  # exactly 90 days old: out
        {"at": NOW + day, "scores": {"nps": 1}},  # the future: ignored
    ]
    out = rolling(entries, NOW)["nps"]
    assert (out["count_30d"], out["avg_30d"]) == (1, 10.0)
    assert (out["count_90d"], out["avg_90d"]) == (2, 5.0)
    assert out["trend"] == {
        "last_30d_avg": 10.0,
        "previous_30d_avg": 0.0,
        "delta": 10.0,
        "direction": "up",
        "better": True,
    }
    assert out["last"]["value"] == 10
    assert "csat" not in rolling(entries, NOW)
    assert trend("nps", [(NOW, 3)], NOW) is None  # nothing to compare with


def test_ces_going_down_is_better_and_small_moves_are_flat():
    day = timedelta(days=1)
    ces = [(NOW - 40 * day, 6), (NOW - day, 2)]
    assert trend("ces", ces, NOW)["direction"] == "down" and trend("ces", ces, NOW)["better"] is True
    nps = [(NOW - 40 * day, 8), (NOW - day, 8)]
    assert trend("nps", nps, NOW)["direction"] == "flat" and trend("nps", nps, NOW)["better"] is None


def test_stored_latest_is_the_last_value_beyond_the_horizon():
    latest = {"nps": {"value": 4, "at": NOW - timedelta(days=200)}}
    out = rolling([], NOW, latest)["nps"]
    assert out["last"]["value"] == 4 and out["count_90d"] == 0 and out["avg_90d"] is None


@pytest.mark.parametrize(
    "raw",
    [
        "+86 138-0013-8000",
        "0086 13800138000",
        "138 0013 8000",
        "13800138000",
        "8613800138000",
        "(138)00138000",
    ],
)
def test_phone_normalisation(raw):
    assert normalise_phone(raw) == "13800138000"


def test_landline_and_email_normalisation():
    assert normalise_phone("010-8888 6666") == "01088886666"
    assert normalise_email("  Wang.Fang@Example.COM ") == "wang.fang@example.com"


def event(**extra):
    return {
        "event_id": "e1",
        "source": "survey-app",
        "occurred_at": NOW,
        "channel": "wechat",
        "customer": {
            "id": "C1",
            "name": "王芳",
            "phone": "+86 138-0013-8000",
            "email": "A@B.cn",
            "tier": "vip",
            "attributes": {"region": "华东"},
        },
        "text": "我是王芳，电话13800138000",
        "tags": ["delivery"],
        "attributes": {"survey_id": "NPS-1"},
        **extra,
    }


def test_identity_carries_normalised_search_keys():
    out = identity_set(event())
    assert out["search.phone"] == "13800138000" and out["search.email"] == "a@b.cn"
    assert out["search.name"] == "王芳" and out["identity.attributes.region"] == "华东"


def test_survey_flag_and_pii_stripping():
    assert is_survey(event()) and not is_survey(event(attributes={}))
    assert is_survey(event(attributes={}, tags=["survey"]))
    stripped = without_pii(event())
    assert stripped["customer"] == {"id": "C1", "tier": "vip"}
    assert "text" not in stripped and "attributes" not in stripped
    entry = timeline_entry(stripped, "C1")
    assert entry["pii_dropped"] is True and "text" not in entry
    assert "王芳" not in repr(identity_set(stripped))


def test_timeline_entry_records_the_alias_it_arrived_under():
    assert timeline_entry(event(), "C0")["as_customer_id"] == "C1"
    assert "as_customer_id" not in timeline_entry(event(), "C1")
