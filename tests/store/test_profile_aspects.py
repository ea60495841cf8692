"""What a customer's comments are about (aspects) on their profile, on the real server:
counted once per event on either write path, carried by a merge, rebuilt by a recount,
dropped by an erasure, and the recent ones answered with the rolling scores."""

from datetime import timedelta

import pytest

from services.profiles.recordings import feedback_recording
from services.profiles.store import ProfileStore
from tests.store.test_profiles import NOW, feedback

ON_TIME = "配送员很准时"  # delivery
TOO_DEAR = "价格太贵了"  # price


@pytest.fixture
def profiles(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    return store


def aspect_counts(store: ProfileStore, cid: str) -> dict:
    return store.db.profiles.find_one({"_id": cid}).get("aspect_counts")


def test_each_comment_counts_its_aspects_once_and_its_entry_keeps_them(profiles):
    first = feedback(1, "A", text=ON_TIME, days_ago=40)
    profiles.recorder.record_feedback(first)
    profiles.recorder.record_feedback(feedback(2, "A", text=ON_TIME))
    profiles.recorder.record_feedback(feedback(3, "A", text=TOO_DEAR))
    profiles.recorder.record_feedback(feedback(4, "A"))  # no comment: about nothing
    profiles.recorder.record_feedback(first)  # a replay
    assert aspect_counts(profiles, "A") == {"delivery": 2, "price": 1}
    entry = profiles.db.timeline.find_one({"_id": "feedback:load:e3"})
    assert entry["insight"]["aspects"] == ["price"]

    shown = profiles.queries.get_profile("A", now=NOW)
    assert shown["aspect_counts"] == {"delivery": 2, "price": 1}
    assert shown["aspects_recent"] == {
        "last_30d": [{"aspect": "delivery", "count": 1}, {"aspect": "price", "count": 1}],
        "last_90d": [{"aspect": "delivery", "count": 2}, {"aspect": "price", "count": 1}],
    }


def test_a_batch_counts_aspects_as_one_at_a_time_and_a_replayed_batch_not_again(profiles):
    events = [feedback(1, "B", text=ON_TIME), feedback(2, "B", text=TOO_DEAR), feedback(3, "B", text=ON_TIME)]
    profiles.recorder.record_many([feedback_recording(e) for e in events])
    profiles.recorder.record_many([feedback_recording(e) for e in events])
    assert aspect_counts(profiles, "B") == {"delivery": 2, "price": 1}


def test_a_merge_sums_the_aspect_counts(profiles):
    profiles.recorder.record_feedback(feedback(1, "S", text=ON_TIME))
    profiles.recorder.record_feedback(feedback(2, "M", text=ON_TIME))
    profiles.recorder.record_feedback(feedback(3, "M", text=TOO_DEAR))
    profiles.identity.merge("S", "M", by="admin", reason="same person", now=NOW)
    profiles.identity.merge("S", "M", by="admin", reason="same person", now=NOW)  # a retry
    assert aspect_counts(profiles, "S") == {"delivery": 2, "price": 1}
    assert profiles.queries.get_profile("M", now=NOW)["aspects_recent"]["last_30d"][0] == {
        "aspect": "delivery",
        "count": 2,
    }


def test_recount_rebuilds_the_aspect_counts_from_the_timeline(profiles):
    for n, text in enumerate([ON_TIME, ON_TIME, TOO_DEAR]):
        profiles.recorder.record_feedback(feedback(n, "R", text=text))
    profiles.db.profiles.update_one({"_id": "R"}, {"$set": {"aspect_counts": {"billing": 5}}})
    out = profiles.recorder.recount("R")
    assert out["changed"] == {"aspect_counts": [{"billing": 5}, {"delivery": 2, "price": 1}]}
    assert aspect_counts(profiles, "R") == {"delivery": 2, "price": 1}
    assert profiles.recorder.recount("R")["changed"] == {}
    # a profile recorded before aspects were kept: its entries' text still tells
    profiles.db.timeline.update_many({"customer_id": "R"}, {"$unset": {"insight.aspects": ""}})
    profiles.db.profiles.update_one({"_id": "R"}, {"$unset": {"aspect_counts": ""}})
    assert profiles.recorder.recount("R")["changed"] == {"aspect_counts": [{}, {"delivery": 2, "price": 1}]}


def test_a_profile_without_comments_has_nothing_to_recount(profiles):
    profiles.recorder.record_feedback(feedback(1, "N"))
    assert aspect_counts(profiles, "N") is None
    assert profiles.recorder.recount("N")["changed"] == {}
    assert profiles.queries.get_profile("N", now=NOW)["aspects_recent"] == {"last_30d": [], "last_90d": []}


def test_an_erasure_drops_the_aspect_counts_and_later_comments_count_none(profiles):
    profiles.recorder.record_feedback(feedback(1, "E", text=ON_TIME))
    profiles.privacy.erase("E", by="dpo", request_ref="REQ-1", now=NOW)
    profiles.recorder.record_feedback(feedback(2, "E", text=TOO_DEAR))
    assert aspect_counts(profiles, "E") is None
    assert profiles.recorder.recount("E")["changed"] == {}
    shown = profiles.queries.get_profile("E", now=NOW + timedelta(days=1))
    assert shown["aspects_recent"] == {"last_30d": [], "last_90d": []}
