"""The profile's running counters on the real server: after a mixed stream with resends,
concurrent writers, a merge and a crash between writes they equal a recount from the
timeline; ``recount`` repairs counters changed behind the store's back."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import eventlet

from contracts.feedback import parse_feedback
from services.profiles.profile import safe_key, timeline_entry
from services.profiles.store import ProfileStore
from services.profiles.words import EVERYONE, local_day, terms
from tests.store.test_profiles import NOW, alert, case_opened, status

COMMENTS = ["快递太慢了，等了一周", "客服态度很好，非常满意", "请问怎么退货？", "包装破损，很失望", ""]


def feedback(n: int, cid: str, channel: str) -> dict:
    body = {
        "schema_version": 1,
        "event_id": f"m{n}",
        "source": "mix",
        "channel": channel,
        "occurred_at": (NOW - timedelta(hours=n)).isoformat(),
        "customer": {"id": cid, "name": f"客户{cid}"},
        "scores": {"nps": n % 11},
    }
    if COMMENTS[n % len(COMMENTS)]:
        body["text"] = COMMENTS[n % len(COMMENTS)]
    return parse_feedback(body)


def recount_from_timeline(store: ProfileStore, cid: str) -> dict:
    entries = list(store.db.timeline.find({"customer_id": cid}))
    channels = Counter(safe_key(e["channel"]) for e in entries if e["kind"] == "feedback")
    rules = Counter(safe_key(e["rule_id"]) for e in entries if e["kind"] == "alert")
    aspects = Counter(
        a for e in entries if e["kind"] == "feedback" for a in (e.get("insight") or {}).get("aspects", [])
    )
    return {
        "feedback_count": sum(channels.values()),
        "channels": dict(channels),
        "aspect_counts": dict(aspects),
        "alerts_total": sum(rules.values()),
        "alert_counts": dict(rules),
    }


def counters(store: ProfileStore, cid: str) -> dict:
    doc = store.db.profiles.find_one({"_id": cid})
    return {
        "feedback_count": doc.get("feedback_count", 0),
        "channels": doc.get("channels") or {},
        "aspect_counts": doc.get("aspect_counts") or {},
        "alerts_total": doc.get("alerts_total", 0),
        "alert_counts": doc.get("alert_counts") or {},
    }


def words_from_timeline(store: ProfileStore, scope: str) -> Counter:
    query = {"kind": "feedback"} if scope == EVERYONE else {"kind": "feedback", "customer_id": scope}
    return Counter(t for e in store.db.timeline.find(query) for t in terms(e))


def words_stored(store: ProfileStore, scope: str) -> Counter:
    out: Counter = Counter()
    rows = store.queries.words.frequency(scope, local_day(NOW - timedelta(days=30)), local_day(NOW), 1000)
    out.update({f"w:{r['word']}": r["count"] for r in rows["keywords"]})
    out.update({f"c:{k}": n for k, n in rows["categories"].items()})
    return out


def test_counters_equal_a_recount_after_a_mixed_stream_with_resends_and_a_merge(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    rng = random.Random(11)
    customers = ["P1", "P2", "P3", "P4"]
    messages = []
    for n in range(60):
        cid = customers[n % 4]
        messages.append((store.recorder.record_feedback, feedback(n, cid, ("app", "wechat", "web")[n % 3])))
        if n % 3 == 0:
            messages.append(
                (store.recorder.record_alert, alert(n, cid, rule=("detractor", "refund.keyword")[n % 2]))
            )
        if n % 10 == 0:
            messages.append((store.recorder.record_case_opened, case_opened(f"K{n}", cid)))
            messages.append(
                (store.recorder.record_case_status, status(f"K{n}", "open", "assigned", 0.5, customer=cid))
            )
    stream = messages + rng.sample(messages, 40)  # resends
    rng.shuffle(stream)
    pool = eventlet.GreenPool(8)
    for i, (record, message) in enumerate(stream):
        pool.spawn(record, message)
        if i == len(stream) // 2:
            pool.spawn(store.identity.merge, "P1", "P4", by="x", reason="same person", now=NOW)
    pool.waitall()

    for cid in ("P1", "P2", "P3"):
        assert counters(store, cid) == recount_from_timeline(store, cid), cid
        assert words_stored(store, cid) == words_from_timeline(store, cid), cid
    assert store.db.profiles.find_one({"_id": "P4"}) is None
    assert counters(store, "P1")["feedback_count"] == 30  # P1's and P4's 15 each, none twice
    assert words_stored(store, EVERYONE) == words_from_timeline(store, EVERYONE)
    assert store.recorder.recount("P1")["changed"] == {}  # nothing to repair


def test_a_crash_between_the_timeline_and_the_profile_counts_the_event_once_on_retry(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    first, second = feedback(1, "Q", "app"), feedback(2, "Q", "web")
    store.recorder.record_feedback(first)
    # the worker died after writing the timeline entry of ``second``, before its profile write
    store.db.timeline.insert_one(timeline_entry(second, "Q"))
    assert store.db.profiles.find_one({"_id": "Q"})["feedback_count"] == 1
    store.recorder.record_feedback(second)  # the redelivery
    store.recorder.record_feedback(second)  # and a resend after it was recorded
    assert counters(store, "Q") == recount_from_timeline(store, "Q")
    assert counters(store, "Q")["channels"] == {"app": 1, "web": 1}


def test_recount_repairs_counters_and_word_counts_changed_behind_the_stores_back(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    for n in range(6):
        store.recorder.record_feedback(feedback(n, "R", ("app", "web")[n % 2]))
    store.recorder.record_alert(alert(1, "R"))
    expected = recount_from_timeline(store, "R")
    words = words_stored(store, "R")
    store.db.profiles.update_one({"_id": "R"}, {"$set": {"feedback_count": 99, "channels": {"app": 1}}})
    store.db.word_counts.delete_many({"scope": "R"})
    out = store.recorder.recount("R")
    assert out["changed"] == {
        "feedback_count": [99, 6],
        "channels": [{"app": 1}, {"app": 3, "web": 3}],
    }
    assert counters(store, "R") == expected and words_stored(store, "R") == words
    # an event recorded after the repair still counts once, a resend not at all
    store.recorder.record_feedback(feedback(7, "R", "app"))
    store.recorder.record_feedback(feedback(7, "R", "app"))
    store.recorder.record_feedback(feedback(3, "R", "web"))
    assert counters(store, "R")["feedback_count"] == 7 == recount_from_timeline(store, "R")["feedback_count"]


def test_markers_are_kept_for_a_bounded_time(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    store.recorder.record_feedback(feedback(1, "T", "app"))
    old = datetime.now(UTC).timestamp() - 40 * 86400
    store.db.profiles.update_one({"_id": "T"}, {"$set": {"applied": {"0123456789abcdef": old}}})
    store.recorder.record_feedback(feedback(2, "T", "app"))
    applied = store.db.profiles.find_one({"_id": "T"})["applied"]
    assert "0123456789abcdef" not in applied and len(applied) == 1
