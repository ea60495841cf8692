"""What every part of the profiles store shares: the database, and reads and writes by ``_id``.

A profile is written as a whole: read by ``_id``, changed in Python
(``profile.py``), written back on the condition that its revision ``rev`` is the
one read (``revise``; else read again and redo). The alias table routes an id
that was merged to its survivor (``resolve``); the erasure tombstones say whose
personal data is gone (``is_erased``).

The four parts built on this (``recorder.py``, ``identity.py``, ``privacy.py``,
``queries.py``) each take the database and nothing else; ``store.py`` bundles them.
"""

from __future__ import annotations

from collections.abc import Callable

import eventlet
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.mongo import plain_copy
from services.profiles.feedback_counts import FeedbackCounts
from services.profiles.profile import new_profile
from services.profiles.words import WordCounts

MAX_ALIAS_HOPS = 16
# Conditional writes of one profile lost to concurrent writers before giving up
# (the message is then retried); every lost round means another writer won.
WRITE_ATTEMPTS = 200
# The fields of a timeline entry that may hold personal data (an erasure unsets them).
PII_ENTRY_FIELDS = ("text", "tags", "insight", "reason", "resolution")
# What the hourly feedback counters read of a timeline entry (feedback_counts.py).
COUNTED_FIELDS = ("customer_id", "kind", "at", "touchpoint", "channel", "scores")


class ProfileKeepsChanging(RuntimeError):
    """Too many concurrent writers on one profile; the message is retried later."""


def revise(before: dict | None, after: dict) -> dict | None:
    """Give ``after`` the revision that follows ``before`` (None: no profile yet) and
    return the condition its replace is written on, or None when it is an insert."""
    if before is None:
        after["rev"] = 1
        return None
    rev = before.get("rev")
    after["rev"] = (rev or 0) + 1
    return {"_id": before["_id"], "rev": rev if rev is not None else {"$exists": False}}


class ProfileDocuments:
    """The profiles database with the reads and writes every part shares."""

    def __init__(self, db: Database):
        self.db = db
        self.words = WordCounts(db)
        self.counts = FeedbackCounts(db)  # the dashboard's hourly counters

    def _insert_once(self, collection: str, doc: dict) -> bool:
        try:
            self.db[collection].insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    def strip_entries(self, entries: list[dict]) -> int:
        """Remove the personal data of these timeline entries (read with ``COUNTED_FIELDS``
        and ``PII_ENTRY_FIELDS``), one update each, conditional on a field it still
        holds: a comment leaves the hourly counters with the update that removed it,
        so two erasures at once take it off once. Returns how many were stripped."""
        stripped = []
        for entry in entries:
            held = [f for f in PII_ENTRY_FIELDS if f in entry]
            if (
                held
                and self.db.timeline.update_one(
                    {"_id": entry["_id"], held[0]: {"$exists": True}},
                    {"$unset": dict.fromkeys(PII_ENTRY_FIELDS, "")},
                ).modified_count
            ):
                stripped.append(entry)
        self.counts.add(stripped, -1, comments_only=True)
        return len(stripped)

    def resolve(self, customer_id: str) -> str:
        """The surviving id of ``customer_id`` after merges (itself if never merged)."""
        current = customer_id
        for _ in range(MAX_ALIAS_HOPS):
            alias = self.db.aliases.find_one({"_id": current}, {"survivor": 1})
            if alias is None:
                return current
            current = alias["survivor"]
        raise RuntimeError(f"alias chain from {customer_id} is longer than {MAX_ALIAS_HOPS} (a cycle?)")

    def merged_ids(self, survivor: str) -> list[str]:
        """The ids merged into ``survivor``, sorted."""
        # aggregate $match: read by the survivor index on the embedded store (its find scans)
        return sorted(a["_id"] for a in self.db.aliases.aggregate([{"$match": {"survivor": survivor}}]))

    def is_erased(self, customer_id: str) -> bool:
        return self.db.erasures.find_one({"_id": customer_id}, {"_id": 1}) is not None

    def _save(self, before: dict | None, after: dict) -> bool:
        """Write ``after`` if the profile is still as ``before`` was read (None: absent)."""
        condition = revise(before, after)
        if condition is None:
            return self._insert_once("profiles", after)
        return self.db.profiles.replace_one(condition, after).matched_count == 1

    def _change(
        self, customer_id: str, change: Callable[[dict], bool], *, create: bool = True
    ) -> dict | None:
        """Apply ``change`` to the profile of ``customer_id`` itself (no routing):
        merges and erasures, which hold the merge lock or act on a resolved id."""
        for _ in range(WRITE_ATTEMPTS):
            doc = self.db.profiles.find_one({"_id": customer_id})
            if doc is None and not create:
                return None
            after = plain_copy(doc) if doc is not None else new_profile(customer_id, utcnow())
            if not change(after):
                return doc
            if self._save(doc, after):
                return after
            eventlet.sleep(0)
        raise ProfileKeepsChanging(f"profile {customer_id} kept changing; try again")
