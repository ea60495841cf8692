"""The profiles service's MongoDB store: one profile per customer, a separate timeline.

The timeline is its own collection (a profile document never grows without
bound). ``ProfileStore`` owns the database's indexes and the feedback inbox, and
hands out one part per concern, each with its own verbs:

* ``recorder`` (``recorder.py``): events onto profiles, timeline and word counts;
* ``identity`` (``identity.py``): merges and aliases, ``resolve``;
* ``privacy`` (``privacy.py``): export and erasure;
* ``queries`` (``queries.py``): profiles, search, segments, fatigue, trends, words.

Each part is built from the database alone (``Recorder(db)``), so a test may
build just the one it needs; what they share is in ``documents.py``.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database

from services.common.inbox import Inbox
from services.common.mongo import Store
from services.profiles.identity import Identity
from services.profiles.privacy import Privacy
from services.profiles.queries import Queries
from services.profiles.recorder import Recorder


class ProfileStore(Store):
    """The profiles database: its indexes, its feedback inbox and its four parts."""

    def __init__(self, db: Database):
        super().__init__(db)
        self.feedback_inbox = Inbox(db.feedback_inbox, ("source", "event_id"))
        self.recorder = Recorder(db)
        self.privacy = Privacy(db)
        self.identity = Identity(db, self.privacy)
        self.queries = Queries(db)

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        self.recorder.counts.start_counting()  # once per store: from when the counters hold every event

    def indexes(self):
        return {
            "feedback_inbox": [self.feedback_inbox.index()],
            "timeline": [
                IndexModel([("customer_id", ASCENDING), ("at", DESCENDING)], name="customer_at"),
                IndexModel(
                    [("customer_id", ASCENDING), ("kind", ASCENDING), ("at", ASCENDING)],
                    name="customer_kind_at",
                ),
                IndexModel([("hour", ASCENDING)], name="feedback_hour"),  # feedback_counts.py
            ],
            "profiles": [
                IndexModel([("search.phone", ASCENDING)], name="search_phone"),
                IndexModel([("search.email", ASCENDING)], name="search_email"),
                IndexModel([("search.name", ASCENDING)], name="search_name"),
                IndexModel([("identity.tier", ASCENDING)], name="tier"),
                IndexModel([("last_contact.at", ASCENDING)], name="last_contact"),
            ],
            "aliases": [IndexModel([("survivor", ASCENDING)], name="survivor")],
            "word_counts": [IndexModel([("scope", ASCENDING), ("day", ASCENDING)], name="scope_day")],
            "audit": [IndexModel([("customer_ids", ASCENDING), ("at", ASCENDING)], name="customer_at")],
        }

    def stats(self) -> dict:
        return {
            "profiles": self.db.profiles.count_documents({}),
            "timeline_entries": self.db.timeline.count_documents({}),
            "aliases": self.db.aliases.count_documents({}),
            "erasures": self.db.erasures.count_documents({}),
            "dead_letters": self.dead_letter_counts(),
        }
