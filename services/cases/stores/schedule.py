"""The escalation schedule: one ``escalation_steps`` document per due step (claimed
atomically by the sweep, see escalation.py), and the pre-breach SLA warnings sent
(``sla_warnings``, by notification id)."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.cases import escalation
from services.common.claims import claim_earliest
from services.common.mongo import insert_many_once


class EscalationSchedule:
    """Due escalation steps and the SLA warnings already sent."""

    def __init__(self, db):
        self.db = db

    def indexes(self) -> dict[str, list]:
        return {
            "escalation_steps": [
                IndexModel([("state", ASCENDING), ("due_epoch", ASCENDING)], name="state_due"),
                IndexModel([("case_id", ASCENDING)], name="case"),
            ],
        }

    # escalation: durable due steps ------------------------------------------

    def schedule_steps(self, steps: list[dict]) -> None:
        """Insert due steps in one round trip; an id already present (a redelivery) is
        left alone."""
        insert_many_once(self.db.escalation_steps, steps)

    def cancel_steps(self, case_id: str, snap: dict | None = None, runs: int = 1) -> int:
        """Cancel a case's pending steps. With its escalation snapshot, by ``_id``: every
        step the snapshot can have scheduled in its ``runs`` runs (opening and reopens)
        is named (``escalation.step_ids``), so no query looks through every case's steps."""
        query: dict = {"case_id": case_id}
        if snap:
            query = {"_id": {"$in": escalation.step_ids(case_id, snap, runs)}}
        return self.db.escalation_steps.update_many(
            {**query, "state": "pending"}, {"$set": {"state": "cancelled"}}
        ).modified_count

    def claim_step(self, now: float, worker: str, lease_s: float) -> dict | None:
        """Claim the earliest due step, or one whose claimer's lease ran out."""
        update = {"$set": {"state": "claimed", "lease_until": now + lease_s, "claimed_by": worker}}
        for query in (
            {"state": "claimed", "lease_until": {"$lt": now}},
            {"state": "pending", "due_epoch": {"$lte": now}},
        ):
            step = claim_earliest(self.db.escalation_steps, [query], "due_epoch", update)
            if step is not None:
                return step
        return None

    def finish_step(self, step_id: str, worker: str, state: str, **fields) -> bool:
        return bool(
            self.db.escalation_steps.update_one(
                {"_id": step_id, "state": "claimed", "claimed_by": worker},
                {
                    "$set": {"state": state, "lease_until": 0.0, **fields},
                    "$currentDate": {"finished_at": True},
                },
            ).modified_count
        )

    def defer_step(self, step_id: str, worker: str, due_epoch: float) -> None:
        self.db.escalation_steps.update_one(
            {"_id": step_id, "state": "claimed", "claimed_by": worker},
            {"$set": {"state": "pending", "due_epoch": due_epoch, "lease_until": 0.0, "claimed_by": ""}},
        )

    def case_steps(self, case_id: str) -> list[dict]:
        # aggregate $match: read by the case index on the embedded store (its find scans, docs/store.md)
        pipeline = [{"$match": {"case_id": case_id}}, {"$sort": {"due_epoch": 1}}]
        return list(self.db.escalation_steps.aggregate(pipeline))

    # pre-breach warnings ---------------------------------------------------------

    def warning_sent(self, notification_id: str) -> bool:
        return self.db.sla_warnings.find_one({"_id": notification_id}, {"_id": 1}) is not None

    def record_warning(self, notification_id: str, case_id: str, at: datetime) -> None:
        try:
            self.db.sla_warnings.insert_one({"_id": notification_id, "case_id": case_id, "at": at})
        except DuplicateKeyError:
            pass
