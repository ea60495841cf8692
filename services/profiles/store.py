"""The profiles service's MongoDB store: one profile per customer, a separate timeline.

The timeline is its own collection (a profile document never grows without
bound). Every profile write is a single atomic update: "latest wins" fields are
guarded by their timestamps, counts are taken from the timeline and applied
with ``$max`` (see ``profile.py``), so replays and concurrent workers on one
customer change nothing twice and lose nothing.

Every write first resolves the customer id through the alias table (merged ids
land on their survivor) and the erasure table (an erased customer's later
events are stored without personal data). After writing it resolves again: if
a merge or an erasure happened meanwhile, the write is carried over (see
``_write_for``), so no event is stranded on a merged id and no personal data
slips in behind an erasure.

Rolling scores are computed on read from the timeline (``scores.py``): they
depend on ``now``, so a stored average would be stale the next day.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.erasure import ERASED, scrub_dead_letters
from services.common.errors import BadRequest, NotFound
from services.common.mongo import Inbox, Store
from services.profiles.profile import (
    CLOSED_CASE_STATUSES,
    IDENTITY_FIELDS,
    case_state,
    contact,
    identity_set,
    if_newer,
    if_older,
    latest_scores,
    normalise_email,
    normalise_name,
    normalise_phone,
    only,
    open_case_entry,
    safe_key,
    timeline_entry,
    without_pii,
)
from services.profiles.scores import HORIZON_DAYS, TREND_DAYS, rolling, series, trend
from services.profiles.words import EVERYONE, WordCounts

MAX_ALIAS_HOPS = 16


# A merge that would loop or split history is the caller's mistake: a plain
# BadRequest, so RPC clients (cxctl) report it by field like any bad argument.
MergeRejected = BadRequest


class ProfileStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.feedback_inbox = Inbox(db.feedback_inbox, ("source", "event_id"))
        self.alert_inbox = Inbox(db.alert_inbox, ("alert_id",))
        self.case_inbox = Inbox(db.case_inbox, ("case_id",))
        self.status_inbox = Inbox(db.status_inbox, ("case_id", "from_status", "to_status", "changed_at"))
        self.words = WordCounts(db)

    def indexes(self):
        return {
            "feedback_inbox": [self.feedback_inbox.index()],
            "alert_inbox": [self.alert_inbox.index()],
            "case_inbox": [self.case_inbox.index()],
            "status_inbox": [self.status_inbox.index()],
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

    def _ensure_profile(self, customer_id: str) -> None:
        # Dotted-path updates below need the document to exist already.
        self.db.profiles.update_one(
            {"_id": customer_id},
            {"$setOnInsert": {"created_at": utcnow(), "feedback_count": 0, "alerts_total": 0}},
            upsert=True,
        )

    def _count(self, **query) -> int:
        return self.db.timeline.count_documents(query)

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

    def _write_for(self, customer_id: str, write: Callable[[str, bool], None]) -> str:
        """Run ``write(target, erased)`` for the customer's surviving id.

        Re-resolves afterwards: a merge that started meanwhile may have moved
        the target's history before this write landed, so the move is run
        again (idempotent) and the write repeated on the new survivor; an
        erasure that started meanwhile is re-applied.
        """
        target, erased = self.resolve(customer_id), None
        for _ in range(MAX_ALIAS_HOPS):
            erased = self.is_erased(target)
            write(target, erased)
            now_target = self.resolve(customer_id)
            if now_target != target:
                self.move_history(target, now_target)
                target = now_target
                continue
            if not erased and self.is_erased(target):
                self.scrub(target)
            return target
        raise RuntimeError(f"customer {customer_id} keeps being merged; giving up")

    def _guarded_set(self, customer_id: str, guard_field: str, at: datetime, values: dict) -> None:
        self.db.profiles.update_one(only(customer_id, if_newer(guard_field, at)), {"$set": values})

    # -- feedback ----------------------------------------------------------------

    def record_feedback(self, event: dict) -> dict:
        def write(customer_id: str, erased: bool) -> None:
            self._apply_feedback(customer_id, without_pii(event) if erased else event)

        customer_id = self._write_for(event["customer"]["id"], write)
        return self.db.profiles.find_one({"_id": customer_id}) or {"_id": customer_id}

    def _apply_feedback(self, customer_id: str, event: dict) -> None:
        at = event["occurred_at"]
        entry = timeline_entry(event, customer_id)
        self._insert_once("timeline", entry)
        self.words.record(entry)
        self._ensure_profile(customer_id)
        channel = safe_key(event["channel"])
        self.db.profiles.update_one(
            {"_id": customer_id},
            {
                "$max": {
                    "feedback_count": self._count(customer_id=customer_id, kind="feedback"),
                    f"channels.{channel}": self._count(
                        customer_id=customer_id, kind="feedback", channel=event["channel"]
                    ),
                },
                "$currentDate": {"updated_at": True},
            },
        )
        self._apply_contacts(customer_id, contact(event))
        identity = identity_set(event)
        if identity:
            self._guarded_set(customer_id, "identity_from.at", at, identity)
        for kind, latest in latest_scores(event).items():
            self._guarded_set(customer_id, f"latest.{kind}.at", at, {f"latest.{kind}": latest})

    def _apply_contacts(self, customer_id: str, last: dict, first: dict | None = None) -> None:
        """Last contact overall and per channel, first contact: each guarded by event time."""
        first = first or last
        self._guarded_set(customer_id, "last_contact.at", last["at"], {"last_contact": last})
        channel = safe_key(last["channel"])
        self._guarded_set(
            customer_id, f"channel_last.{channel}.at", last["at"], {f"channel_last.{channel}": last}
        )
        self.db.profiles.update_one(
            only(customer_id, if_older("first_contact.at", first["at"])),
            {"$set": {"first_contact": first}},
        )

    # -- alerts and cases ------------------------------------------------------------

    def record_alert(self, alert: dict) -> None:
        rule_id = alert["rule"]["id"]

        def write(customer_id: str, erased: bool) -> None:
            entry = {
                "_id": f"alert:{alert['alert_id']}",
                "customer_id": customer_id,
                # placed at the feedback it is about, so the journey reads in the
                # customer's order even when a stream is replayed days later
                "at": alert["event"]["occurred_at"],
                "raised_at": alert["raised_at"],
                "kind": "alert",
                "alert_id": alert["alert_id"],
                "level": alert["level"],
                "rule": alert["rule"],
                "rule_id": rule_id,
            }
            self._insert_once("timeline", entry)
            self._ensure_profile(customer_id)
            self._recount_alerts(customer_id, [rule_id])

        self._write_for(alert["customer"]["id"], write)

    def _recount_alerts(self, customer_id: str, rule_ids: list[str]) -> None:
        counts = {
            f"alert_counts.{safe_key(r)}": self._count(customer_id=customer_id, kind="alert", rule_id=r)
            for r in rule_ids
        }
        counts["alerts_total"] = self._count(customer_id=customer_id, kind="alert")
        self.db.profiles.update_one(
            {"_id": customer_id}, {"$max": counts, "$currentDate": {"updated_at": True}}
        )
        self.words.rebuild(customer_id)

    def record_case_opened(self, case: dict) -> None:
        def write(customer_id: str, erased: bool) -> None:
            title = ERASED if erased else case["title"]
            self._insert_once(
                "timeline",
                {
                    "_id": f"case:{case['case_id']}:opened",
                    "customer_id": customer_id,
                    "at": case["opened_at"],
                    "kind": "case_opened",
                    "case_id": case["case_id"],
                    "level": case["level"],
                    "title": title,
                    "rule_name": case["rule"]["name"],
                },
            )
            self._ensure_profile(customer_id)
            # The opening is a case's earliest state: it never replaces a status change
            # stamped with the same instant (cases stamps the first assignment so).
            self._apply_case_state(
                customer_id,
                case_state(case["case_id"], case["status"], case["opened_at"], case["level"]),
                open_case_entry(case["case_id"], case["status"], case["level"], title, case["opened_at"]),
                strictly_newer=True,
            )

        self._write_for(case["customer"]["id"], write)

    def record_case_status(self, change: dict) -> None:
        """A case milestone: a timeline entry, and the open-case list follows the newest status."""
        case_id, status, at = change["case_id"], change["to_status"], change["changed_at"]

        def write(customer_id: str, erased: bool) -> None:
            entry = {
                "_id": f"case:{case_id}:status:{at.isoformat()}:{change['from_status']}>{status}",
                "customer_id": customer_id,
                "at": at,
                "kind": "case_milestone",
                "case_id": case_id,
                "level": change["level"],
                "from_status": change["from_status"],
                "to_status": status,
                "changed_by": change["changed_by"],
            }
            if not erased:
                for key in ("reason", "resolution"):
                    if change.get(key) is not None:
                        entry[key] = change[key]
            self._insert_once("timeline", entry)
            self._ensure_profile(customer_id)
            open_entry = None
            if status not in CLOSED_CASE_STATUSES:
                # title and opening time are immutable facts of the case: read them
                # from its opening entry (no read-modify-write of the profile)
                opened = self.db.timeline.find_one({"_id": f"case:{case_id}:opened"}) or {}
                open_entry = open_case_entry(
                    case_id, status, change["level"], opened.get("title"), opened.get("at", at)
                )
            self._apply_case_state(customer_id, case_state(case_id, status, at, change["level"]), open_entry)

        self._write_for(change["customer_id"], write)

    def _apply_case_state(
        self, customer_id: str, state: dict, open_entry: dict | None, *, strictly_newer: bool = False
    ) -> None:
        """Newest status wins, per case: one guarded update sets it and (un)lists the case."""
        key = safe_key(state["case_id"])
        update: dict = {"$set": {f"case_state.{key}": state}, "$currentDate": {"updated_at": True}}
        if open_entry is None:
            update["$unset"] = {f"open_cases.{key}": ""}
        else:
            update["$set"][f"open_cases.{key}"] = open_entry
        guard = if_newer(f"case_state.{key}.at", state["at"], strictly=strictly_newer)
        self.db.profiles.update_one(only(customer_id, guard), update)

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
        ``merged`` lands on ``survivor``); (2) the audit entry; (3) the history
        is moved and the survivor's profile recomputed; (4) the alias is marked
        done. A crash anywhere is finished by calling merge again.
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
        """Carry ``merged``'s timeline and profile over to ``survivor`` (idempotent)."""
        moved = self.db.timeline.update_many(
            {"customer_id": merged}, {"$set": {"customer_id": survivor, "merged_from": merged}}
        ).modified_count
        self._ensure_profile(survivor)
        old = self.db.profiles.find_one({"_id": merged})
        if old is not None:
            self._carry_profile(survivor, old)
        self.recount(survivor)
        self.words.forget(merged)  # rebuilt under the survivor by recount
        if old is not None:
            self.db.profiles.delete_one({"_id": merged})
        if self.is_erased(survivor):  # the merged id's personal data must not revive an erased survivor
            self.scrub(survivor)
        return moved

    def _carry_profile(self, survivor: str, old: dict) -> None:
        """Apply another profile's timestamped fields with the same guards events use."""
        identity_from = old.get("identity_from")
        identity = old.get("identity") or {}
        flat = {f"identity.{k}": identity[k] for k in IDENTITY_FIELDS if identity.get(k)}
        flat.update({f"identity.attributes.{k}": v for k, v in (identity.get("attributes") or {}).items()})
        flat.update({f"search.{k}": v for k, v in (old.get("search") or {}).items()})
        if identity_from and flat:
            self._guarded_set(
                survivor, "identity_from.at", identity_from["at"], {**flat, "identity_from": identity_from}
            )
        for field, value in flat.items():  # fill gaps even when the survivor's identity is newer
            self.db.profiles.update_one(
                {"_id": survivor, field: {"$exists": False}}, {"$set": {field: value}}
            )
        if old.get("last_contact"):
            self._apply_contacts(survivor, old["last_contact"], old.get("first_contact"))
        for channel_last in (old.get("channel_last") or {}).values():
            key = safe_key(channel_last["channel"])
            self._guarded_set(
                survivor, f"channel_last.{key}.at", channel_last["at"], {f"channel_last.{key}": channel_last}
            )
        for kind, latest in (old.get("latest") or {}).items():
            self._guarded_set(survivor, f"latest.{kind}.at", latest["at"], {f"latest.{kind}": latest})
        open_cases = old.get("open_cases") or {}
        for key, state in (old.get("case_state") or {}).items():
            self._apply_case_state(survivor, state, open_cases.get(key))

    def recount(self, customer_id: str) -> None:
        """Every count of the profile, from the timeline, applied with ``$max``."""
        channels = {
            row["_id"]: row["n"]
            for row in self.db.timeline.aggregate(
                [
                    {"$match": {"customer_id": customer_id, "kind": "feedback"}},
                    {"$group": {"_id": "$channel", "n": {"$sum": 1}}},
                ]
            )
        }
        rules = {
            row["_id"]: row["n"]
            for row in self.db.timeline.aggregate(
                [
                    {"$match": {"customer_id": customer_id, "kind": "alert"}},
                    {"$group": {"_id": "$rule_id", "n": {"$sum": 1}}},
                ]
            )
        }
        counts = {f"channels.{safe_key(k)}": v for k, v in channels.items()}
        counts.update({f"alert_counts.{safe_key(k)}": v for k, v in rules.items()})
        counts["feedback_count"] = sum(channels.values())
        counts["alerts_total"] = sum(rules.values())
        self.db.profiles.update_one(
            {"_id": customer_id}, {"$max": counts, "$currentDate": {"updated_at": True}}
        )
        self.words.rebuild(customer_id)

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
        """Remove personal data from everything this service keeps about the customer."""
        self.db.profiles.update_one(
            {"_id": customer_id},
            {
                "$unset": {f"identity.{k}": "" for k in ("name", "phone", "email", "attributes")}
                | {"search": "", "identity_from": ""},
                # a bare boolean $set leaf becomes 1 on the embedded server: keep a date
                "$currentDate": {"erased_at": True},
            },
        )
        profile = self.db.profiles.find_one({"_id": customer_id}, {"open_cases": 1}) or {}
        for key in profile.get("open_cases") or {}:
            self.db.profiles.update_one(
                {"_id": customer_id, f"open_cases.{key}": {"$exists": True}},
                {"$set": {f"open_cases.{key}.title": ERASED}},
            )
        texts = self.db.timeline.update_many(
            {"customer_id": customer_id},
            {"$unset": {"text": "", "tags": "", "insight": "", "reason": "", "resolution": ""}},
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
        profile.pop("case_state", None)
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
