"""Profiles recorded in batches (``Recorder.record_many``) on the real server.

A batch must leave exactly what recording its events one at a time leaves, in
fewer round trips; the unusual customers (aliased, erased) and a lost race go the
one-at-a-time way inside the batch.
"""

from __future__ import annotations

import pymongo
import pytest

from services.profiles.recordings import alert_recording, case_opened_recording, feedback_recording
from services.profiles.store import ProfileStore
from tests.commands import CommandLog
from tests.conftest import MONGO_URI
from tests.store.test_profiles import NOW, alert, case_opened, feedback, status

COMPARED = (
    "feedback_count",
    "alerts_total",
    "alert_counts",
    "channels",
    "aspect_counts",
    "latest",
    "identity",
    "open_cases",
)


@pytest.fixture
def counted(db_prefix):
    listener = CommandLog()
    client = pymongo.MongoClient(MONGO_URI, tz_aware=True, event_listeners=[listener])
    store = ProfileStore(client[f"{db_prefix}batched"])
    store.ensure_indexes()
    yield store, listener
    client.close()


@pytest.fixture
def one_by_one(mongo_client, db_prefix):
    store = ProfileStore(mongo_client[f"{db_prefix}single"])
    store.ensure_indexes()
    return store


def stream() -> list:
    """Several customers, some with several events in one batch, out of time order."""
    events = []
    for n in range(30):
        customer = f"C{n % 7}"
        who = {"name": f"客户{n}", "phone": f"1380000{n:04d}"} if n % 4 == 0 else None
        text = "快递太慢了，要退款" if n % 3 == 0 else None
        extra = {"comment": text} if text else {}
        events.append(
            feedback(n, customer, "app" if n % 2 else "wechat", days_ago=(n * 7) % 11 + 0.5, who=who, **extra)
        )
    return events


def view(store: ProfileStore, customer: str) -> dict:
    doc = store.db.profiles.find_one({"_id": customer}) or {}
    return {k: doc.get(k) for k in COMPARED}


def timeline(store: ProfileStore) -> list:
    return sorted((d["_id"], d["customer_id"]) for d in store.db.timeline.find({}, {"customer_id": 1}))


def words(store: ProfileStore) -> list:
    return sorted((d["_id"], sorted((d.get("terms") or {}).items())) for d in store.db.word_counts.find())


def test_a_batch_leaves_what_one_at_a_time_leaves_in_fewer_round_trips(counted, one_by_one):
    batched, listener = counted
    events = stream()
    for event in events:
        one_by_one.recorder.record_feedback(event)
    listener.commands.clear()
    profiles = batched.recorder.record_many([feedback_recording(e) for e in events])
    seen = list(listener.commands)
    for n in range(7):
        assert view(batched, f"C{n}") == view(one_by_one, f"C{n}")
    assert timeline(batched) == timeline(one_by_one)
    assert words(batched) == words(one_by_one)
    # each event answers its customer's profile as written by the batch
    assert [p["_id"] for p in profiles] == [e["customer"]["id"] for e in events]
    assert {p["_id"]: p["feedback_count"] for p in profiles} == {
        f"C{n}": view(one_by_one, f"C{n}")["feedback_count"] for n in range(7)
    }
    # one read, one timeline insert, one profile insert for 7 new customers, and the
    # word counts of every commented event in three (read, insert, update)
    profile_writes = [n for n in seen if n[1] == "profiles"]
    assert len(profile_writes) == 2, profile_writes  # the $in read (aggregate) and one insert
    assert sum(1 for n in seen if n[1] == "timeline") == 1
    assert sum(1 for n in seen if n[1] == "word_counts") <= 3, seen
    assert len(seen) <= 6, seen


def test_a_replayed_batch_counts_nothing_twice(counted):
    batched, listener = counted
    events = stream()
    batched.recorder.record_many([feedback_recording(e) for e in events])
    before = {n: view(batched, f"C{n}") for n in range(7)}
    before_words, before_timeline = words(batched), timeline(batched)
    listener.commands.clear()
    batched.recorder.record_many([feedback_recording(e) for e in events])  # a redelivered batch
    seen = list(listener.commands)
    assert {n: view(batched, f"C{n}") for n in range(7)} == before
    assert words(batched) == before_words and timeline(batched) == before_timeline
    # the replay changes no profile: no profile write at all
    assert not [n for n in seen if n in (("update", "profiles"), ("insert", "profiles"))], seen


