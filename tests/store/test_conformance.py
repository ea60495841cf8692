"""Store conformance: every query and update shape the services use.

Runs against whatever MONGO_URI points at: the embedded server in CI, or a
real MongoDB (``MONGO_URI=mongodb://... pytest tests/store``). The shapes are
the portable subset described in docs/store.md; each test names the service
code that relies on it.
"""

from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.mongo import all_of

T1 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)


def test_compound_unique_index_raises_duplicate_key(db):
    """Inbox (source, event_id) idempotency key."""
    db.inbox.create_indexes(
        [IndexModel([("source", ASCENDING), ("event_id", ASCENDING)], unique=True, name="idempotency_key")]
    )
    db.inbox.insert_one({"source": "a", "event_id": "1", "state": "processing"})
    db.inbox.insert_one({"source": "b", "event_id": "1"})
    with pytest.raises(DuplicateKeyError):
        db.inbox.insert_one({"source": "a", "event_id": "1"})
    assert db.inbox.count_documents({}) == 2


def test_find_one_and_update_with_inc_and_current_date(db):
    """Inbox.begin on a redelivery; $currentDate keeps a real datetime."""
    db.inbox.insert_one({"_id": 1, "attempts": 1, "state": "processing"})
    before = db.inbox.find_one_and_update(
        {"_id": 1}, {"$inc": {"attempts": 1}, "$currentDate": {"last_seen_at": True}}
    )
    assert before["attempts"] == 1
    doc = db.inbox.find_one({"_id": 1})
    assert doc["attempts"] == 2 and isinstance(doc["last_seen_at"], datetime)


def test_datetimes_round_trip_through_every_write_shape_we_use(db):
    """insert, replace, $setOnInsert, and $set of a subdocument holding a datetime."""
    db.d.insert_one({"_id": "i", "at": T1})
    db.d.replace_one({"_id": "r"}, {"at": T1}, upsert=True)
    db.d.update_one({"_id": "s"}, {"$setOnInsert": {"at": T1}, "$inc": {"n": 1}}, upsert=True)
    db.d.insert_one({"_id": "sub"})
    db.d.update_one(
        {"_id": "sub"}, {"$set": {"assignment": {"at": T1, "by": "x"}, "latest.nps": {"value": 3, "at": T2}}}
    )
    for doc in db.d.find({"_id": {"$in": ["i", "r", "s"]}}):
        assert doc["at"] == T1, doc
    sub = db.d.find_one({"_id": "sub"})
    assert sub["assignment"]["at"] == T1 and sub["latest"]["nps"]["at"] == T2


def test_latest_wins_guard_on_a_subdocument_timestamp(db):
    """Profiles: latest score / identity / last contact only move forward in time."""
    db.p.insert_one({"_id": "c"})

    def set_if_newer(at, value):
        return db.p.update_one(
            {"_id": "c", "$or": [{"latest.nps.at": {"$lte": at}}, {"latest.nps.at": {"$exists": False}}]},
            {"$set": {"latest.nps": {"value": value, "at": at}}},
        ).matched_count

    assert set_if_newer(T1, 5) == 1
    assert set_if_newer(T2, 2) == 1
    assert set_if_newer(T1, 9) == 0  # an older event arriving late changes nothing
    assert set_if_newer(T2, 2) == 1  # a replay is harmless
    assert db.p.find_one({"_id": "c"})["latest"]["nps"] == {"value": 2, "at": T2}
    # the "first contact" guard is the mirror image
    for at in (T2, T1, T2):
        db.p.update_one(
            {"_id": "c", "$or": [{"first.at": {"$gt": at}}, {"first.at": {"$exists": False}}]},
            {"$set": {"first": {"at": at}}},
        )
    assert db.p.find_one({"_id": "c"})["first"]["at"] == T1


def test_max_on_integers_with_dotted_paths_on_an_existing_document(db):
    """Profiles: counts from the timeline applied with $max (order-independent)."""
    db.p.update_one({"_id": "c"}, {"$setOnInsert": {"created_at": T1, "feedback_count": 0}}, upsert=True)
    for n in (3, 5, 4):
        db.p.update_one(
            {"_id": "c"},
            {
                "$max": {"feedback_count": n, "channels.wechat": n - 1, "alert_counts.nps-detractor": 1},
                "$currentDate": {"updated_at": True},
            },
        )
    doc = db.p.find_one({"_id": "c"})
    assert doc["feedback_count"] == 5
    assert doc["channels"] == {"wechat": 4}
    assert doc["alert_counts"] == {"nps-detractor": 1}
    assert doc["created_at"] == T1


def test_keyed_subdocuments_instead_of_arrays(db):
    """Profiles: open cases as open_cases.<case_id>, removed with $unset."""
    db.p.insert_one({"_id": "c"})
    for case in ("CASE-A", "CASE-B", "CASE-A"):
        db.p.update_one({"_id": "c"}, {"$set": {f"open_cases.{case}": {"level": "P2", "opened_at": T1}}})
    db.p.update_one({"_id": "c"}, {"$unset": {"open_cases.CASE-A": ""}})
    assert db.p.find_one({"_id": "c"})["open_cases"] == {"CASE-B": {"level": "P2", "opened_at": T1}}


