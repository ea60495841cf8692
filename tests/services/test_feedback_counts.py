"""The hourly feedback counters (services/profiles/feedback_counts.py) give the numbers the
timeline gives: feedback recorded by the service's own batch handler (real store, real
inbox, the events as integrations publish them), some batches delivered twice or resent
in other batches, a batch redone past the inbox, one customer erased; then the score trend and the aspects per
touchpoint compared, counters against the raw entries, over several periods, buckets,
zones and segments; and the rebuild of a store written before the counters."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from services.profiles.aspects import entry_counts, per_touchpoint
from services.profiles.feedback_counts import BEGINNING, COLLECTION, FeedbackCounts
from services.profiles.recordings import feedback_recording
from services.profiles.service import ProfilesService
from services.profiles.store import ProfileStore
from services.profiles.trend import score_trend

START = datetime(2026, 11, 10, 3, 17, 41, 250000, tzinfo=UTC)
TOUCHPOINTS = ("delivery", "installation", "billing", "安装", None)
TEXTS = ("快递三天都没到，太慢了", "安装师傅态度很好", "账单多扣了钱", "客服一直不回复", None)


def body(n: int, rng: random.Random) -> dict:
    scores = {}
    if rng.random() < 0.8:
        scores["nps"] = rng.randint(0, 10)
    if rng.random() < 0.5:
        scores["csat"] = rng.randint(1, 5)
    if rng.random() < 0.3:
        scores["ces"] = rng.randint(1, 7)
    out = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "source": "survey-app",
        "occurred_at": (START + timedelta(seconds=rng.uniform(0, 12 * 86400))).isoformat(),
        "customer": {"id": f"C{n % 40}", "tier": "vip" if n % 40 < 10 else "standard"},
        "channel": rng.choice(("wechat", "app", "phone")),
    }
    touchpoint, text = rng.choice(TOUCHPOINTS), rng.choice(TEXTS)
    if touchpoint:
        out["touchpoint"] = touchpoint
    if text:
        out["text"] = text
    if scores:
        out["scores"] = scores
    return out


@pytest.fixture
def filled(mongo_client, db_prefix):
    store = ProfileStore(mongo_client[f"{db_prefix}profiles"])
    store.ensure_indexes()  # an empty store: counted from the start
    service = worker_factory(ProfilesService, store=store)
    rng = random.Random(18)
    events = [parse_feedback(body(n, rng)) for n in range(400)]
    done = 0
    while done < len(events):
        size = rng.randint(1, 60)
        batch = events[done : done + size]
        service.handle_feedback(batch)
        if rng.random() < 0.3:
            service.handle_feedback(batch)  # redelivered as it was
        if done and rng.random() < 0.3:  # resent: part of an earlier batch with new ones
            service.handle_feedback(events[max(0, done - 15) : done + size])
        done += size
    # a worker taking over an expired lease redoes work already stored: the timeline
    # entries are there, so nothing is counted again
    store.recorder.record_many([feedback_recording(e) for e in events[100:160]])
    store.privacy.erase("C3", by="dpo", request_ref="DSR-1", now=datetime.now(UTC))
    store.privacy.erase("C3", by="dpo", request_ref="DSR-1", now=datetime.now(UTC))  # again: once
    return store, events


def timeline_trend(store, since, until, bucket, segment, zone):
    """Today's computation: every scored entry of the period, read from the timeline."""
    entries = store.queries.scored_feedback(since, until, segment)
    return score_trend(entries, since, until, bucket, zone)


def timeline_aspects(store, since, until):
    entries = store.queries.feedback_about(since, until)
    return per_touchpoint([(e.get("touchpoint"), entry_counts(e)) for e in entries])


