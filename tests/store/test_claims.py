"""services/common/claims.py on the real store: the earliest due document is claimed
once, whoever races for it, and a claim that loses its candidates reads again."""

from __future__ import annotations

import eventlet

from services.common.claims import claim_earliest, matching

LEASE = {"$set": {"state": "claimed", "lease_until": 100.0}}
PENDING_DUE = {"state": "pending", "due": {"$lte": 50.0}}
EXPIRED = {"state": "claimed", "lease_until": {"$lt": 50.0}}


def steps(db, *rows):
    db.steps.create_index([("state", 1), ("due", 1)])
    db.steps.insert_many([{"_id": i, "state": s, "due": d, "lease_until": lease} for i, s, d, lease in rows])


def test_the_earliest_due_over_every_branch_and_only_a_due_one(db):
    steps(
        db,
        ("late", "pending", 40.0, 0.0),
        ("future", "pending", 60.0, 0.0),  # not due
        ("held", "claimed", 30.0, 99.0),  # its lease runs
        ("stale", "claimed", 35.0, 10.0),  # its claimer died
        ("done", "done", 1.0, 0.0),
        ("early", "pending", 20.0, 0.0),
    )
    got = [claim_earliest(db.steps, [PENDING_DUE, EXPIRED], "due", LEASE) for _ in range(4)]
    assert [doc and doc["_id"] for doc in got] == ["early", "stale", "late", None]
    assert got[0]["state"] == "claimed" and got[0]["lease_until"] == 100.0  # the document as updated
    assert db.steps.find_one({"_id": "future"})["state"] == "pending"


def test_racing_claimers_take_each_due_document_once(db):
    steps(db, *[(f"s{i:02d}", "pending", float(i % 7), 0.0) for i in range(40)])
    taken: list[str] = []

    def claimer():
        while (doc := claim_earliest(db.steps, [PENDING_DUE], "due", LEASE, look=3)) is not None:
            taken.append(doc["_id"])
            eventlet.sleep(0)

    pool = [eventlet.spawn(claimer) for _ in range(5)]
    for thread in pool:
        thread.wait()
    assert sorted(taken) == [f"s{i:02d}" for i in range(40)]  # all of them, none twice


class Competitor:
    """The collection, with another worker taking the first ``n`` candidates between
    this claim's read and its update."""

    def __init__(self, coll, ids):
        self.coll, self.ids = coll, ids

    def aggregate(self, pipeline):
        return self.coll.aggregate(pipeline)

    def find_one_and_update(self, query, update, **kwargs):
        if self.ids:
            taken = {"$set": {"state": "claimed", "lease_until": 99.0}}
            self.coll.update_many({"_id": {"$in": self.ids}}, taken)
            self.ids = []
        return self.coll.find_one_and_update(query, update, **kwargs)


def test_a_claim_that_lost_every_candidate_reads_again(db):
    steps(db, ("a", "pending", 1.0, 0.0), ("b", "pending", 2.0, 0.0), ("c", "pending", 3.0, 0.0))
    doc = claim_earliest(Competitor(db.steps, ["a", "b"]), [PENDING_DUE], "due", LEASE, look=2)
    assert doc is not None and doc["_id"] == "c"
    # with nothing left after the lost ones, the answer is None, not a stale document
    assert claim_earliest(Competitor(db.steps, ["c"]), [PENDING_DUE], "due", LEASE, look=2) is None


def test_matching_merges_branches_in_order_with_a_limit(db):
    steps(db, ("x", "pending", 5.0, 0.0), ("y", "claimed", 3.0, 1.0), ("z", "pending", 4.0, 0.0))
    rows = matching(db.steps, [PENDING_DUE, EXPIRED], "due", 2)
    assert [row["_id"] for row in rows] == ["y", "z"]
    assert rows[0]["state"] == "claimed"  # whole documents
