"""notify's copy of the people directory, kept by revision: ``people_projection``
(``_id`` ``directory``) holds the newest revision received and the recipients it
implies; the ``recipients`` collection is rewritten from it, and a person no longer
in it loses their digest schedule.

A revision older than the one held is ignored (never backwards); the same one again
(a redelivery after a crash) is projected again. Two replicas projecting different
revisions at once converge: after writing, each re-reads the revision held and
projects again until what it wrote is the newest."""

from __future__ import annotations

import time

from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.notify.store import recipient_documents

PROJECTION_ID = "directory"
MAX_ROUNDS = 20  # a projection racing this many newer revisions leaves it to their handlers


class PeopleProjection:
    def __init__(self, store):
        self.store = store
        self.db = store.db

    def held(self) -> dict | None:
        """``{revision, recipients, received_at, projected}`` as last received, with the
        revision the recipients show (None: no people directory yet)."""
        return self.db.people_projection.find_one({"_id": PROJECTION_ID})

    def receive(self, revision: int, recipients: dict) -> bool:
        """Hold ``revision`` unless a newer one is held, and project the newest; False
        when ``revision`` is older than the one held (nothing written)."""
        try:
            self.db.people_projection.update_one(
                {"_id": PROJECTION_ID, "revision": {"$lte": revision}},
                {"$set": {"revision": revision, "recipients": recipients, "received_at": time.time()}},
                upsert=True,
            )
        except DuplicateKeyError:  # a newer revision is held: the filter missed, the insert clashed
            return False
        self._project()
        return True

    def settle(self) -> bool:
        """Project the held directory again, if there is one (after a deprecated recipients
        apply that raced the first directory); whether there was."""
        if self.held() is None:
            return False
        self._project()
        return True

    def _project(self) -> None:
        for _ in range(MAX_ROUNDS):
            held = self.held()
            assert held is not None
            docs = recipient_documents(held["recipients"])
            now = utcnow()
            for doc in docs:
                self.db.recipients.replace_one({"_id": doc["_id"]}, {**doc, "updated_at": now}, upsert=True)
            self.db.recipients.delete_many({"_id": {"$nin": [d["_id"] for d in docs]}})
            # a person no longer in the directory gets no more digests
            people = [p["id"] for p in held["recipients"]["people"]]
            self.db.digests.delete_many({"_id": {"$nin": people}})
            self.store.config.bump()
            # ``projected``: the revision the recipients now show (what people_revision reports)
            done = {"_id": PROJECTION_ID, "revision": held["revision"]}
            if self.db.people_projection.update_one(
                done, {"$set": {"projected": held["revision"]}}
            ).matched_count:
                return
