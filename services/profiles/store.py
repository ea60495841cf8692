"""The profiles service's MongoDB store: one profile per customer, a separate timeline.

The timeline is its own collection (a profile document never grows without
bound). A profile is written as a whole: read by ``_id``, changed in Python
(``profile.py``), written back on the condition that its revision ``rev`` is the
one read (else read again and redo). Counters are running counters kept in the
profile; each event's marker (``applied``) goes into the same write, so replays,
resends and concurrent workers count an event once. Every read and write an event
causes is by ``_id``: nothing per event queries the growing timeline (on the
embedded store such a query scans it, docs/store.md "Performance").

The profile document also routes a write: a profile being merged away carries
``merged_into`` (its survivor) until the merge deletes it, a missing profile is
looked up in the alias table, and an erased profile carries ``erased_at``, so the
event is stored without personal data. Merges and erasures change the profile's
revision first, so a write that raced them fails its condition, reads again and
lands where it belongs (its timeline entry and word counts follow it).

Rolling scores are computed on read from the timeline (``scores.py``): they
depend on ``now``, so a stored average would be stale the next day.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import eventlet
from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common import settings
from services.common.erasure import ERASED, scrub_dead_letters
from services.common.errors import BadRequest, NotFound
from services.common.mongo import Inbox, Store, insert_many_once
from services.profiles.profile import (
    CLOSED_CASE_STATUSES,
    INTERNAL_FIELDS,
    apply_alert,
    apply_case_opened,
    apply_case_state,
    apply_feedback,
    carry_profile,
    case_facts,
    case_state,
    marker,
    new_profile,
    normalise_email,
    normalise_name,
    normalise_phone,
    open_case_entry,
    prune_markers,
    safe_key,
    scrub_profile,
    timeline_entry,
    without_pii,
)
from services.profiles.scores import HORIZON_DAYS, TREND_DAYS, rolling, series, trend
from services.profiles.words import EVERYONE, WordCounts, local_day

MAX_ALIAS_HOPS = 16
# Conditional writes of one profile lost to concurrent writers before giving up
# (the message is then retried); every lost round means another writer won.
WRITE_ATTEMPTS = 200
PII_ENTRY_FIELDS = ("text", "tags", "insight", "reason", "resolution")


# A merge that would loop or split history is the caller's mistake: a plain
# BadRequest, so RPC clients (cxctl) report it by field like any bad argument.
MergeRejected = BadRequest


class ProfileKeepsChanging(RuntimeError):
    """Too many concurrent writers on one profile; the message is retried later."""


@dataclass(frozen=True)
class Recording:
    """One event for ``ProfileStore.record_many``: whose it is, its timeline entry
    (``entry_for(target, erased)``) and its change to the profile
    (``change(profile, erased, now)`` → changed?)."""

    customer_id: str
    entry_for: Callable[[str, bool], dict]
    change: Callable[[dict, bool, datetime], bool]
    # further timeline entries of the same event (a case opened already assigned: the milestone)
    also: Callable[[str, bool], list[dict]] = lambda target, erased: []


def feedback_recording(event: dict) -> Recording:
    def entry_for(target: str, erased: bool) -> dict:
        return timeline_entry(without_pii(event) if erased else event, target)

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        return apply_feedback(doc, without_pii(event) if erased else event, now)

    return Recording(event["customer"]["id"], entry_for, change)


def alert_recording(alert: dict) -> Recording:
    def entry_for(target: str, erased: bool) -> dict:
        return {
            "_id": f"alert:{alert['alert_id']}",
            "customer_id": target,
            # placed at the feedback it is about, so the journey reads in the
            # customer's order even when a stream is replayed days later
            "at": alert["event"]["occurred_at"],
            "raised_at": alert["raised_at"],
            "kind": "alert",
            "alert_id": alert["alert_id"],
            "level": alert["level"],
            "rule": alert["rule"],
            "rule_id": alert["rule"]["id"],
        }

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        return apply_alert(doc, alert, now)

    return Recording(alert["customer"]["id"], entry_for, change)


def milestone_entry(
    target: str, erased: bool, case_id: str, level: str, move: tuple[str, str], at: datetime, by: str, **why
) -> dict:
    """A case's status move on the timeline; one id per move, whichever message carried it."""
    entry = {
        "_id": f"case:{case_id}:status:{at.isoformat()}:{move[0]}>{move[1]}",
        "customer_id": target,
        "at": at,
        "kind": "case_milestone",
        "case_id": case_id,
        "level": level,
        "from_status": move[0],
        "to_status": move[1],
        "changed_by": by,
    }
    if not erased:
        entry.update({k: v for k, v in why.items() if v is not None})
    return entry


