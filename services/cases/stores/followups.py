"""Follow-ups (回访): one ``followups`` document per resolution run of a case, which is
both the durable deadline (``state: pending``, ``due_epoch``; claimed by the sweep
with ``find_one_and_update`` and a lease, like an escalation step) and the record of
what came of it (the message and its outcome, the task, the customer's answer).

States: ``pending`` → ``claimed`` → ``sent`` (survey requested) or ``task`` (a person
or team follows up) → ``answered`` / ``done``; ``cancelled`` when the case moved on
before it was due. Every later step is a conditional update on the state, so a
redelivered answer or outcome changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument

from services.common.claims import claim_earliest
from services.common.mongo import insert_many_once

OPEN_TASK = "task"
ANSWERABLE = ("sent", "task")


class FollowupStore:
    """The follow-up schedule and records."""

    def __init__(self, db):
        self.db = db
        self.coll = db.followups

    def indexes(self) -> dict[str, list]:
        return {
            "followups": [
                IndexModel([("state", ASCENDING), ("due_epoch", ASCENDING)], name="state_due"),
                IndexModel([("case_id", ASCENDING)], name="case"),
                IndexModel([("case_opened_ms", ASCENDING)], name="case_opened"),
                IndexModel([("task.assignee.id", ASCENDING), ("state", ASCENDING)], name="task_assignee"),
                IndexModel([("reply_code", ASCENDING)], name="reply_code", sparse=True),
            ],
        }

    def schedule(self, followup: dict) -> None:
        """Insert a follow-up; one already there (a repeated resolve) is left alone."""
        insert_many_once(self.coll, [followup])

    def cancel_pending(self, case_id: str, why: str) -> int:
        return self.coll.update_many(
            {"case_id": case_id, "state": "pending"}, {"$set": {"state": "cancelled", "cancelled": why}}
        ).modified_count

    def claim(self, now: float, worker: str, lease_s: float) -> dict | None:
        """Claim the earliest due follow-up, or one whose claimer's lease ran out."""
        update = {"$set": {"state": "claimed", "lease_until": now + lease_s, "claimed_by": worker}}
        for query in (
            {"state": "claimed", "lease_until": {"$lt": now}},
            {"state": "pending", "due_epoch": {"$lte": now}},
        ):
            found = claim_earliest(self.coll, [query], "due_epoch", update)
            if found is not None:
                return found
        return None

    def finish(self, fu_id: str, worker: str, state: str, **fields) -> dict | None:
        """Leave ``claimed`` (only the claimer may) for ``state`` with ``fields``."""
        return self.coll.find_one_and_update(
            {"_id": fu_id, "state": "claimed", "claimed_by": worker},
            {"$set": {"state": state, "lease_until": 0.0, **fields}},
            return_document=ReturnDocument.AFTER,
        )

    def get(self, fu_id: str) -> dict | None:
        return self.coll.find_one({"_id": fu_id})

    def by_message(self, message_id: str) -> dict | None:
        return self.coll.find_one({"message.message_id": message_id})

    def by_nonce(self, case_id: str | None, nonce: str) -> dict | None:
        return self.coll.find_one({"case_id": case_id, "nonce": nonce}) if case_id else None

    def by_code(self, code: str) -> dict | None:
        return self.coll.find_one({"reply_code": code})

    def latest_for_case(self, case_id: str) -> dict | None:
        found = list(self.coll.find({"case_id": case_id}).sort("resolved_at", -1).limit(1))
        return found[0] if found else None

    def for_cases(self, case_ids: list[str]) -> list[dict]:
        if len(case_ids) == 1:  # the case page: aggregate $match is read by the case index (find scans)
            rows = self.coll.aggregate([{"$match": {"case_id": case_ids[0]}}])
            return [{k: v for k, v in row.items() if k != "rule"} for row in rows]
        return list(self.coll.find({"case_id": {"$in": case_ids}}, {"rule": 0}))

    def of_period(self, since_ms: int, until_ms: int) -> list[dict]:
        """The follow-ups of the cases opened in [since_ms, until_ms) (epoch ms)."""
        return list(self.coll.find({"case_opened_ms": {"$gte": since_ms, "$lt": until_ms}}, {"rule": 0}))

    def record_outcome(self, message_id: str, outcome: dict) -> dict | None:
        """The message's outcome, once (a redelivery finds it recorded)."""
        return self.coll.find_one_and_update(
            {"message.message_id": message_id, "message.outcome": None},
            {"$set": {"message.outcome": outcome}},
            return_document=ReturnDocument.AFTER,
        )

    def record_delivery(self, message_id: str, outcome: dict) -> dict | None:
        """A delivery receipt's outcome (delivered / undelivered): over ``sent``, or as the
        first outcome when it came first; once (a redelivery, or the ``sent`` coming after
        it, finds it recorded). The whole subdocument is written (docs/store.md)."""
        return self.coll.find_one_and_update(
            {
                "message.message_id": message_id,
                "$or": [{"message.outcome": None}, {"message.outcome.status": "sent"}],
            },
            {"$set": {"message.outcome": outcome}},
            return_document=ReturnDocument.AFTER,
        )

    def open_task(self, fu_id: str, task: dict, *, states=("sent",)) -> dict | None:
        """Turn a follow-up in ``states`` into an open task (a refused message's fallback)."""
        return self.coll.find_one_and_update(
            {"_id": fu_id, "state": {"$in": list(states)}},
            {"$set": {"state": OPEN_TASK, "task": task}},
            return_document=ReturnDocument.AFTER,
        )

    def answer(self, fu_id: str, answer: dict, nonce: str | None, task: dict | None = None) -> dict | None:
        """Record the customer's answer once: only a follow-up still waiting for one (and,
        for a survey link, the one whose nonce it carries). ``task``: the open task as it
        is now done (an answer given to the agent doing it; only while it is open)."""
        query: dict = {"_id": fu_id, "state": {"$in": [OPEN_TASK] if task else list(ANSWERABLE)}}
        if nonce is not None:
            query["nonce"] = nonce
        sets = {"state": "answered", "answer": answer, **({"task": task} if task else {})}
        return self.coll.find_one_and_update(query, {"$set": sets}, return_document=ReturnDocument.AFTER)

    def complete_task(self, fu_id: str, task: dict) -> dict | None:
        """Mark an open task done without an answer (the customer was not reached …):
        ``task`` is the task as it is now done. The whole subdocument is written (the state
        condition keeps it from racing another change): nx-27017 stores a datetime given
        as a dotted ``$set`` value as a string (docs/store.md)."""
        return self.coll.find_one_and_update(
            {"_id": fu_id, "state": OPEN_TASK},
            {"$set": {"state": "done", "task": task}},
            return_document=ReturnDocument.AFTER,
        )

    def tasks(
        self, *, assignees: list[str] | None, state: str, overdue_at: float | None, limit: int, skip: int
    ) -> list[dict]:
        """Follow-up tasks, soonest due first: open ones (``state=open``), done ones, or all."""
        query: dict = {"task.opened_at": {"$exists": True}}
        if state == "open":
            query["state"] = OPEN_TASK
        elif state == "done":
            query["state"] = {"$in": ["done", "answered"]}
        if assignees is not None:
            query["task.assignee.id"] = {"$in": assignees}
        if overdue_at is not None:
            query["state"] = OPEN_TASK
            query["task.due_epoch"] = {"$lt": overdue_at}
        cursor = self.coll.find(query, {"rule": 0, "nonce": 0}).sort("task.due_epoch", ASCENDING)
        return list(cursor.skip(skip).limit(limit))

    def counts(self) -> dict:
        return {
            state: self.coll.count_documents({"state": state})
            for state in ("pending", "sent", "task", "answered", "done", "cancelled")
        }


def outcome_entry(outcome: dict, at: datetime) -> dict:
    """How a ``customer_message_outcome`` is kept on the follow-up."""
    return {
        "status": outcome["status"],
        "channel": outcome.get("channel"),
        "reason": outcome.get("reason"),
        "error_code": outcome.get("error_code"),
        "finished_at": outcome["finished_at"],
        "recorded_at": at,
    }
