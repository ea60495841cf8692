"""profiles.word_frequency on the real store: kept as feedback arrives, unchanged by
replays, complete under concurrent writers, following merges and erasure."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from services.common.errors import BadRequest
from services.profiles.service import ProfilesService
from services.profiles.store import ProfileStore

RANGE = {"since": "2026-11-01T00:00:00+08:00", "until": "2026-11-23T00:00:00+08:00"}


@pytest.fixture
def profiles(mongo_client, db_prefix):
    s = ProfileStore(mongo_client[f"{db_prefix}profiles"])
    s.ensure_indexes()
    return worker_factory(ProfilesService, store=s)


def event(n, cid, at, text):
    return parse_feedback(
        {
            "schema_version": 1,
            "event_id": f"w{n}",
            "source": "app",
            "occurred_at": at,
            "customer": {"id": cid, "name": "赵六"},
            "channel": "app",
            "text": text,
        }
    )


COMMENTS = [
    event(1, "C1", "2026-11-20T10:00:00+08:00", "快递太慢了，等了一周"),
    event(2, "C1", "2026-11-20T23:30:00+08:00", "快递太慢，客服也不回复"),
    event(3, "C2", "2026-11-21T00:10:00+08:00", "客服态度很好，非常满意"),
    event(4, "C2", "2026-11-21T12:00:00+08:00", "请问怎么退货？"),
    event(5, "C2", "2026-10-01T12:00:00+08:00", "建议增加夜间配送"),  # outside the range
]


def counts(result):
    return {row["word"]: row["count"] for row in result["keywords"]}


def test_global_and_per_customer_views_ignore_replays(profiles):
    for e in COMMENTS + COMMENTS[:2]:  # the first two are delivered twice
        profiles.handle_feedback([e])
    everyone = profiles.word_frequency(**RANGE)
    assert everyone["customer_id"] is None and everyone["comments"] == 4
    assert everyone["categories"] == {"complaint": 2, "inquiry": 1, "praise": 1}
    words = counts(everyone)
    assert words["快递"] == 2 and words["太慢"] == 2 and words["客服"] == 2 and words["退货"] == 1
    assert "配送" not in words  # 1 October is outside the range
    top = profiles.word_frequency(limit=3, **RANGE)["keywords"]
    assert [r["count"] for r in top] == [2, 2, 2] and [r["word"] for r in top] == sorted(
        ["快递", "太慢", "客服"]
    )
    c1 = profiles.word_frequency("C1", **RANGE)
    assert c1["categories"] == {"complaint": 2} and counts(c1) == {
        "快递": 2,
        "太慢": 2,
        "一周": 1,
        "客服": 1,
        "不回复": 1,
    }
    wide = profiles.word_frequency("C2", since="2026-09-01T00:00:00+08:00", until=RANGE["until"])
    assert wide["categories"] == {"inquiry": 1, "praise": 1, "suggestion": 1}


def test_concurrent_writers_on_one_day_lose_no_count(profiles):
    same_day = [event(100 + i, "C9", f"2026-11-20T10:00:{i:02d}+08:00", "快递太慢") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda e: profiles.handle_feedback([e]), same_day))
    assert counts(profiles.word_frequency("C9", **RANGE))["快递"] == 8
    assert counts(profiles.word_frequency(**RANGE))["快递"] == 8


def test_merges_and_erasure_follow_the_customer(profiles):
    for e in COMMENTS:
        profiles.handle_feedback([e])
    profiles.merge_customers("C1", "C2", by="li.na", reason="same phone")
    merged = profiles.word_frequency("C2", **RANGE)  # resolves to the survivor
    assert merged["customer_id"] == "C1" and counts(merged)["客服"] == 2 and merged["comments"] == 4
    assert profiles.store.db.word_counts.count_documents({"scope": "C2"}) == 0
    profiles.erase_customer("C1", by="dpo", request_ref="DSR-9")
    assert profiles.word_frequency("C1", **RANGE)["keywords"] == []
    assert counts(profiles.word_frequency(**RANGE))["快递"] == 2  # anonymous totals stay


def test_bad_arguments_name_the_field(profiles):
    with pytest.raises(BadRequest, match="limit: Must be"):
        profiles.word_frequency(limit=0)
    with pytest.raises(BadRequest, match="until: must not be earlier than since"):
        profiles.word_frequency(since=RANGE["until"], until=RANGE["since"])
    with pytest.raises(BadRequest, match="since: Not a valid"):
        profiles.word_frequency(since="30d")
