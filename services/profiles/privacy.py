"""Privacy: data-subject requests on what the profiles service keeps (export, erase).

An erasure leaves a tombstone (``erasures``) first, so every write from then on
drops personal data, then scrubs the profile before the timeline: a write that
read the profile before fails its condition and, reading again, stores no
personal data and strips its own timeline entry (``recorder.py``).
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from contracts.base import utcnow
from services.common.erasure import ERASED, scrub_dead_letters
from services.common.errors import NotFound
from services.common.mongo import plain_copy
from services.profiles.documents import COUNTED_FIELDS, PII_ENTRY_FIELDS, ProfileDocuments
from services.profiles.profile import INTERNAL_FIELDS, scrub_profile


class Privacy(ProfileDocuments):
    """Exports and erases one customer's data (after merges: their survivor's)."""

    def export(self, customer_id: str, *, by: str | None = None, now: datetime | None = None) -> dict:
        """Everything this service keeps about one customer (a data-subject request).
        With ``by``, the export is audited first (who, when), so the export lists itself."""
        target = self.resolve(customer_id)
        profile = self.db.profiles.find_one({"_id": target})
        if profile is None:
            raise NotFound(f"no profile for customer {customer_id}")
        if by is not None:
            at = now or utcnow()
            self.db.audit.insert_one(
                {
                    "_id": f"export:{target}:{at.timestamp()}:{by}",
                    "kind": "export",
                    "customer_ids": [target],
                    "by": by,
                    "at": at,
                }
            )
        for field in INTERNAL_FIELDS:
            profile.pop(field, None)
        return {
            "customer_id": target,
            "requested_id": customer_id,
            "profile": profile,
            "timeline": list(self.db.timeline.find({"customer_id": target}).sort([("at", ASCENDING)])),
            "aliases": {
                "merged_into": None if target == customer_id else target,
                "merged_ids": self.merged_ids(target),
            },
            "audit": list(self.db.audit.find({"customer_ids": target}).sort([("at", ASCENDING)])),
            "erasure": self.db.erasures.find_one({"_id": target}),
        }

    def erase(self, customer_id: str, *, by: str, request_ref: str, now: datetime) -> dict:
        """Erase a customer's personal data (a data-subject request); idempotent.

        The tombstone comes first: from then on every write for this id drops
        personal data (``without_pii``). The audit entry names the id, who and
        the request reference only.
        """
        target = self.resolve(customer_id)
        if self.db.profiles.find_one({"_id": target}, {"_id": 1}) is None:
            raise NotFound(f"no profile for customer {customer_id}")
        self._insert_once("erasures", {"_id": target, "at": now, "by": by, "request_ref": request_ref})
        self._insert_once(
            "audit",
            {
                "_id": f"erase:{target}",
                "kind": "erase",
                "customer_ids": [target],
                "by": by,
                "request_ref": request_ref,
                "at": now,
            },
        )
        scrubbed = self.scrub(target)
        return {"customer_id": target, "customer_ids": [target, *self.merged_ids(target)], **scrubbed}

    def scrub(self, customer_id: str) -> dict:
        """Remove personal data from everything this service keeps about the customer.

        The profile first (a new revision, marked ``erased_at``): an event write that
        read it before fails its condition and, reading again, stores no personal
        data and strips its own timeline entry; the timeline after.
        """
        now = utcnow()

        def scrub_doc(doc: dict) -> bool:
            before = plain_copy(doc)
            scrub_profile(doc, ERASED, now)
            return doc != before

        self._change(customer_id, scrub_doc, create=False)
        texts = self.db.timeline.update_many(
            {"customer_id": customer_id, "kind": {"$ne": "feedback"}},
            {"$unset": dict.fromkeys(PII_ENTRY_FIELDS, "")},
        ).modified_count
        fields = dict.fromkeys((*COUNTED_FIELDS, *PII_ENTRY_FIELDS), 1)
        texts += self.strip_entries(
            list(self.db.timeline.find({"customer_id": customer_id, "kind": "feedback"}, fields))
        )
        self.db.timeline.update_many(
            {"customer_id": customer_id, "kind": "case_opened"}, {"$set": {"title": ERASED}}
        )
        # dead-lettered bodies keep a preview of the raw message; drop the ones naming this id
        letters = scrub_dead_letters(self.db, [customer_id])
        words = self.words.forget(customer_id)
        return {
            "timeline_entries_scrubbed": texts,
            "dead_letters_scrubbed": letters,
            "word_counts_dropped": words,
        }