def test_alerts_cases_and_milestones_in_one_batch_land_as_one_at_a_time(counted, one_by_one):
    batched, _ = counted
    recordings = lambda store: [  # noqa: E731
        feedback_recording(feedback(1, "C1", days_ago=3)),
        alert_recording(alert(1, "C1", days_ago=3)),
        case_opened_recording(case_opened("K1", "C1", days_ago=2.9)),
        store.recorder.case_status_recording(status("K1", "open", "assigned", 2.9)),
        alert_recording(alert(2, "C2", rule="refund", days_ago=1)),
        case_opened_recording(case_opened("K2", "C2", days_ago=0.9, title="退款")),
        store.recorder.case_status_recording(status("K2", "open", "assigned", 0.8, customer="C2")),
        store.recorder.case_status_recording(
            status(
                "K2",
                "assigned",
                "resolved",
                0.5,
                customer="C2",
                resolution={"root_cause": "billing_error", "first_contact_resolution": True},
            )
        ),
    ]
    for recording in recordings(one_by_one):
        one_by_one.recorder.record_many([recording])
    batched.recorder.record_many(recordings(batched))
    for customer in ("C1", "C2"):
        assert view(batched, customer) == view(one_by_one, customer)
    assert timeline(batched) == timeline(one_by_one)
    assert set(view(batched, "C1")["open_cases"]) == {"K1"} and not view(batched, "C2")["open_cases"]


def test_aliased_and_erased_customers_in_a_batch_go_the_one_at_a_time_way(counted):
    batched, _ = counted
    batched.recorder.record_feedback(feedback(1, "OLD", days_ago=5, who={"name": "王芳"}))
    batched.recorder.record_feedback(feedback(2, "NEW", days_ago=4))
    batched.identity.merge("NEW", "OLD", by="admin", reason="same person", now=NOW)
    batched.recorder.record_feedback(feedback(3, "GONE", days_ago=4, who={"name": "张三"}))
    batched.privacy.erase("GONE", by="dpo", request_ref="REQ-1", now=NOW)
    batched.recorder.record_many(
        [
            feedback_recording(feedback(10, "OLD", days_ago=1)),  # lands on the survivor
            feedback_recording(feedback(11, "GONE", days_ago=1, who={"name": "张三"}, comment="还是张三")),
            feedback_recording(feedback(12, "FRESH", days_ago=1)),
        ]
    )
    assert view(batched, "NEW")["feedback_count"] == 3
    assert batched.db.profiles.find_one({"_id": "OLD"}) is None
    entry = batched.db.timeline.find_one({"_id": {"$regex": "e11"}})
    assert entry["customer_id"] == "GONE" and "text" not in entry  # stored without personal data
    assert view(batched, "FRESH")["feedback_count"] == 1


def test_a_profile_write_lost_to_another_writer_is_redone_once(counted, monkeypatch):
    batched, _ = counted
    batched.recorder.record_feedback(feedback(1, "C1", days_ago=3))
    real = batched.recorder._load_plain

    rival = []

    def rival_writes_after_the_read(ids):
        loaded = real(ids)
        if not rival:  # once: another worker records C1 between this batch's read and write
            rival.append(True)
            batched.recorder.record_feedback(feedback(99, "C1", days_ago=2))
        return loaded

    monkeypatch.setattr(batched.recorder, "_load_plain", rival_writes_after_the_read)
    batched.recorder.record_many(
        [feedback_recording(feedback(2, "C1", days_ago=1)), feedback_recording(feedback(3, "C2", days_ago=1))]
    )
    assert view(batched, "C1")["feedback_count"] == 3  # 1, the rival's 99, and 2 redone
    assert view(batched, "C2")["feedback_count"] == 1


def test_a_case_opened_already_assigned_lists_the_move_once(counted):
    """cases announces the assignment at opening inside case_opened; the profile shows
    the same milestone a status change would have made, and a copy of that status
    change (an older cases replica) adds nothing."""
    batched, _ = counted
    opened = case_opened("K1", "C1", days_ago=2)
    assigned_at = opened["opened_at"]
    opened.update(
        status="assigned",
        assignment={
            "assignee": {"kind": "person", "id": "li.na"},
            "at": assigned_at,
            "by": "system",
            "reason": "owner",
        },
    )
    batched.recorder.record_case_opened(opened)
    kinds = sorted((d["kind"], d.get("to_status")) for d in batched.db.timeline.find())
    assert kinds == [("case_milestone", "assigned"), ("case_opened", None)]
    assert view(batched, "C1")["open_cases"]["K1"]["status"] == "assigned"
    batched.recorder.record_case_status(
        status("K1", "open", "assigned", 2)
    )  # the same move, as a status change
    assert batched.db.timeline.count_documents({}) == 2
    batched.recorder.record_case_status(status("K1", "assigned", "in_progress", 1))
    assert view(batched, "C1")["open_cases"]["K1"]["status"] == "in_progress"