def test_conditional_claim_with_ne_on_an_initialised_field(db):
    """Cases.assign: a no-op when the case already has that assignee."""
    db.cases.insert_one({"_id": "k", "assignee_key": "", "status": "open"})

    def assign(key):
        return db.cases.find_one_and_update(
            {"_id": "k", "assignee_key": {"$ne": key}},
            {"$set": {"assignee_key": key, "status": "assigned", "assignment": {"at": T1, "by": "system"}}},
            return_document=ReturnDocument.AFTER,
        )

    assert assign("person:a")["assignee_key"] == "person:a"
    assert assign("person:a") is None
    assert assign("team:b")["assignee_key"] == "team:b"


def test_upsert_with_set_on_insert_and_inc(db):
    """Notify delivery log: attempts counted across retries."""
    for _ in range(3):
        db.deliveries.update_one(
            {"_id": "d1"},
            {
                "$set": {"status": "sending", "channel": "email"},
                "$currentDate": {"updated_at": True},
                "$setOnInsert": {"created_at": T1},
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )
    doc = db.deliveries.find_one({"_id": "d1"})
    assert doc["attempts"] == 3 and doc["created_at"] == T1


def test_filters_sort_skip_limit(db):
    """list_alerts / list_cases / timeline paging."""
    db.a.create_indexes([IndexModel([("customer.id", ASCENDING), ("raised_at", DESCENDING)])])
    db.a.insert_many(
        [
            {
                "_id": i,
                "level": f"P{1 + i % 4}",
                "customer": {"id": f"C{i % 3}"},
                "raised_at": T1 + timedelta(minutes=i),
                "status": "open",
            }
            for i in range(20)
        ]
    )
    page = list(db.a.find({"customer.id": "C1"}).sort("raised_at", DESCENDING).skip(1).limit(3))
    assert [d["_id"] for d in page] == [16, 13, 10]
    both = db.a.find({"level": "P2"}).sort([("level", ASCENDING), ("raised_at", DESCENDING)])
    assert [d["_id"] for d in both] == [17, 13, 9, 5, 1]
    assert db.a.count_documents({"customer.id": "C0", "level": "P1"}) == 2
    assert [d["_id"] for d in db.a.find({"_id": {"$in": [3, 4, 99]}}).sort("_id", 1)] == [3, 4]
    assert db.a.count_documents({"raised_at": {"$gte": T1 + timedelta(minutes=18)}}) == 2


def test_group_counts_on_one_field(db):
    """stats(): alerts by level, cases by owner (missing owner groups as None)."""
    db.a.insert_many([{"level": "P1", "owner": "a"}, {"level": "P1", "owner": "b"}, {"level": "P3"}])
    by_level = {r["_id"]: r["n"] for r in db.a.aggregate([{"$group": {"_id": "$level", "n": {"$sum": 1}}}])}
    assert by_level == {"P1": 2, "P3": 1}
    by_owner = {
        r["_id"]: r["n"]
        for r in db.a.aggregate(
            [{"$match": {"level": "P1"}}, {"$group": {"_id": "$owner", "n": {"$sum": 1}}}]
        )
    }
    assert by_owner == {"a": 1, "b": 1}
    missing = {r["_id"]: r["n"] for r in db.a.aggregate([{"$group": {"_id": "$owner", "n": {"$sum": 1}}}])}
    assert missing[None] == 1


def test_concurrent_claims_never_double_claim(db):
    """The claim shape future timers use: find_one_and_update by 20 green threads."""
    db.jobs.insert_many([{"_id": i, "state": "due"} for i in range(60)])
    claimed = []

    def worker(name):
        while True:
            job = db.jobs.find_one_and_update({"state": "due"}, {"$set": {"state": "claimed", "by": name}})
            if job is None:
                return
            claimed.append(job["_id"])

    pool = eventlet.GreenPool(20)
    for n in range(20):
        pool.spawn(worker, n)
    pool.waitall()
    assert sorted(claimed) == list(range(60))


def test_guarded_set_and_unset_of_keyed_subdocuments_in_one_update(db):
    """Profiles: a case's newest status wins and (un)lists it in ``open_cases``, atomically."""
    db.p.insert_one({"_id": "C1"})

    def apply(at, status, open_entry):
        update = {"$set": {"case_state.K1": {"status": status, "at": at}}}
        if open_entry:
            update["$set"]["open_cases.K1"] = open_entry
        else:
            update["$unset"] = {"open_cases.K1": ""}
        guard = {"$or": [{"case_state.K1.at": {"$lte": at}}, {"case_state.K1.at": {"$exists": False}}]}
        return db.p.update_one(all_of({"_id": "C1"}, guard), update).matched_count

    assert apply(T2, "closed", None) == 1
    assert apply(T1, "open", {"level": "P2"}) == 0  # older: ignored
    doc = db.p.find_one({"_id": "C1"})
    assert doc["case_state"]["K1"]["status"] == "closed" and "K1" not in doc.get("open_cases", {})
    assert isinstance(doc["case_state"]["K1"]["at"], datetime)
    assert apply(T2 + timedelta(hours=1), "reopened", {"level": "P2", "flag": True}) == 1
    assert db.p.find_one({"_id": "C1"})["open_cases"]["K1"] == {"level": "P2", "flag": True}


def test_update_many_moves_and_unsets_and_array_membership_queries(db):
    """Profiles: a merge moves timeline entries; erase unsets texts; audit by customer_ids."""
    db.t.insert_many([{"_id": i, "customer_id": "B", "text": "x", "tags": ["a"]} for i in range(3)])
    assert db.t.update_many({"customer_id": "B"}, {"$set": {"customer_id": "A"}}).modified_count == 3
    db.t.update_many({"customer_id": "A"}, {"$unset": {"text": "", "tags": "", "absent": ""}})
    assert db.t.find_one({"_id": 0}) == {"_id": 0, "customer_id": "A"}
    db.audit.insert_one({"_id": "m", "customer_ids": ["A", "B"]})
    assert db.audit.count_documents({"customer_ids": "B"}) == 1


def test_in_with_datetime_range_and_dotted_datetime_sort(db):
    """Profiles: rolling-score windows, the nps_drop and no_contact segments."""
    db.t.insert_many(
        [
            {"_id": i, "c": f"C{i % 3}", "at": T1 + timedelta(days=i), "last": {"at": T1 - timedelta(days=i)}}
            for i in range(9)
        ]
    )
    rows = db.t.find({"c": {"$in": ["C0", "C1"]}, "at": {"$gt": T1, "$lte": T1 + timedelta(days=6)}})
    assert sorted(r["_id"] for r in rows) == [1, 3, 4, 6]
    rows = db.t.find({"last.at": {"$lte": T1 - timedelta(days=5)}}).sort([("last.at", ASCENDING)]).limit(2)
    assert [r["_id"] for r in rows] == [8, 7]


def test_booleans_inside_subdocuments_stay_booleans(db):
    """Profiles keep flags inside inserted documents or subdocuments (see docs/store.md)."""
    db.p.insert_one({"_id": 1, "flag": True})
    db.p.update_one({"_id": 1}, {"$set": {"sub": {"flag": True}}})
    doc = db.p.find_one({"_id": 1})
    assert doc["flag"] is True and doc["sub"]["flag"] is True


def test_guarded_update_changes_only_the_named_document(db):
    """Profiles: every timestamp guard (latest wins) is ``$and: [{_id}, {$or: [...]}]``."""
    db.p.insert_many([{"_id": f"C{i}"} for i in range(4)])
    guard = {"$or": [{"x.at": {"$lte": T1}}, {"x.at": {"$exists": False}}]}
    assert db.p.update_one({"$and": [{"_id": "C2"}, guard]}, {"$set": {"x": {"at": T1}}}).matched_count == 1
    assert [d["_id"] for d in db.p.find({"x": {"$exists": True}})] == ["C2"]
    older = {"$or": [{"x.at": {"$lte": T1 - timedelta(hours=1)}}, {"x.at": {"$exists": False}}]}
    assert db.p.update_one({"$and": [{"_id": "C2"}, older]}, {"$set": {"x": {"at": T1}}}).matched_count == 0


def test_or_beside_other_keys_is_always_wrapped_in_and(db):
    """all_of(): nx-27017 reads {"_id": x, "$or": [a, b]} as (_id = x AND a) OR b."""
    db.p.insert_many([{"_id": "A"}, {"_id": "B"}, {"_id": "C", "state": "done", "due": 1}])
    guard = {"$or": [{"last.at": {"$lte": T1}}, {"last.at": {"$exists": False}}]}
    db.p.update_one(all_of({"_id": "B"}, guard), {"$set": {"last": {"at": T1}}})
    assert [d["_id"] for d in db.p.find({"last": {"$exists": True}})] == ["B"]
    due = all_of({"due": {"$lte": 5}}, {"$or": [{"state": "waiting"}, {"state": {"$exists": False}}]})
    assert list(db.p.find(due)) == []
    assert all_of({"a": 1}) == {"a": 1} and all_of({}, {"b": 2}) == {"b": 2}


def test_due_delivery_claim_with_in_range_and_lease(db):
    """NotifyStore.claim_due: status $in, epoch-number ranges, oldest first, lease set atomically."""
    db.deliveries.insert_many(
        [
            {"_id": "late", "status": "scheduled", "next_attempt_at": 50.0, "lease_until": 0},
            {"_id": "early", "status": "held", "next_attempt_at": 10.0, "lease_until": 0},
            {"_id": "future", "status": "scheduled", "next_attempt_at": 500.0, "lease_until": 0},
            {"_id": "done", "status": "delivered", "next_attempt_at": 1.0, "lease_until": 0},
            {"_id": "leased", "status": "sending", "next_attempt_at": 1.0, "lease_until": 160.0},
        ]
    )

    def claim(now):
        doc = db.deliveries.find_one_and_update(
            {
                "status": {"$in": ["scheduled", "held", "sending"]},
                "next_attempt_at": {"$lte": now},
                "lease_until": {"$lt": now},
            },
            {"$set": {"status": "sending", "lease_until": now + 60}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return doc and (doc["_id"], doc["lease_until"])

    assert claim(100.0) == ("early", 160.0)
    assert claim(100.0) == ("late", 160.0)
    assert claim(100.0) is None  # future not due, delivered final, leased held
    assert claim(161.0) == ("leased", 221.0)  # an expired lease is taken over
    # settle only under one's own lease (a float equality filter)
    assert (
        db.deliveries.update_one(
            {"_id": "early", "lease_until": 999.0}, {"$set": {"status": "x"}}
        ).modified_count
        == 0
    )
    assert (
        db.deliveries.update_one(
            {"_id": "early", "lease_until": 160.0}, {"$set": {"status": "delivered"}}
        ).modified_count
        == 1
    )


def test_a_bucket_raised_with_max_then_moved_by_a_conditional_inc(db):
    """NotifyStore.take_token: ``$max`` on a number (upserting the bucket), then ``$inc``
    only while the number is within a bound, in ``find_one_and_update``."""
    db.rate_buckets.update_one({"_id": "hook"}, {"$max": {"tat": 100.0}}, upsert=True)
    db.rate_buckets.update_one({"_id": "hook"}, {"$max": {"tat": 90.0}}, upsert=True)  # never lowers it
    assert db.rate_buckets.find_one({"_id": "hook"})["tat"] == 100.0
    took = [
        db.rate_buckets.find_one_and_update({"_id": "hook", "tat": {"$lte": 101.0}}, {"$inc": {"tat": 0.5}})
        for _ in range(4)
    ]
    assert [t is not None for t in took] == [True, True, True, False]
    assert db.rate_buckets.find_one({"_id": "hook"})["tat"] == 101.5


def test_compare_and_set_on_an_epoch_number(db):
    """A compare-and-set on an epoch number (settling a delivery only while its lease holds)."""
    db.rate_buckets.insert_one({"_id": "wecom|hook", "tat": 100.0})
    assert (
        db.rate_buckets.update_one(
            {"_id": "wecom|hook", "tat": 100.0}, {"$set": {"tat": 103.0}}
        ).modified_count
        == 1
    )
    assert (
        db.rate_buckets.update_one(
            {"_id": "wecom|hook", "tat": 100.0}, {"$set": {"tat": 106.0}}
        ).modified_count
        == 0
    )
    assert db.rate_buckets.find_one({"_id": "wecom|hook"})["tat"] == 103.0


def test_datetime_range_in_find_uses_whole_second_bounds(db):
    """cases.metrics: ``find`` with whole-second bounds, exact bounds applied in Python.

    nx-27017 0.8.1: ``find({"at": {"$lt": bound}})`` misses a stored datetime in the
    same second as a fractional bound (``count_documents`` finds it).
    """
    at = T1.replace(microsecond=223000)
    db.c.insert_one({"_id": 1, "at": at})
    since, until = at - timedelta(hours=1, seconds=-0.6), at + timedelta(seconds=0.6)
    assert db.c.count_documents({"at": {"$gte": since, "$lt": until}}) == 1
    low, high = (
        since.replace(microsecond=0) - timedelta(seconds=1),
        until.replace(microsecond=0) + timedelta(seconds=2),
    )
    rows = [d for d in db.c.find({"at": {"$gte": low, "$lt": high}}) if since <= d["at"] < until]
    assert [d["_id"] for d in rows] == [1]


def test_projection_of_top_level_fields_nests_as_stored(db):
    """cases.metrics projects whole top-level fields (a dotted projection comes back flat on nx-27017)."""
    db.p.insert_one({"_id": 1, "sla": {"clocks": {"met": False}}, "other": "x"})
    assert db.p.find_one({}, {"sla": 1}) == {"_id": 1, "sla": {"clocks": {"met": False}}}


def test_null_or_missing_inside_or_via_in(db):
    """list_cases visibility: ``{"team": {"$in": [..., None]}}`` inside ``$or`` matches a
    missing or null field on both servers (a bare ``{"f": None}`` inside ``$or`` misses an
    explicit null on nx-27017)."""
    db.n.insert_many(
        [{"_id": 1, "team": None, "k": ""}, {"_id": 2, "k": ""}, {"_id": 3, "team": "a", "k": ""}]
    )
    query = {"$or": [{"k": "", "team": {"$in": ["b", None]}}, {"_id": 99}]}
    assert sorted(d["_id"] for d in db.n.find(query)) == [1, 2]
    assert sorted(d["_id"] for d in db.n.find({"$nor": [{"team": "a"}]})) == [1, 2]


def test_time_ordered_paging_with_an_index_on_time_and_ties_broken_by_id(db):
    """Alerts history pages for backtests: sorted by (at, _id), index on ``at`` only
    (a compound index naming ``_id`` makes every insert fail on nx-27017)."""
    db.history.create_indexes([IndexModel([("at", ASCENDING)], name="at")])
    db.history.insert_many(
        [{"_id": k, "at": at} for k, at in [("b", 2.0), ("a", 2.0), ("c", 1.5), ("d", 3.0)]]
    )
    first = list(
        db.history.find({"at": {"$gte": 1.0, "$lt": 3.0}})
        .sort([("at", ASCENDING), ("_id", ASCENDING)])
        .limit(2)
    )
    assert [d["_id"] for d in first] == ["c", "a"]
    after = all_of(
        {"at": {"$gte": 1.0, "$lt": 3.0}}, {"$or": [{"at": {"$gt": 2.0}}, {"at": 2.0, "_id": {"$gt": "a"}}]}
    )
    assert [d["_id"] for d in db.history.find(after).sort([("at", ASCENDING), ("_id", ASCENDING)])] == ["b"]


def test_revision_conditional_replace_of_a_whole_document(db):
    """Profiles: a profile is written back only if its revision is the one read."""
    db.p.insert_one({"_id": "C1", "rev": 1, "last": {"at": T1}, "flag": True, "counts": {"快递": 1}})
    assert db.p.replace_one(
        {"_id": "C1", "rev": 1}, {"rev": 2, "last": {"at": T2}, "flag": True}
    ).matched_count
    assert db.p.replace_one({"_id": "C1", "rev": 1}, {"rev": 2, "lost": 1}).matched_count == 0
    doc = db.p.find_one({"_id": "C1"})
    assert doc == {"_id": "C1", "rev": 2, "last": {"at": T2}, "flag": True}


def test_marker_guarded_inc_counts_an_event_once_with_ascii_paths_only(db):
    """Word counts, alert hits: ``$inc`` guarded by the event's marker, set in the same update.

    nx-27017 0.8.1 silently ignores ``$inc`` on a dotted path holding non-ASCII
    characters (``$set`` works), so term keys are hex-encoded (docs/store.md).
    """
    db.w.insert_one({"_id": "d", "terms": {"w5feb": 1}, "applied": {"m1": 1}})
    update = {"$inc": {"terms.w5feb": 1, "terms.cab": 1}, "$set": {"applied.m2": ["w5feb", "cab"]}}
    assert db.w.update_one({"_id": "d", "applied.m2": {"$exists": False}}, update).matched_count == 1
    assert db.w.update_one({"_id": "d", "applied.m2": {"$exists": False}}, update).matched_count == 0
    doc = db.w.find_one({"_id": "d"})
    assert doc["terms"] == {"w5feb": 2, "cab": 1} and doc["applied"]["m2"] == ["w5feb", "cab"]


def test_a_document_and_its_alias_in_one_round_trip(db):
    """Profiles ``_load``: the profile and its alias by ``_id`` through ``$unionWith``."""
    db.profiles.insert_many([{"_id": "A", "n": 1}, {"_id": "B", "n": 2}])
    db.aliases.insert_one({"_id": "B", "survivor": "A", "state": "done"})

    def load(key):
        pipeline = [
            {"$match": {"_id": key}},
            {
                "$unionWith": {
                    "coll": "aliases",
                    "pipeline": [{"$match": {"_id": key}}, {"$project": {"survivor": 1}}],
                }
            },
        ]
        return sorted(db.profiles.aggregate(pipeline), key=lambda d: "survivor" in d)

    assert load("A") == [{"_id": "A", "n": 1}]
    assert load("B") == [{"_id": "B", "n": 2}, {"_id": "B", "survivor": "A"}]
    assert load("C") == []


def test_inc_upsert_creates_a_counter(db):
    """Cases ``move_load``: one upsert both creates and charges an agent's load."""
    db.agent_load.update_one({"_id": "li.na"}, {"$inc": {"load": 4}}, upsert=True)
    db.agent_load.update_one({"_id": "li.na"}, {"$inc": {"load": -1}}, upsert=True)
    assert db.agent_load.find_one({"_id": "li.na"}) == {"_id": "li.na", "load": 3}


def test_a_period_ranges_over_epoch_seconds_to_the_millisecond(db):
    """Playbook uses in [since, until) (``PlaybookLibrary.uses_between``): the range is on
    the epoch twin ``at_ts``, exact below a second. (The embedded store's ``find``
    compares dates at whole seconds: a date range with both ends inside one second
    finds nothing there, so no period query here ranges over dates.)"""
    from services.cases.stores.playbooks import PlaybookLibrary

    library = PlaybookLibrary(db)
    for name, models in library.indexes().items():
        db[name].create_indexes(models)
    at = datetime(2026, 12, 6, 7, 0, 0, 640000, tzinfo=UTC)
    for n, delta in enumerate((0, 30, 40)):  # ms after ``at``
        library.record_use({"_id": f"u{n}", "at": at + timedelta(milliseconds=delta), "case_id": "c"})
    found = library.uses_between(at, at + timedelta(milliseconds=33))
    assert [u["_id"] for u in found] == ["u0", "u1"]
    assert (
        library.uses_between(at + timedelta(milliseconds=1), at + timedelta(milliseconds=41))[0]["_id"]
        == "u1"
    )


def test_incident_lookups_and_the_conditional_child_link(db):
    """cases: the open-incident lookup by term (``incident_terms``: keyed subdocuments set
    and unset on documents read by ``_id`` $in), covered cases by a dotted attribute with
    mixed stored types, ``parent_id`` null or missing, ``kind`` $ne on a missing field,
    and the link as a conditional ``update_many`` (services/cases/stores/incidents.py)."""
    db.cases.create_indexes([IndexModel([("parent_id", ASCENDING)], name="parent_id", sparse=True)])
    db.incident_terms.insert_many([{"_id": "attributes.store=门店7", "incidents": {"a1": "I1"}}])
    db.incident_terms.update_many(
        {"_id": {"$in": ["attributes.store=门店7"]}}, {"$set": {"incidents.b2": "I2"}}
    )
    db.incident_terms.update_many(
        {"_id": {"$in": ["attributes.store=门店7"]}}, {"$unset": {"incidents.a1": ""}}
    )
    [doc] = db.incident_terms.find({"_id": {"$in": ["attributes.store=门店7", "channel=app"]}})
    assert doc["incidents"] == {"b2": "I2"}
    db.cases.insert_many(
        [
            {"_id": "A", "status": "assigned", "parent_id": None, "event": {"attributes": {"store": 7}}},
            {"_id": "B", "status": "open", "event": {"attributes": {"store": "7"}}},  # no parent_id field
            {"_id": "C", "status": "assigned", "parent_id": "I0", "event": {"attributes": {"store": "7"}}},
            {"_id": "D", "status": "resolved", "parent_id": None, "event": {"attributes": {"store": "7"}}},
            {"_id": "E", "status": "assigned", "parent_id": None, "event": {"attributes": {"store": "8"}}},
            {"_id": "I", "kind": "incident", "status": "assigned", "parent_id": None,
             "event": {"attributes": {"store": "7"}}},
        ]
    )  # fmt: skip
    covered = {
        "status": {"$in": ["open", "assigned"]},
        "kind": {"$ne": "incident"},
        "parent_id": None,
        "event.attributes.store": {"$in": ["7", 7, 7.0]},
    }
    assert sorted(c["_id"] for c in db.cases.find(covered)) == ["A", "B"]
    link = {"_id": {"$in": ["A", "B", "C", "D"]}, "parent_id": None, "status": {"$in": ["open", "assigned"]}}
    assert db.cases.update_many(link, {"$set": {"parent_id": "I1"}}).modified_count == 2
    assert db.cases.update_many(link, {"$set": {"parent_id": "I9"}}).modified_count == 0  # linked once
    assert sorted(c["_id"] for c in db.cases.find({"parent_id": {"$in": ["I1"]}})) == ["A", "B"]


def test_match_and_count_over_plain_conditions_with_in_nin_and_null(db):
    """The console queue (services/cases/queue.py, stores/queries.CaseQueries.queue):
    disjoint plain conditions counted with $match + $count, $in / $nin holding None,
    a null-or-missing equality, epoch ranges, and a merged page read by id."""
    db.cases.insert_many(
        [
            {"_id": "c1", "assignee_key": "person:a", "team": "t1", "status": "assigned", "due": 10.0},
            {"_id": "c2", "assignee_key": "team:t1", "team": "t1", "status": "open", "due": None},
            {"_id": "c3", "assignee_key": "", "status": "open", "due": 30.0},  # no team field
            {"_id": "c4", "assignee_key": "", "team": "t2", "status": "resolved", "due": 5.0},
            {"_id": "c5", "assignee_key": "person:b", "team": "t2", "status": "open"},  # no due field
        ]
    )

    def count(query):
        found = list(db.cases.aggregate([{"$match": query}, {"$count": "n"}]))
        return found[0]["n"] if found else 0

    assert count({"assignee_key": {"$in": ["person:a", "team:t1"]}}) == 2
    assert count({"assignee_key": "", "team": {"$in": ["t1", None]}}) == 1  # c3: a missing team
    assert count({"assignee_key": {"$nin": ["person:a", "team:t1", ""]}}) == 1
    assert count({"assignee_key": "", "team": {"$nin": ["t1", None]}}) == 1  # c4
    assert count({"due": None, "status": {"$in": ["open", "assigned"]}}) == 2  # c2 null, c5 missing
    assert count({"due": {"$lte": 20.0}, "status": {"$in": ["open", "assigned"]}}) == 1
    assert count({"due": {"$gt": 20.0}}) == 1
    assert count({"status": "closed"}) == 0  # no group at all: an empty answer
    page = [c["_id"] for c in db.cases.find({"_id": {"$in": ["c5", "c1"]}}, {"team": 1})]
    assert sorted(page) == ["c1", "c5"]


def test_aggregate_match_on_equalities_then_sort_on_a_datetime(db):
    """Profiles' timeline page and rolling-score entries (queries.get_profile,
    _recent_entries) and word counts (words.frequency): ``aggregate`` with a ``$match`` of
    equalities (nx-27017 reads it by the index; its ``find`` on the same filter scans),
    sorted by a stored datetime (whole-second and fractional values alike), paged with
    ``$skip``/``$limit``; a range of ISO day strings inside ``$match``. Datetime bounds
    are applied in Python: a datetime range inside ``$match`` is not compared as time there."""
    db.t.create_indexes([IndexModel([("customer_id", ASCENDING), ("kind", ASCENDING), ("at", ASCENDING)])])
    rows = [
        {"_id": f"e{i}", "customer_id": "a" if i % 2 == 0 else "b", "kind": "feedback" if i % 3 else "alert",
         "at": T1 + timedelta(hours=i, microseconds=(i * 137_000) % 1_000_000)}
        for i in range(12)
    ]  # fmt: skip
    rows.append({"_id": "w", "customer_id": "a", "kind": "feedback", "at": T1 + timedelta(hours=4)})
    db.t.insert_many(rows)
    newest = [{"$match": {"customer_id": "a"}}, {"$sort": {"at": DESCENDING, "_id": ASCENDING}}]
    assert [d["_id"] for d in db.t.aggregate(newest)] == ["e10", "e8", "e6", "e4", "w", "e2", "e0"]
    paged = [d["_id"] for d in db.t.aggregate([*newest, {"$skip": 2}, {"$limit": 2}])]
    assert paged == ["e6", "e4"]
    feedback = [{"$match": {"customer_id": "a", "kind": "feedback"}}, {"$sort": {"at": DESCENDING}}]
    found = list(db.t.aggregate(feedback))
    assert [d["_id"] for d in found] == ["e10", "e8", "e4", "w", "e2"]
    assert all(isinstance(d["at"], datetime) for d in found) and found[3]["at"] == T1 + timedelta(hours=4)
    db.w.insert_many(
        [
            {"_id": f"s|{d}", "scope": "s", "day": d}
            for d in ("2026-08-30", "2026-09-01", "2026-12-06", "2026-12-07")
        ]
    )
    days = [{"$match": {"scope": "s", "day": {"$gte": "2026-09-01", "$lte": "2026-12-06"}}}]
    assert sorted(d["_id"] for d in db.w.aggregate(days)) == ["s|2026-09-01", "s|2026-12-06"]


def test_queue_counts_split_into_equalities_add_up_to_the_in_count(db):
    """The console queue's counts (services/cases/queue.split_in, counted_by_status):
    ``$in`` on assignee_key and status counted as one ``$match`` + ``$count`` per pair of
    values, or as one ``$group`` by status per key."""
    statuses = ("open", "assigned", "resolved")
    db.cases.insert_many(
        [
            {"_id": i, "assignee_key": ("person:a", "team:t", "")[i % 3], "status": statuses[i % 4 % 3]}
            for i in range(24)
        ]
    )

    def count(query):
        found = list(db.cases.aggregate([{"$match": query}, {"$count": "n"}]))
        return found[0]["n"] if found else 0

    keys, active = ["person:a", "team:t"], ["open", "assigned"]
    split = sum(count({"assignee_key": k, "status": s}) for k in keys for s in active)
    assert split == count({"assignee_key": {"$in": keys}, "status": {"$in": active}}) > 0
    by_status = 0  # one $group by status per key, the wanted statuses summed
    for k in keys:
        groups = db.cases.aggregate(
            [{"$match": {"assignee_key": k}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        )
        by_status += sum(g["n"] for g in groups if g["_id"] in active)
    assert by_status == split


def test_queue_page_ids_in_index_order_by_aggregate(db):
    """The console queue's page (stores/queries.CaseQueries.merged_page): a branch's ids
    by aggregate ``$match`` (equalities, ``$in`` holding None) + ``$sort`` on (level,
    opened_at, _id) + ``$limit`` + ``$project`` of ``_id``, in the order ``find`` gives."""
    db.cases.create_indexes(
        [IndexModel([("assignee_key", ASCENDING), ("status", ASCENDING), ("level", ASCENDING)])]
    )
    at = [T1, T1 + timedelta(microseconds=500_000), T1 + timedelta(seconds=1), T2]
    db.cases.insert_many(
        [
            {"_id": f"c{i}", "assignee_key": ("", "person:a")[i % 2], "status": "open",
             "level": ("P1", "P2")[i % 3 % 2], "opened_at": at[i % 4], **({"team": "t"} if i % 5 else {})}
            for i in range(16)
        ]
    )  # fmt: skip
    for branch in (
        {"assignee_key": "person:a", "status": "open"},
        {"assignee_key": "", "team": {"$in": ["t", None]}},
    ):
        for direction in (ASCENDING, DESCENDING):
            order = [("level", ASCENDING), ("opened_at", direction), ("_id", ASCENDING)]
            pipeline = [{"$match": branch}, {"$sort": dict(order)}, {"$limit": 5}, {"$project": {"_id": 1}}]
            ids = [d["_id"] for d in db.cases.aggregate(pipeline)]
            assert ids == [d["_id"] for d in db.cases.find(branch).sort(order).limit(5)] and len(ids) == 5


def test_group_sums_of_numbers_over_an_epoch_range(db):
    """Case metrics (services/cases/stores/metric_sums.py): the period as a $match on an
    epoch-millisecond number beside a plain field; $group on one (dotted) field with $sum
    of 1, of numeric dotted fields and of a field only some documents hold (a group where
    none holds it answers 0 on MongoDB and None on nx-27017: read as ``or 0``); a $group
    with only an _id lists a field's values."""
    db.cases.insert_many(
        [
            {"_id": "a", "team": "t1", "assignee": {"id": "p"}, "t": {"ms": 1000, "n": 1, "c": {"cx": 1}}},
            {"_id": "b", "team": "t1", "assignee": None, "t": {"ms": 1999, "n": 0, "c": {}}, "rc": "x"},
            {
                "_id": "c",
                "team": "t2",
                "assignee": {"id": "p"},
                "t": {"ms": 2000, "n": 1, "c": {}},
                "rc": "y",
            },
            {"_id": "d", "team": None, "t": {"ms": 999, "n": 1, "c": {"cx": 1}}},  # before the period
            {"_id": "e", "t": {"ms": 1500, "n": 1, "c": {}}},  # no team, no assignee
        ]
    )
    period = {"t.ms": {"$gte": 1000, "$lt": 2001}}
    group = {"n": {"$sum": 1}, "sum": {"$sum": "$t.n"}, "ms": {"$sum": "$t.ms"}, "cx": {"$sum": "$t.c.cx"}}

    def sums(match, key):
        rows = db.cases.aggregate([{"$match": match}, {"$group": {"_id": key, **group}}])
        return {r["_id"]: (r["n"], r["sum"], r["ms"], r["cx"] or 0) for r in rows}

    assert sums(period, "$team") == {"t1": (2, 1, 2999, 1), "t2": (1, 1, 2000, 0), None: (1, 1, 1500, 0)}
    assert sums(period, "$assignee.id") == {"p": (2, 2, 3000, 1), None: (2, 1, 3499, 0)}
    assert sums({**period, "assignee.id": "p"}, None) == {None: (2, 2, 3000, 1)}
    assert sums({"t.ms": {"$gte": 5000}}, "$team") == {}
    values = db.cases.aggregate([{"$match": period}, {"$group": {"_id": "$rc"}}])
    assert sorted(r["_id"] for r in values if r["_id"]) == ["x", "y"]


def test_group_min_of_due_times_and_an_and_around_an_or_of_overdue_ones(db):
    """Case metrics' overdue clocks (metric_sums: ``$min`` of ``tally.ack_due`` /
    ``resolve_due``, null while no clock of the case runs unsettled, then the late cases
    counted per group): ``$min`` ignores nulls and missing fields; ``$and`` of the period,
    a flag and an ``$or`` of epoch conditions. In an aggregation ``$match`` as in ``find``,
    nx-27017 misreads plain fields beside a top-level ``$or`` ({"k": 1, "$or": [...]} also
    matched a k = 0 document), hence the ``$and`` (services.common.mongo.all_of)."""
    db.cases.insert_many(
        [
            {"_id": "1", "k": 1, "team": "t", "t": {"flag": 0, "a": 5.0, "b": 50.0}},
            {"_id": "2", "k": 1, "team": "t", "t": {"flag": 0, "a": None, "b": None}},
            {"_id": "3", "k": 1, "team": "u", "t": {"flag": 0, "a": 50.0, "b": None}},
            {"_id": "4", "k": 0, "team": "t", "t": {"flag": 0, "a": 5.0, "b": 5.0}},
            {"_id": "5", "k": 1, "team": "u", "t": {"flag": 0, "a": None, "b": 5.0}},
            {"_id": "6", "k": 1, "team": "u", "t": {"flag": 1, "a": 4.0}},
            {"_id": "7", "k": 1, "team": "v", "t": {"flag": 0, "a": None}},
        ]
    )
    period = {"k": 1}
    rows = db.cases.aggregate(
        [{"$match": period}, {"$group": {"_id": "$team", "a": {"$min": "$t.a"}, "b": {"$min": "$t.b"}}}]
    )
    assert {r["_id"]: (r["a"], r["b"]) for r in rows} == {
        "t": (5.0, 50.0),
        "u": (4.0, 5.0),
        "v": (None, None),
    }
    late = all_of(period, {"t.flag": 0}, {"$or": [{"t.a": {"$lte": 10.0}}, {"t.b": {"$lte": 10.0}}]})
    rows = db.cases.aggregate([{"$match": late}, {"$group": {"_id": "$team", "n": {"$sum": 1}}}])
    assert {r["_id"]: r["n"] for r in rows} == {"t": 1, "u": 1}  # 1 and 5
    one = all_of(period, {"t.a": {"$lte": 10.0}})
    rows = db.cases.aggregate([{"$match": one}, {"$group": {"_id": "$team", "n": {"$sum": 1}}}])
    assert {r["_id"]: r["n"] for r in rows} == {"t": 1, "u": 1}  # 1 and 6
