"""The people directory the cases service owns (``contracts/people.py``): one document
(``people``, ``_id`` ``directory``) holding the validated directory and its revision.
Every write is one atomic update that raises the revision, so two saves never
interleave and a reader never sees half a directory."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument

from services.common.errors import NotFound

DIRECTORY_ID = "directory"


class People:
    def __init__(self, db):
        self.db = db

    def save(self, directory: dict, by: str, now: datetime) -> dict:
        """Store ``directory`` as the next revision; the stored document."""
        return self.db.people.find_one_and_update(
            {"_id": DIRECTORY_ID},
            {"$set": {"directory": directory, "by": by, "changed_at": now}, "$inc": {"revision": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    def current(self) -> dict | None:
        """``{revision, directory, by, changed_at}`` (None: never saved)."""
        return self.db.people.find_one({"_id": DIRECTORY_ID})

    def set_shift(self, person_id: str, on_shift: bool, by: str, now: datetime) -> dict:
        """Put one person on or off shift as a new revision; the stored document."""
        saved = self.db.people.find_one_and_update(
            # only a person in a team is an agent (has a shift)
            {
                "_id": DIRECTORY_ID,
                "directory.people": {"$elemMatch": {"id": person_id, "teams.0": {"$exists": True}}},
            },
            {
                "$set": {"directory.people.$.on_shift": on_shift, "by": by, "changed_at": now},
                "$inc": {"revision": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        if saved is None:
            raise NotFound(f"no agent {person_id} in the people directory (a person in a team)")
        return saved
