"""Identity: merging two customer ids into one (the alias table) and resolving ids after merges.

A merge is a rare admin act, one at a time (a lease lock), idempotent and safe
to retry: the alias is its point of no return, after which every write for the
merged id lands on the survivor (``recorder.py`` follows the alias and the
``merged_into`` mark).
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from datetime import datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.errors import BadRequest, NotFound
from services.profiles.documents import ProfileDocuments
from services.profiles.privacy import Privacy
from services.profiles.profile import carry_profile

# A merge that would loop or split history is the caller's mistake: a plain
# BadRequest, so RPC clients (cxctl) report it by field like any bad argument.
MergeRejected = BadRequest


class Identity(ProfileDocuments):
    """Merges customer ids; ``resolve`` (shared by every part) follows the aliases."""

    def __init__(self, db: Database, privacy: Privacy | None = None):
        super().__init__(db)
        # merging into an erased survivor scrubs it again
        self.privacy = privacy if privacy is not None else Privacy(db)

    @contextmanager
    def _merge_lock(self, lease_seconds: float = 60.0):
        """One merge at a time: merges are rare admin acts, and serialising them rules out cycles."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + lease_seconds
        while True:
            now = time.time()
            try:
                self.db.locks.insert_one({"_id": "merge", "token": token, "until": now + lease_seconds})
                break
            except DuplicateKeyError:
                taken = self.db.locks.find_one_and_update(
                    {"_id": "merge", "until": {"$lt": now}},
                    {"$set": {"token": token, "until": now + lease_seconds}},
                )
                if taken is not None:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("another merge holds the lock")
            time.sleep(0.05)
        try:
            yield
        finally:
            self.db.locks.delete_one({"_id": "merge", "token": token})

    def merge(self, survivor: str, merged: str, *, by: str, reason: str, now: datetime) -> dict:
        """Merge customer ``merged`` into ``survivor``; idempotent and safe to retry.

        Steps: (1) the alias (the point of no return: every later write for
        ``merged`` lands on ``survivor``); (2) the audit entry; (3) the profile,
        history and word counts are carried over (``move_history``); (4) the alias
        is marked done. A crash anywhere is finished by calling merge again.
        """
        if survivor == merged:
            raise MergeRejected("merged: must differ from survivor")
        with self._merge_lock():
            alias = self.db.aliases.find_one({"_id": merged})
            if alias is not None and alias["survivor"] != survivor:
                raise MergeRejected(f"merged: {merged} was already merged into {alias['survivor']}")
            if self.resolve(survivor) != survivor:
                where = self.resolve(survivor)
                raise MergeRejected(f"survivor: {survivor} was merged into {where}; merge into {where}")
            if alias is None:
                if self.db.profiles.find_one({"_id": merged}, {"_id": 1}) is None:
                    raise NotFound(f"no profile for customer {merged}")
                self._insert_once(
                    "aliases",
                    {"_id": merged, "survivor": survivor, "state": "moving", "by": by, "at": now},
                )
                # ids merged into ``merged`` earlier now point at the survivor directly
                self.db.aliases.update_many({"survivor": merged}, {"$set": {"survivor": survivor}})
            self._insert_once(
                "audit",
                {
                    "_id": f"merge:{merged}>{survivor}",
                    "kind": "merge",
                    "customer_ids": [survivor, merged],
                    "survivor": survivor,
                    "merged": merged,
                    "by": by,
                    "reason": reason,
                    "at": now,
                },
            )
            moved = self.move_history(merged, survivor)
            self.db.aliases.update_one({"_id": merged}, {"$set": {"state": "done"}})
        return {"survivor": survivor, "merged": merged, "timeline_entries_moved": moved}

    def move_history(self, merged: str, survivor: str) -> int:
        """Carry ``merged``'s profile, timeline and word counts over to ``survivor`` (idempotent).

        The merged profile is marked ``merged_into`` first (a new revision), so no event
        write lands on it afterwards: a writer that read it before fails its condition
        and follows the mark. Its counters and markers are then added to the survivor
        once (the survivor keeps a marker of the merge).
        """

        def mark(doc: dict) -> bool:
            if doc.get("merged_into") == survivor:
                return False
            doc["merged_into"] = survivor
            return True

        old = self._change(merged, mark, create=False)
        if old is not None:
            now = utcnow()
            self._change(survivor, lambda doc: carry_profile(doc, old, now))
        moved = self.db.timeline.update_many(
            {"customer_id": merged}, {"$set": {"customer_id": survivor, "merged_from": merged}}
        ).modified_count
        self.words.move(merged, survivor)
        if old is not None:
            self.db.profiles.delete_one({"_id": merged})
        if self.is_erased(survivor):  # the merged id's personal data must not revive an erased survivor
            self.privacy.scrub(survivor)
        return moved
