"""Aspects on profiles, pure: counted once per feedback, added up by a merge, dropped by
an erasure, and ranked per rolling-score window."""

from datetime import UTC, datetime, timedelta

from contracts.feedback import parse_feedback
from services.profiles.aspects import entry_aspects, recent_aspects
from services.profiles.profile import (
    apply_feedback,
    carry_profile,
    new_profile,
    scrub_profile,
    timeline_entry,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def feedback(n: int, text: str | None = None, days_ago: float = 1.0) -> dict:
    body = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "source": "t",
        "channel": "app",
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "customer": {"id": "C1"},
    }
    return parse_feedback({**body, "text": text} if text else body)


def test_a_comment_counts_its_aspects_once_and_its_entry_keeps_them():
    doc = new_profile("C1", NOW)
    event = feedback(1, "快递太慢了，要退款")
    assert apply_feedback(doc, event, NOW) and not apply_feedback(doc, event, NOW)
    apply_feedback(doc, feedback(2), NOW)  # no comment: about nothing
    assert doc["aspect_counts"] == {"after_sales": 1, "delivery": 1, "waiting_time": 1}
    entry = timeline_entry(event, "C1")
    assert entry["insight"]["aspects"] == ["after_sales", "delivery", "waiting_time"]
    assert entry_aspects(entry) == entry["insight"]["aspects"]
    silent = new_profile("C2", NOW)
    assert apply_feedback(silent, feedback(3), NOW) and "aspect_counts" not in silent


def test_a_merge_adds_up_the_aspect_counts_and_an_erasure_drops_them():
    survivor, old = new_profile("S", NOW), new_profile("M", NOW)
    apply_feedback(survivor, feedback(1, "价格太贵了"), NOW)
    apply_feedback(old, feedback(2, "价格太贵了，配送也慢"), NOW)
    assert carry_profile(survivor, old, NOW) and not carry_profile(survivor, old, NOW)
    assert survivor["aspect_counts"] == {"price": 2, "delivery": 1, "waiting_time": 1}
    scrub_profile(survivor, "[erased]", NOW)
    assert "aspect_counts" not in survivor


def test_recent_aspects_rank_per_window_most_frequent_first():
    entries = [
        {"at": NOW - timedelta(days=2), "insight": {"aspects": ["price"]}},
        {"at": NOW - timedelta(days=40), "insight": {"aspects": ["delivery"]}},
        {"at": NOW - timedelta(days=50), "insight": {"aspects": ["delivery", "price"]}},
        {"at": NOW - timedelta(days=60)},  # no comment
        {"at": NOW + timedelta(days=1), "insight": {"aspects": ["billing"]}},  # after ``now``
    ]
    assert recent_aspects(entries, NOW) == {
        "last_30d": [{"aspect": "price", "count": 1}],
        "last_90d": [{"aspect": "delivery", "count": 2}, {"aspect": "price", "count": 2}],
    }
