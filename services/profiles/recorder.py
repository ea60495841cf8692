"""Recording events on profiles: the timeline, the word counts and the profile's counters.

Counters are running counters kept in the profile; each event's marker
(``applied``) goes into the same write, so replays, resends and concurrent
workers count an event once. Every read and write an event causes is by ``_id``:
nothing per event queries the growing timeline (on the embedded store such a
query scans it, docs/store.md "Performance").

The profile document also routes a write: a profile being merged away carries
``merged_into`` (its survivor) until the merge deletes it, a missing profile is
looked up in the alias table, and an erased profile carries ``erased_at``, so the
event is stored without personal data. Merges and erasures change the profile's
revision first, so a write that raced them fails its condition, reads again and
lands where it belongs (its timeline entry and word counts follow it).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import eventlet
from pymongo import ReplaceOne

from contracts.base import utcnow
from services.common import settings
from services.common.errors import NotFound
from services.common.mongo import insert_many_once, plain_copy
from services.profiles.aspects import count_aspects
from services.profiles.documents import (
    COUNTED_FIELDS,
    MAX_ALIAS_HOPS,
    PII_ENTRY_FIELDS,
    WRITE_ATTEMPTS,
    ProfileDocuments,
    ProfileKeepsChanging,
    revise,
)
from services.profiles.profile import COUNTER_MAPS, marker, new_profile, prune_markers, safe_key
from services.profiles.recordings import (
    Recording,
    alert_recording,
    case_opened_recording,
    case_status_recording,
    feedback_recording,
)
from services.profiles.words import local_day


class Recorder(ProfileDocuments):
    """Records feedback, alerts and case moves on their customers' profiles."""

    # -- events: one at a time, or a batch -------------------------------------------

    def record_feedback(self, event: dict) -> dict:
        """Timeline entry, word counts, and the profile's counters, contacts, identity and
        latest scores; returns the profile as written."""
        return self.record_many([feedback_recording(event)])[0]

    def record_alert(self, alert: dict) -> None:
        self.record_many([alert_recording(alert)])

    def record_case_opened(self, case: dict) -> None:
        self.record_many([case_opened_recording(case)])

    def record_case_status(self, change: dict) -> None:
        """A case milestone: a timeline entry, and the open-case list follows the newest status."""
        self.record_many([self.case_status_recording(change)])

    def case_status_recording(self, change: dict) -> Recording:
        return case_status_recording(change, self._opened_entry)

    def _opened_entry(self, case_id: str) -> dict | None:
        return self.db.timeline.find_one({"_id": f"case:{case_id}:opened"})

    def record_many(self, recordings: list[Recording]) -> list[dict]:
        """Record a batch of events (as ``_record`` does each), returning each one's
        profile as written.

        The common case costs a few round trips for the whole batch: the profiles
        and aliases of its customers in two ``$in`` reads, the timeline entries in
        one unordered ``insert_many``, the word counts in three (``WordCounts.record_many``),
        each customer's profile written once with all its events applied in order (one
        ``insert_many`` for new profiles, one ``bulk_write`` of revision-conditional
        replaces). A
        customer that is aliased, being merged or erased, an entry already in the
        timeline, and a profile whose conditional write lost to another writer go
        the one-at-a-time way (``_record``): every step is idempotent, so redoing
        part of a batch there counts nothing twice.
        """
        ids = list(dict.fromkeys(r.customer_id for r in recordings))
        loaded = self._load_plain(ids)
        plain = [i for i, r in enumerate(recordings) if r.customer_id in loaded]
        entries = {i: recordings[i].entry_for(recordings[i].customer_id, False) for i in plain}
        placed = list(entries.values())
        placed += [e for i in plain for e in recordings[i].also(recordings[i].customer_id, False)]
        skipped = insert_many_once(self.db.timeline, placed)
        for index in skipped:
            self._place(placed[index], False)  # a replay, or a copy left by a merge
        # the entries this batch inserted are its new events: counted once, here
        self.counts.add(e for k, e in enumerate(placed) if k not in set(skipped))
        self.words.record_many([(recordings[i].customer_id, entries[i]) for i in plain])
        written = self._write_profiles(recordings, plain, loaded)
        direct = set(plain)
        return [
            written[r.customer_id]
            if i in direct and r.customer_id in written
            else self._record(r) or {"_id": r.customer_id}
            for i, r in enumerate(recordings)
        ]

    def _load_plain(self, ids: list[str]) -> dict[str, dict | None]:
        """The profiles of ``ids`` that a write lands on directly (no alias, not being
        merged, not erased), by id (None: no profile yet): two reads by ``_id``.

        Not one ``$unionWith`` as ``_load`` does for one id: with ``$in`` nx-27017 runs
        it in its Python tier over the whole collection (166 ms at 10,000 profiles,
        growing with them; docs/store.md), which saturated the store in the chaos run."""
        docs = {d["_id"]: d for d in self.db.profiles.find({"_id": {"$in": ids}})}
        aliased = {d["_id"] for d in self.db.aliases.find({"_id": {"$in": ids}}, {"_id": 1})}
        plain: dict[str, dict | None] = {}
        for customer_id in ids:
            doc = docs.get(customer_id)
            if customer_id in aliased or (doc is not None and (doc.get("merged_into") or "erased_at" in doc)):
                continue
            plain[customer_id] = doc
        return plain

    def _write_profiles(
        self, recordings: list[Recording], plain: list[int], loaded: dict[str, dict | None]
    ) -> dict[str, dict]:
        """Apply each plain customer's events to their profile in order and write each
        profile once; returns the profiles written (or unchanged) by customer. A
        customer missing from the answer lost a race and is redone one at a time."""
        now = utcnow()
        token = uuid.uuid4().hex
        done: dict[str, dict] = {}
        inserts: list[dict] = []
        replaces: list[ReplaceOne] = []
        replaced: list[str] = []
        for customer_id in dict.fromkeys(recordings[i].customer_id for i in plain):
            before = loaded[customer_id]
            after = plain_copy(before) if before is not None else new_profile(customer_id, now)
            changed = False
            for i in plain:
                if recordings[i].customer_id == customer_id:
                    changed = recordings[i].change(after, False, now) or changed
            if not changed:
                done[customer_id] = before if before is not None else {"_id": customer_id}
                continue
            prune_markers(after, now, settings.get("PROFILE_MARKER_DAYS") * 86400)
            after["updated_at"] = now
            after["written_by"] = token  # tells this batch's writes from a rival's
            condition = revise(before, after)
            if condition is None:
                inserts.append(after)
            else:
                replaces.append(ReplaceOne(condition, after))
                replaced.append(customer_id)
            done[customer_id] = after
        lost = {inserts[k]["_id"] for k in insert_many_once(self.db.profiles, inserts)}
        if replaces and self.db.profiles.bulk_write(replaces, ordered=False).matched_count < len(replaces):
            found = self.db.profiles.find({"_id": {"$in": replaced}}, {"written_by": 1})
            lost |= set(replaced) - {d["_id"] for d in found if d.get("written_by") == token}
        return {k: v for k, v in done.items() if k not in lost}

    # -- one at a time: the way round anything unusual ------------------------------------

    def _load(self, customer_id: str) -> tuple[str, dict | None]:
        """(the id a write for ``customer_id`` lands on, its profile or None).

        One round trip per hop, by ``_id``: the profile and its alias together
        (``$unionWith``). An alias wins (it is the merge's point of no return); a
        ``merged_into`` mark on the profile points to the survivor as well.
        """
        target = customer_id
        for _ in range(MAX_ALIAS_HOPS):
            found = list(
                self.db.profiles.aggregate(
                    [
                        {"$match": {"_id": target}},
                        {
                            "$unionWith": {
                                "coll": "aliases",
                                "pipeline": [{"$match": {"_id": target}}, {"$project": {"survivor": 1}}],
                            }
                        },
                    ]
                )
            )
            alias = next((d for d in found if "survivor" in d), None)
            doc = next((d for d in found if "survivor" not in d), None)
            if alias is not None:
                target = alias["survivor"]
            elif doc is not None and doc.get("merged_into"):
                target = doc["merged_into"]
            else:
                return target, doc
        raise RuntimeError(f"alias chain from {customer_id} is longer than {MAX_ALIAS_HOPS} (a cycle?)")

    def _record(self, recording: Recording) -> dict | None:
        """Record one event: its timeline entry (``entry_for(target, erased)``, and the
        ``also`` entries), its word counts, and ``change(profile, erased, now)`` written
        conditionally on the revision.

        The entry and counts are written before the profile: if the profile then turns
        out to have been merged or erased meanwhile (the write's condition fails), the
        next round moves the entry to the survivor, or strips it, and redoes the counts.
        """
        customer_id, entry_for, change = recording.customer_id, recording.entry_for, recording.change
        placed: str | None = None  # whose word counts hold this event
        filed = None  # (customer, erased) the timeline entry was written for
        for _ in range(WRITE_ATTEMPTS):
            target, doc = self._load(customer_id)
            erased = doc is not None and "erased_at" in doc
            entry = entry_for(target, erased)
            if filed != (target, erased):  # a lost race with another event changes nothing here
                inserted = [e for e in (entry, *recording.also(target, erased)) if self._place(e, erased)]
                self.counts.add(inserted)
                filed = (target, erased)
            if placed is not None and placed != target:
                self.words.undo(placed, entry_for(placed, False))
                placed = None
            if erased and placed == target:
                self.words.forget(target)  # counted before the erasure reached the profile
                placed = None
            elif not erased and placed is None:
                same_day = doc is not None and _same_day(doc.get("last_contact"), entry["at"])
                self.words.record(target, entry, likely_new=not same_day)
                placed = target
            now = utcnow()
            after = plain_copy(doc) if doc is not None else new_profile(target, now)
            if not change(after, erased, now):
                return doc
            prune_markers(after, now, settings.get("PROFILE_MARKER_DAYS") * 86400)
            after["updated_at"] = now
            if self._save(doc, after):
                return after
            eventlet.sleep(0)
        raise ProfileKeepsChanging(f"profile {customer_id} kept changing; the event will be retried")

    def _place(self, entry: dict, erased: bool) -> bool:
        """Insert a timeline entry once (True: inserted now, the caller counts it); a copy
        already there under an id merged into the entry's customer is moved to it, and
        stripped when the customer is erased (its comment then leaves the counters)."""
        if self._insert_once("timeline", entry):
            return True
        stored = self.db.timeline.find_one(
            {"_id": entry["_id"]}, {**dict.fromkeys(COUNTED_FIELDS, 1), **dict.fromkeys(PII_ENTRY_FIELDS, 1)}
        )
        if stored is None:
            return False
        if stored["customer_id"] != entry["customer_id"]:
            if self.resolve(stored["customer_id"]) != entry["customer_id"]:
                return False  # another customer's event under the same key: left as it is
            self.db.timeline.update_one(
                {"_id": entry["_id"]},
                {"$set": {"customer_id": entry["customer_id"], "merged_from": stored["customer_id"]}},
            )
        if erased and any(f in stored for f in PII_ENTRY_FIELDS):  # as the erasure's scrub does
            self.strip_entries([stored])
        return False

    # -- repair ------------------------------------------------------------------------------

    def recount(self, customer_id: str) -> dict:
        """Repair: set the profile's counters and word counts to what its timeline says.

        Counters never drift in normal operation (each event moves them once, by its
        marker); this rebuilds them after anything that bypassed the store (a restored
        backup, a hand edit). Every counted entry's marker is written with the counts,
        so an event being recorded at the same moment is not counted on top.
        """
        entries = list(
            self.db.timeline.find(
                {"customer_id": customer_id, "kind": {"$in": ["feedback", "alert"]}},
                # text: the aspects of entries recorded before ``insight.aspects`` was kept
                {"kind": 1, "channel": 1, "rule_id": 1, "at": 1, "insight": 1, "text": 1},
            )
        )
        wanted = counters_of(entries)
        now = utcnow().timestamp()
        before: dict = {}

        def set_counts(doc: dict) -> bool:
            # a counter map never moved (no aspect yet) is missing: the same as empty
            before.update({k: doc.get(k, {} if k in COUNTER_MAPS else None) for k in wanted})
            marks = {marker(e["_id"]): now for e in entries}
            if before == wanted and marks.keys() <= (doc.get("applied") or {}).keys():
                return False
            doc.update(plain_copy(wanted))
            doc["applied"] = {**(doc.get("applied") or {}), **marks}
            return True

        if self._change(customer_id, set_counts, create=False) is None:
            raise NotFound(f"no profile for customer {customer_id}")
        self.words.rebuild(customer_id, (e for e in entries if e["kind"] == "feedback"))
        changed = {k: [before.get(k), v] for k, v in wanted.items() if before.get(k) != v}
        return {"customer_id": customer_id, "changed": changed}


def counters_of(entries: list[dict]) -> dict:
    """The profile's counters as its feedback and alert timeline entries say."""
    feedback = [e for e in entries if e["kind"] == "feedback"]
    channels: dict[str, int] = {}
    rules: dict[str, int] = {}
    for entry in entries:
        counts, key = (
            (channels, entry["channel"]) if entry["kind"] == "feedback" else (rules, entry["rule_id"])
        )
        counts[safe_key(key)] = counts.get(safe_key(key), 0) + 1
    return {
        "feedback_count": sum(channels.values()),
        "channels": channels,
        "aspect_counts": count_aspects(feedback),
        "alerts_total": sum(rules.values()),
        "alert_counts": rules,
    }


def _same_day(last_contact: dict | None, at: datetime) -> bool:
    return last_contact is not None and bool(last_contact) and local_day(last_contact["at"]) == local_day(at)
