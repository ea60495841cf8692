"""Give cases stored before tallies existed their ``tally`` (``metrics.tally``), and their
follow-ups the case's opening time (``case_opened_ms``), so ``cases.metrics`` counts them;
and write the queue's collaboration hints (``stores/collaborations.py``).

    python -m services.cases.backfill_tallies [--everything]

Idempotent: a tally is a function of the stored case, written only on the revision it was
computed from (a case that moved meanwhile got its tally from that transition); run it
again at any time. ``--everything`` recomputes every case's tally, not only the missing.
"""

from __future__ import annotations

import argparse
import json

from pymongo import UpdateOne

from services.cases import metrics
from services.cases.stores.collaborations import Collaborations

READ = (
    "rev", "opened_at", "sla", "milestones", "reopen_count", "resolution",
    "team", "level", "touchpoint", "assignee",  # the tally's cell
    "acknowledged", "resolved",  # cases stored before milestones
)  # fmt: skip
BATCH = 1000


def backfill(db, everything: bool = False) -> dict:
    """Write the missing tallies (every tally with ``everything``), follow-ups' opening
    times, and the queue's collaboration hints (``stores/collaborations.py``)."""
    query = {} if everything else {"tally": {"$exists": False}}
    cases = [
        UpdateOne({"_id": c["_id"], "rev": c.get("rev")}, {"$set": {"tally": metrics.tally(c)}})
        for c in db.cases.find(query, dict.fromkeys(READ, 1))
    ]
    written = _write(db.cases, cases)
    missing = list(db.followups.find({"case_opened_ms": {"$exists": False}}, {"case_id": 1}))
    opened = {
        c["_id"]: metrics.epoch_ms(c["opened_at"])
        for c in db.cases.find({"_id": {"$in": sorted({f["case_id"] for f in missing})}}, {"opened_at": 1})
    }
    followups = [
        UpdateOne({"_id": f["_id"]}, {"$set": {"case_opened_ms": opened[f["case_id"]]}})
        for f in missing
        if f["case_id"] in opened
    ]
    hints = Collaborations(db).rebuild()
    return {"cases": written, "followups": _write(db.followups, followups), "collaborations": hints}


def _write(collection, ops: list) -> int:
    done = 0
    for start in range(0, len(ops), BATCH):
        done += collection.bulk_write(ops[start : start + BATCH], ordered=False).modified_count
    return done


def main(argv: list[str] | None = None) -> int:
    """Backfill ``<MONGO_DB_PREFIX>cases`` at ``MONGO_URI`` (the environment, as deploy/config.yaml)."""
    import os

    import pymongo

    parser = argparse.ArgumentParser(description="Backfill the cases' metric tallies.")
    parser.add_argument("--everything", action="store_true", help="recompute every case's tally")
    args = parser.parse_args(argv)
    client: pymongo.MongoClient = pymongo.MongoClient(
        os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"), tz_aware=True
    )
    db = client[f"{os.environ.get('MONGO_DB_PREFIX', 'cx_')}cases"]
    print(json.dumps(backfill(db, everything=args.everything)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