def case_opened_recording(case: dict) -> Recording:
    given = case.get("assignment")  # assigned as it opened: the milestone rides along

    def entry_for(target: str, erased: bool) -> dict:
        return {
            "_id": f"case:{case['case_id']}:opened",
            "customer_id": target,
            "at": case["opened_at"],
            "kind": "case_opened",
            "case_id": case["case_id"],
            "level": case["level"],
            "title": ERASED if erased else case["title"],
            "rule_name": case["rule"]["name"],
        }

    def also(target: str, erased: bool) -> list[dict]:
        if given is None:
            return []
        move = ("open", case["status"])
        return [
            milestone_entry(
                target,
                erased,
                case["case_id"],
                case["level"],
                move,
                given["at"],
                given["by"],
                reason=given["reason"],
            )
        ]

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        title = ERASED if erased else case["title"]
        at = given["at"] if given is not None else case["opened_at"]
        return apply_case_opened(
            doc,
            case_state(case["case_id"], case["status"], at, case["level"]),
            open_case_entry(case["case_id"], case["status"], case["level"], title, case["opened_at"]),
        )

    return Recording(case["customer"]["id"], entry_for, change, also)


class ProfileStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.feedback_inbox = Inbox(db.feedback_inbox, ("source", "event_id"))
        self.words = WordCounts(db)

    def indexes(self):
        return {
            "feedback_inbox": [self.feedback_inbox.index()],
            "timeline": [
                IndexModel([("customer_id", ASCENDING), ("at", DESCENDING)], name="customer_at"),
                IndexModel(
                    [("customer_id", ASCENDING), ("kind", ASCENDING), ("at", ASCENDING)],
                    name="customer_kind_at",
                ),
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

    # -- helpers ---------------------------------------------------------------

    def _insert_once(self, collection: str, doc: dict) -> bool:
        try:
            self.db[collection].insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    def resolve(self, customer_id: str) -> str:
        """The surviving id of ``customer_id`` after merges (itself if never merged)."""
        current = customer_id
        for _ in range(MAX_ALIAS_HOPS):
            alias = self.db.aliases.find_one({"_id": current}, {"survivor": 1})
            if alias is None:
                return current
            current = alias["survivor"]
        raise RuntimeError(f"alias chain from {customer_id} is longer than {MAX_ALIAS_HOPS} (a cycle?)")

    def is_erased(self, customer_id: str) -> bool:
        return self.db.erasures.find_one({"_id": customer_id}, {"_id": 1}) is not None

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

    def _save(self, before: dict | None, after: dict) -> bool:
        """Write ``after`` if the profile is still as ``before`` was read (None: absent)."""
        if before is None:
            after["rev"] = 1
            return self._insert_once("profiles", after)
        rev = before.get("rev")
        condition = {"_id": before["_id"], "rev": rev if rev is not None else {"$exists": False}}
        after["rev"] = (rev or 0) + 1
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
            after = copy.deepcopy(doc) if doc is not None else new_profile(customer_id, utcnow())
            if not change(after):
                return doc
            if self._save(doc, after):
                return after
            eventlet.sleep(0)
        raise ProfileKeepsChanging(f"profile {customer_id} kept changing; try again")

    def _record(self, recording: Recording) -> dict:
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
                for each in (entry, *recording.also(target, erased)):
                    self._place(each, erased)
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
            after = copy.deepcopy(doc) if doc is not None else new_profile(target, now)
            if not change(after, erased, now):
                return doc
            prune_markers(after, now, settings.get("PROFILE_MARKER_DAYS") * 86400)
            after["updated_at"] = now
            if self._save(doc, after):
                return after
            eventlet.sleep(0)
        raise ProfileKeepsChanging(f"profile {customer_id} kept changing; the event will be retried")

    def _place(self, entry: dict, erased: bool) -> None:
        """Insert a timeline entry once; a copy already there under an id merged into
        the entry's customer is moved to it, and stripped when the customer is erased."""
        if self._insert_once("timeline", entry):
            return
        stored = self.db.timeline.find_one(
            {"_id": entry["_id"]}, {"customer_id": 1, **dict.fromkeys(PII_ENTRY_FIELDS, 1)}
        )
        if stored is None:
            return
        update: dict = {}
        if stored["customer_id"] != entry["customer_id"]:
            if self.resolve(stored["customer_id"]) != entry["customer_id"]:
                return  # another customer's event under the same key: left as it is
            update["$set"] = {"customer_id": entry["customer_id"], "merged_from": stored["customer_id"]}
        if erased and any(f in stored for f in PII_ENTRY_FIELDS):  # as the erasure's scrub does
            update["$unset"] = dict.fromkeys(PII_ENTRY_FIELDS, "")
        if update:
            self.db.timeline.update_one({"_id": entry["_id"]}, update)

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
        case_id, status, at = change["case_id"], change["to_status"], change["changed_at"]

        def entry_for(target: str, erased: bool) -> dict:
            move = (change["from_status"], status)
            why = {"reason": change.get("reason"), "resolution": change.get("resolution")}
            return milestone_entry(
                target, erased, case_id, change["level"], move, at, change["changed_by"], **why
            )

        def apply(doc: dict, erased: bool, now: datetime) -> bool:
            open_entry = None
            if status not in CLOSED_CASE_STATUSES:
                # title and opening time are immutable facts of the case, known from its
                # opening (a profile written before they were kept there: its timeline entry)
                facts = case_facts(doc, case_id)
                if facts is None:
                    opened = self.db.timeline.find_one({"_id": f"case:{case_id}:opened"}) or {}
                    facts = {"title": opened.get("title"), "opened_at": opened.get("at", at)}
                open_entry = open_case_entry(
                    case_id, status, change["level"], facts["title"], facts["opened_at"] or at
                )
            return apply_case_state(doc, case_state(case_id, status, at, change["level"]), open_entry)

        return Recording(change["customer_id"], entry_for, apply)

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
        for skipped in insert_many_once(self.db.timeline, placed):
            self._place(placed[skipped], False)  # a replay, or a copy left by a merge
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
            after = copy.deepcopy(before) if before is not None else new_profile(customer_id, now)
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
            if before is None:
                after["rev"] = 1
                inserts.append(after)
            else:
                rev = before.get("rev")
                after["rev"] = (rev or 0) + 1
                condition = {"_id": customer_id, "rev": rev if rev is not None else {"$exists": False}}
                replaces.append(ReplaceOne(condition, after))
                replaced.append(customer_id)
            done[customer_id] = after
        lost = {inserts[k]["_id"] for k in insert_many_once(self.db.profiles, inserts)}
        if replaces and self.db.profiles.bulk_write(replaces, ordered=False).matched_count < len(replaces):
            found = self.db.profiles.find({"_id": {"$in": replaced}}, {"written_by": 1})
            lost |= set(replaced) - {d["_id"] for d in found if d.get("written_by") == token}
        return {k: v for k, v in done.items() if k not in lost}

    # -- identity merge -----------------------------------------------------------------

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
            self.scrub(survivor)
        return moved

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
                {"kind": 1, "channel": 1, "rule_id": 1, "at": 1, "insight": 1},
            )
        )
        channels: dict[str, int] = {}
        rules: dict[str, int] = {}
        for entry in entries:
            counts, key = (
                (channels, entry["channel"]) if entry["kind"] == "feedback" else (rules, entry["rule_id"])
            )
            counts[safe_key(key)] = counts.get(safe_key(key), 0) + 1
        wanted = {
            "feedback_count": sum(channels.values()),
            "channels": channels,
            "alerts_total": sum(rules.values()),
            "alert_counts": rules,
        }
        now = utcnow().timestamp()
        before: dict = {}

        def set_counts(doc: dict) -> bool:
            before.update({k: doc.get(k) for k in wanted})
            marks = {marker(e["_id"]): now for e in entries}
            if (
                all(doc.get(k) == v for k, v in wanted.items())
                and marks.keys() <= (doc.get("applied") or {}).keys()
            ):
                return False
            doc.update(copy.deepcopy(wanted))
            doc["applied"] = {**(doc.get("applied") or {}), **marks}
            return True

        if self._change(customer_id, set_counts, create=False) is None:
            raise NotFound(f"no profile for customer {customer_id}")
        self.words.rebuild(customer_id, (e for e in entries if e["kind"] == "feedback"))
        changed = {k: [before.get(k), v] for k, v in wanted.items() if before.get(k) != v}
        return {"customer_id": customer_id, "changed": changed}

    # -- erasure ---------------------------------------------------------------------------

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
        merged = sorted(a["_id"] for a in self.db.aliases.find({"survivor": target}))
        return {"customer_id": target, "customer_ids": [target, *merged], **scrubbed}

    def scrub(self, customer_id: str) -> dict:
        """Remove personal data from everything this service keeps about the customer.

        The profile first (a new revision, marked ``erased_at``): an event write that
        read it before fails its condition and, reading again, stores no personal
        data and strips its own timeline entry; the timeline after.
        """
        now = utcnow()

        def scrub_doc(doc: dict) -> bool:
            before = copy.deepcopy(doc)
            scrub_profile(doc, ERASED, now)
            return doc != before

        self._change(customer_id, scrub_doc, create=False)
        texts = self.db.timeline.update_many(
            {"customer_id": customer_id}, {"$unset": dict.fromkeys(PII_ENTRY_FIELDS, "")}
        ).modified_count
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

    # -- reads -------------------------------------------------------------------------------

    def _scored_entries(self, customer_ids: list[str], since: datetime, until: datetime) -> list[dict]:
        return list(
            self.db.timeline.find(
                {
                    "customer_id": {"$in": customer_ids} if len(customer_ids) > 1 else customer_ids[0],
                    "kind": "feedback",
                    "at": {"$gt": since, "$lte": until},
                },
                {"customer_id": 1, "at": 1, "scores": 1},
            )
        )

    def scored_feedback(self, since: datetime, until: datetime, segment: str | None) -> list[dict]:
        """Every scored feedback entry with ``since <= at < until`` (bounds widened to whole
        seconds for nx-27017, exact bounds applied by the caller), of customers in
        ``segment`` (``tier:``, ``channel:`` or ``touchpoint:`` NAME) when given."""
        query: dict = {
            "kind": "feedback",
            "at": {
                "$gte": since.replace(microsecond=0),
                "$lt": until.replace(microsecond=0) + timedelta(seconds=1),
            },
        }
        if segment is not None:
            key, _, value = segment.partition(":")
            if key == "tier":
                query["customer_id"] = {
                    "$in": [p["_id"] for p in self.db.profiles.find({"identity.tier": value}, {"_id": 1})]
                }
            else:
                query[key] = value
        return [e for e in self.db.timeline.find(query, {"at": 1, "scores": 1}) if e.get("scores")]

    def word_frequency(self, customer_id: str | None, since: date, until: date, limit: int) -> dict:
        """Top keywords and category counts of one customer's comments (after merges),
        or everyone's, in the local days ``since..until``."""
        scope = EVERYONE if customer_id is None else self.resolve(customer_id)
        return {
            "customer_id": None if scope == EVERYONE else scope,
            "since": since.isoformat(),
            "until": until.isoformat(),
            **self.words.frequency(scope, since, until, limit),
        }

    def rolling_scores(self, profile: dict, now: datetime) -> dict:
        entries = self._scored_entries([profile["_id"]], now - timedelta(days=HORIZON_DAYS), now)
        return rolling(entries, now, profile.get("latest"))

    def get_profile(
        self,
        customer_id: str,
        timeline_limit: int = 50,
        *,
        now: datetime | None = None,
        timeline_skip: int = 0,
    ) -> dict | None:
        target = self.resolve(customer_id)
        profile = self.db.profiles.find_one({"_id": target})
        if profile is None:
            return None
        now = now or utcnow()
        if target != customer_id:
            profile["resolved_from"] = customer_id
        profile["erased"] = "erased_at" in profile
        profile["merged_ids"] = sorted(a["_id"] for a in self.db.aliases.find({"survivor": target}))
        profile["open_cases"] = sorted(
            (profile.get("open_cases") or {}).values(), key=lambda c: (c["level"], c["opened_at"])
        )
        for field in ("case_state", *INTERNAL_FIELDS):
            profile.pop(field, None)
        profile["contacts_by_channel"] = {
            channel: {
                "count": count,
                "last_at": (profile.get("channel_last") or {}).get(channel, {}).get("at"),
            }
            for channel, count in sorted((profile.get("channels") or {}).items())
        }
        profile["scores"] = self.rolling_scores(profile, now)
        profile["scores_as_of"] = now
        profile["timeline"] = list(
            self.db.timeline.find({"customer_id": target})
            .sort([("at", DESCENDING), ("_id", ASCENDING)])
            .skip(timeline_skip)
            .limit(timeline_limit)
        )
        return profile

    def contact_fatigue(self, customer_id: str, days: int, now: datetime) -> dict:
        """Contacts (feedback given, surveys answered) in the last ``days`` days."""
        target = self.resolve(customer_id)
        since = now - timedelta(days=days)
        entries = list(
            self.db.timeline.find(
                {"customer_id": target, "kind": "feedback", "at": {"$gt": since, "$lte": now}},
                {"at": 1, "channel": 1, "survey": 1},
            )
        )
        by_channel: dict[str, int] = {}
        for e in entries:
            by_channel[e["channel"]] = by_channel.get(e["channel"], 0) + 1
        return {
            "customer_id": target,
            "days": days,
            "since": since,
            "now": now,
            "contacts": len(entries),
            "surveys": sum(1 for e in entries if e.get("survey")),
            "by_channel": by_channel,
            "last_contact_at": max((e["at"] for e in entries), default=None),
        }

    def search(self, *, name=None, phone=None, email=None, limit: int = 20, skip: int = 0) -> list[dict]:
        query: dict = {}
        if phone:
            query["search.phone"] = normalise_phone(phone)
        if email:
            query["search.email"] = normalise_email(email)
        if name:
            query["search.name"] = {"$regex": re.escape(normalise_name(name))}
        if not query:
            raise BadRequest("name/phone/email: give at least one")
        return list(
            self.db.profiles.find(query, {"identity": 1, "last_contact": 1, "feedback_count": 1})
            .sort("_id", ASCENDING)
            .skip(skip)
            .limit(limit)
        )

    def segment_detractors_with_open_case(self, limit: int, skip: int) -> list[dict]:
        # "has an open case" is a non-empty keyed subdocument, which the portable
        # query subset cannot test; detractors are few, so filter them here.
        rows = [
            p
            for p in self.db.profiles.find(
                {"latest.nps.value": {"$lte": 6}}, {"identity": 1, "latest": 1, "open_cases": 1}
            ).sort("_id", ASCENDING)
            if p.get("open_cases")
        ]
        for p in rows:
            p["open_cases"] = sorted(p["open_cases"].values(), key=lambda c: c["level"])
        return rows[skip : skip + limit]

    def segment_nps_drop(self, tier: str, drop: float, now: datetime, limit: int, skip: int) -> list[dict]:
        """Customers of ``tier`` whose 30-day NPS average fell by at least ``drop``."""
        profiles = {p["_id"]: p for p in self.db.profiles.find({"identity.tier": tier}, {"identity": 1})}
        if not profiles:
            return []
        entries = self._scored_entries(list(profiles), now - timedelta(days=2 * TREND_DAYS), now)
        by_customer: dict[str, list[dict]] = {}
        for e in entries:
            by_customer.setdefault(e["customer_id"], []).append(e)
        rows = []
        for customer_id in sorted(by_customer):
            t = trend("nps", series(by_customer[customer_id], "nps", now), now)
            if t is not None and t["delta"] <= -drop:
                rows.append({**profiles[customer_id], "nps_trend": t})
        return rows[skip : skip + limit]

    def segment_no_contact(self, days: int, now: datetime, limit: int, skip: int) -> list[dict]:
        return list(
            self.db.profiles.find(
                {"last_contact.at": {"$lte": now - timedelta(days=days)}},
                {"identity": 1, "last_contact": 1},
            )
            .sort([("last_contact.at", ASCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )

    def export(self, customer_id: str) -> dict:
        """Everything this service keeps about one customer (a data-subject request)."""
        target = self.resolve(customer_id)
        profile = self.db.profiles.find_one({"_id": target})
        if profile is None:
            raise NotFound(f"no profile for customer {customer_id}")
        for field in INTERNAL_FIELDS:
            profile.pop(field, None)
        return {
            "customer_id": target,
            "requested_id": customer_id,
            "profile": profile,
            "timeline": list(self.db.timeline.find({"customer_id": target}).sort([("at", ASCENDING)])),
            "aliases": {
                "merged_into": None if target == customer_id else target,
                "merged_ids": sorted(a["_id"] for a in self.db.aliases.find({"survivor": target})),
            },
            "audit": list(self.db.audit.find({"customer_ids": target}).sort([("at", ASCENDING)])),
            "erasure": self.db.erasures.find_one({"_id": target}),
        }

    def stats(self) -> dict:
        return {
            "profiles": self.db.profiles.count_documents({}),
            "timeline_entries": self.db.timeline.count_documents({}),
            "aliases": self.db.aliases.count_documents({}),
            "erasures": self.db.erasures.count_documents({}),
            "dead_letters": self.dead_letter_counts(),
        }


def _same_day(last_contact: dict | None, at: datetime) -> bool:
    return bool(last_contact) and local_day(last_contact["at"]) == local_day(at)