PERIODS = [
    (START, START + timedelta(days=12, seconds=1)),  # everything
    (START + timedelta(hours=5, seconds=0.5), START + timedelta(days=7, hours=3, minutes=7)),
    (datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)),  # whole UTC days
    (datetime(2026, 11, 11, 16, tzinfo=UTC), datetime(2026, 11, 18, 16, tzinfo=UTC)),  # Shanghai days
    (START + timedelta(days=3, minutes=1), START + timedelta(days=3, minutes=50)),  # inside an hour
]


def test_counters_give_the_timelines_numbers(filled):
    store, events = filled
    assert store.db[COLLECTION].find_one({"_id": "meta"})["counted_from"] == BEGINNING
    hours = [d for d in store.db[COLLECTION].find() if d["_id"].startswith("h")]
    blocks = [d for d in store.db[COLLECTION].find() if d["_id"].startswith("b")]
    assert sum(d["a__n"] for d in hours) == sum(d["a__n"] for d in blocks) == len(events)  # once each
    for since, until in PERIODS:
        for bucket, zone in (("day", "Asia/Shanghai"), ("week", "UTC"), ("day", "Asia/Kolkata")):
            for segment in (None, "touchpoint:delivery", "touchpoint:安装", "channel:app", "tier:vip"):
                got = store.queries.score_trend(since, until, bucket, segment, zone)
                assert got == timeline_trend(store, since, until, bucket, segment, zone), (
                    since,
                    bucket,
                    segment,
                )
        assert store.queries.aspects_by_touchpoint(since, until) == timeline_aspects(store, since, until)
        segments = ["touchpoint:delivery", "touchpoint:安装", "channel:app", "tier:vip", "touchpoint:none"]
        assert store.queries.score_trends(since, until, "week", segments, "Asia/Shanghai") == [
            timeline_trend(store, since, until, "week", s, "Asia/Shanghai") for s in segments
        ]
    whole = store.queries.score_trend(*PERIODS[0], "week", None, "UTC")
    assert whole["total"]["nps"]["count"] == sum(
        1 for e in events if e.get("scores", {}).get("nps") is not None
    )


def test_the_erasure_takes_the_comments_off_once(filled):
    store, events = filled
    erased = [e for e in events if e["customer"]["id"] == "C3"]
    assert any(e.get("text") for e in erased)
    rows = store.queries.aspects_by_touchpoint(*PERIODS[0])
    assert sum(r["comments"] for r in rows) == sum(1 for e in events if e.get("text") and e not in erased)
    assert sum(r["feedback"] for r in rows) == len(events)


def test_the_rebuild_counts_a_store_written_before_the_counters(filled):
    store, _ = filled
    wanted = {p: store.queries.aspects_by_touchpoint(*p) for p in PERIODS}
    trends = {p: store.queries.score_trend(*p, "day", None, "Asia/Shanghai") for p in PERIODS}
    store.db[COLLECTION].drop()  # as before the counters existed
    store.db.timeline.update_many({}, {"$unset": {"hour": ""}})  # and before entries had their hour
    store.ensure_indexes()  # the timeline holds feedback: counted from the next hour on
    counts = FeedbackCounts(store.db)
    assert counts.counted_from() > datetime.now(UTC)
    assert store.queries.aspects_by_touchpoint(*PERIODS[0]) == wanted[PERIODS[0]]  # read from the timeline
    first = counts.rebuild()
    assert counts.counted_from() == BEGINNING
    assert first["entries"] == 400
    assert store.db.timeline.count_documents({"kind": "feedback", "hour": {"$exists": False}}) == 0
    snapshot = sorted(store.db[COLLECTION].find(), key=lambda d: d["_id"])
    assert counts.rebuild() == {"documents": 0, "entries": 0}  # nothing left uncounted
    assert counts.rebuild(everything=True) == first  # recounting everything: the same documents
    assert sorted(store.db[COLLECTION].find(), key=lambda d: d["_id"]) == snapshot
    for p in PERIODS:
        assert store.queries.aspects_by_touchpoint(*p) == wanted[p]
        assert store.queries.score_trend(*p, "day", None, "Asia/Shanghai") == trends[p]
