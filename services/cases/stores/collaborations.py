"""Who collaborates on which case: a hint that spares the agent's queue a pass over every
case (issue 18, item 6).

The queue shows an agent the cases they collaborate on (``collaborators.<slot>.id``, a
field named per person, which no index serves). Most agents collaborate on nothing,
and finding that out read every case (50–150 ms at 10,000 cases). Here each
collaboration is also one small document (``_id`` ``<person slot>:<case id>``,
``person``, ``case_id``) read by an aggregate ``$match`` on the indexed ``person``.

It is a hint, never a grant: the queue still matches the case's own ``collaborators``
field, so a hint left behind by a failed write shows nothing. It is written before the
case's update, so a collaboration never lacks its hint once it is on the case.

``meta.state``: ``complete`` once every collaboration of the store has its hint (a
store whose cases collection was empty when the service first started, or after
``python -m services.cases.backfill_tallies``); until then the queue checks the cases.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel, ReplaceOne

from services.cases.lifecycle import slot

COLLECTION = "collaborations"
META = "meta"


class Collaborations:
    """The collaboration hints of one cases database."""

    def __init__(self, db):
        self.db = db
        self.collection = db[COLLECTION]

    def indexes(self) -> dict[str, list]:
        return {COLLECTION: [IndexModel([("person", ASCENDING)], name="person")]}

    @staticmethod
    def hint(case_id: str, person: str) -> dict:
        return {"_id": f"{slot(person)}:{case_id}", "person": person, "case_id": case_id}

    def note(self, case_id: str, person: str) -> None:
        """Record that ``person`` collaborates on ``case_id`` (idempotent)."""
        doc = self.hint(case_id, person)
        self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def start(self) -> None:
        """At start-up, once per store: complete when there is no case yet."""
        if self.collection.find_one({"_id": META}) is not None:
            return
        empty = self.db.cases.find_one({}, {"_id": 1}) is None
        try:
            self.collection.insert_one({"_id": META, "state": "complete" if empty else "incomplete"})
        except Exception as exc:  # another replica started first: its choice stands
            if getattr(exc, "code", None) != 11000:
                raise

    def may_help(self, person: str, on_cases: dict) -> bool:
        """Might ``person`` collaborate on any case? By the hints once they are complete,
        else by ``on_cases`` (the cases' own condition), which reads the cases."""
        meta = self.collection.find_one({"_id": META}) or {}
        if meta.get("state") != "complete":
            return self.db.cases.find_one(on_cases, {"_id": 1}) is not None
        return bool(list(self.collection.aggregate([{"$match": {"person": person}}, {"$limit": 1}])))

    def rebuild(self) -> int:
        """Write the hint of every collaboration on the stored cases, then mark them
        complete. Idempotent; returns how many hints were written."""
        ops = [
            ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
            for case in self.db.cases.find({}, {"collaborators": 1})
            for entry in (case.get("collaborators") or {}).values()
            for doc in [self.hint(case["_id"], entry["id"])]
        ]
        for start in range(0, len(ops), 1000):
            self.collection.bulk_write(ops[start : start + 1000], ordered=False)
        self.collection.replace_one({"_id": META}, {"_id": META, "state": "complete"}, upsert=True)
        return len(ops)
