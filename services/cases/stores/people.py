"""The people directory the cases service owns (``contracts/people.py``): one document
(``people``, ``_id`` ``directory``) holding the validated directory and its revision.
Every write is one atomic update that raises the revision, so two saves never
interleave and a reader never sees half a directory. Times are epoch seconds."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument

from services.cases.stores import CAS_ATTEMPTS, epoch
from services.common.errors import BadRequest, NotFound

DIRECTORY_ID = "directory"


class People:
    def __init__(self, db):
        self.db = db

    def save(self, directory: dict, by: str, now: datetime) -> dict:
        """Store ``directory`` as the next revision; the stored document."""
        return self.db.people.find_one_and_update(
            {"_id": DIRECTORY_ID},
            {"$set": {"directory": directory, "by": by, "changed_at": epoch(now)}, "$inc": {"revision": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    def current(self) -> dict | None:
        """``{revision, directory, by, changed_at}`` (None: never saved)."""
        return self.db.people.find_one({"_id": DIRECTORY_ID})

    def set_shift(self, person_id: str, on_shift: bool, by: str, now: datetime) -> dict:
        """Put one agent (a person in a team) on or off shift as a new revision; the
        stored document. Conditional on the revision read, so a concurrent save is
        never overwritten with an older directory."""
        for _ in range(CAS_ATTEMPTS):
            current = self.current()
            person = next(
                (p for p in (current or {}).get("directory", {}).get("people", []) if p["id"] == person_id),
                None,
            )
            if current is None or person is None or not person["teams"]:
                raise NotFound(f"no agent {person_id} in the people directory (a person in a team)")
            saved = self.db.people.find_one_and_update(
                {"_id": DIRECTORY_ID, "revision": current["revision"], "directory.people.id": person_id},
                {
                    "$set": {"directory.people.$.on_shift": on_shift, "by": by, "changed_at": epoch(now)},
                    "$inc": {"revision": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
            if saved is not None:
                return saved
        raise BadRequest("on_shift: the people directory changed concurrently too often; try again")
