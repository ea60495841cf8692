"""The domain stores on the real server: idempotency and concurrency."""

import eventlet
import pytest

from contracts.feedback import parse_feedback
from services.common.mongo import Inbox
from services.profiles.store import ProfileStore


@pytest.fixture
def profiles(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    return store


def feedback(n, customer="C1", channel="app", nps=None):
    return parse_feedback({
        "schema_version": 1, "event_id": f"e{n}", "source": "load", "channel": channel,
        "occurred_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00+08:00",
        "customer": {"id": customer, "name": f"name-{n}"},
        "scores": {"nps": nps if nps is not None else n % 11}})


def test_inbox_claims_once_and_reruns_unfinished_work(db):
    inbox = Inbox(db.inbox, ("source", "event_id"))
    db.inbox.create_indexes([inbox.index()])
    msg = {"source": "s", "event_id": "1"}
    assert inbox.begin(msg) is True
    assert inbox.begin(msg) is True   # crashed before done: run again
    inbox.done(msg)
    assert inbox.begin(msg) is False  # finished: skip
    assert db.inbox.find_one()["attempts"] == 3


def test_100_events_for_one_customer_from_8_concurrent_workers_lose_nothing(profiles):
    events = [feedback(n, channel=("app", "web", "wechat")[n % 3]) for n in range(100)]
    pool = eventlet.GreenPool(8)
    # every event twice, interleaved: concurrency and replays at once
    for e in events + events[::-1]:
        pool.spawn(profiles.record_feedback, e)
    pool.waitall()
    p = profiles.get_profile("C1", timeline_limit=500)
    assert p["feedback_count"] == 100
    assert p["channels"] == {"app": 34, "web": 33, "wechat": 33}
    assert len(p["timeline"]) == 100
    newest = max(events, key=lambda e: e["occurred_at"])
    oldest = min(events, key=lambda e: e["occurred_at"])
    assert p["latest"]["nps"]["at"] == newest["occurred_at"]
    assert p["last_contact"]["at"] == newest["occurred_at"]
    assert p["first_contact"]["at"] == oldest["occurred_at"]
    # identity comes from one of the newest events (several share that timestamp)
    tied = {e["customer"]["name"] for e in events if e["occurred_at"] == newest["occurred_at"]}
    assert p["identity"]["name"] in tied
