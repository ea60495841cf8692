"""Cases and their open keys: intake, the revision-conditional transitions, the reads.

One open case per customer + topic: ``open_keys`` holds one document per key
(``_id`` is the key, so the primary-key unique index arbitrates concurrent
alerts) naming the case that holds it and whether that case is ``open``,
``resolved`` (reopenable until the window ends) or ``closed``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

import eventlet
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.cases.lifecycle import (
    ACTIVE_STATUSES,
    AUDIT_ACTIONS,
    alert_entry,
    case_id_for,
    load_holder,
    new_case,
    next_status,
    slot,
)
from services.cases.stores import CAS_ATTEMPTS, epoch
from services.cases.stores.collaborations import Collaborations
from services.cases.stores.trail import CaseTrail, opened_audit
from services.common.errors import BadRequest, Conflict, NotFound
from services.common.mongo import as_stored, insert_many_once


def key_state(status: str) -> str:
    """The state an open key mirrors for a case status."""
    # a verified case (the customer said they are satisfied) gives its topic up: a new
    # alert on it is a new problem, a new case
    return {"resolved": "resolved", "closed": "closed", "verified": "closed"}.get(status, "open")


def open_holder(key: str, case_id: str) -> dict:
    """The ``open_keys`` document by which ``case_id`` holds its customer's topic."""
    return {"_id": key, "case_id": case_id, "state": "open", "resolved_epoch": 0}


def _load_move(case: dict, moved: dict, weigh: Callable[[dict], int], now: datetime) -> dict:
    """The load fields a transition from ``case`` to ``moved`` sets: none while its
    ``load_holder`` stays, else the new holder and weight, and whence it moved."""
    holder = load_holder(moved)
    if holder == case.get("load_holder", ""):
        return {}
    moved_from = {"from": case.get("load_holder", ""), "epoch": epoch(now)}
    return {"load_holder": holder, "load_weight": weigh(moved), "load_moved": moved_from}


class CaseRecords:
    """Cases and open keys. Audit entries of what it does go to ``trail``."""

    def __init__(self, db, trail: CaseTrail):
        self.db = db
        self.trail = trail

    def indexes(self) -> dict[str, list]:
        return {
            "cases": [
                IndexModel([("alert_id", ASCENDING)], unique=True, name="alert_id"),
                IndexModel([("status", ASCENDING), ("level", ASCENDING)], name="status_level"),
                IndexModel([("assignee.id", ASCENDING), ("status", ASCENDING)], name="assignee_status"),
                IndexModel([("customer.id", ASCENDING)], name="customer"),
                IndexModel([("opened_at", DESCENDING)], name="opened_at"),
            ],
        }

    # intake: one open case per customer + topic ----------------------------

    def intake(
        self,
        alert: dict,
        key: str,
        now: datetime,
        reopen_window_s: float,
        extra: dict | None = None,
        *,
        audit_opening: bool = True,
    ) -> tuple[str, dict]:
        """Open, attach to, or (within the window) reopen the case for ``key``.

        Returns ``(outcome, case)``; outcome is ``opened``, ``attached`` or
        ``reopen`` (the caller runs the reopen transition, then ``attach``).
        Every step is idempotent, so a redelivered alert lands where it did.
        ``audit_opening=False``: the caller writes the opening's audit entry
        (``opened_audit``) with its next one.
        """
        mine = case_id_for(alert["alert_id"])
        for _ in range(CAS_ATTEMPTS):
            holder = open_holder(key, mine)
            try:
                self.db.open_keys.insert_one(dict(holder))  # taken: no need to read it back
            except DuplicateKeyError:
                holder = cast(dict, self.db.open_keys.find_one({"_id": key}))  # keys are never deleted
            if holder["case_id"] == mine:
                case = new_case(alert, now, key, extra)
                return "opened", self.open_case(case, audit=audit_opening)
            if holder["state"] == "open":
                attached = self.attach(holder["case_id"], alert, now)
                if attached is not None:
                    return "attached", attached
            elif holder["state"] == "resolved" and epoch(now) - holder["resolved_epoch"] <= reopen_window_s:
                return "reopen", cast(dict, self.get_case(holder["case_id"]))  # the holder names it
            else:  # closed, or resolved too long ago: this alert's case takes the key
                self.db.open_keys.update_one(
                    {"_id": key, "case_id": holder["case_id"], "state": holder["state"]},
                    {"$set": {"case_id": mine, "state": "open", "resolved_epoch": 0}},
                )
            eventlet.sleep(0.01)  # the holder is finishing right now; look again
        raise RuntimeError(f"open key {key!r} kept changing; the alert will be retried")

    def open_many(self, items: list[tuple[str, dict]]) -> dict[int, dict]:
        """Open the cases of a batch whose open keys are free: ``items`` are (open key,
        the case as ``new_case`` built it, perhaps already assigned); the keys in one
        ``insert_many``, then the cases in another (no audit: the caller writes the
        openings' entries). Returns the cases opened, by position. A case whose key is
        held (an open or resolved case on the topic, a second alert of the batch on the
        same topic, a redelivery) is left to ``intake``."""
        holders = [open_holder(key, case["_id"]) for key, case in items]
        held = set(insert_many_once(self.db.open_keys, holders))
        fresh = [i for i in range(len(items)) if i not in held]
        cases = [dict(items[i][1]) for i in fresh]
        existed = set(insert_many_once(self.db.cases, cases))
        return {
            i: as_stored(case)
            for k, (i, case) in enumerate(zip(fresh, cases, strict=True))
            if k not in existed
        }

    def open_case(self, case: dict, *, audit: bool = True) -> dict:
        """Insert the case unless it exists; return the stored case either way (a new
        one as the store holds it, without reading it back)."""
        try:
            self.db.cases.insert_one(case)
        except DuplicateKeyError:
            return self.db.cases.find_one({"_id": case["_id"]})
        case = as_stored(case)
        if audit:
            self.trail.write_audit([opened_audit(case)])
        return case

    def attach(self, case_id: str, alert: dict, now: datetime) -> dict | None:
        """List another alert on an active case; None when the case is no longer active."""
        case = self.db.cases.find_one_and_update(
            {"_id": case_id, "status": {"$in": list(ACTIVE_STATUSES)}},
            {
                "$set": {f"alerts.{slot(alert['alert_id'])}": alert_entry(alert, now)},
                "$currentDate": {"updated_at": True},
            },
            return_document=ReturnDocument.AFTER,
        )
        if case is not None:
            self.trail.audit(
                case_id,
                "alert_attached",
                "system",
                f"alert {alert['alert_id']} for the same "
                + ("group" if alert.get("scope") == "group" else "customer and topic"),
                detail={"alert_id": alert["alert_id"], "level": alert["level"]},
                key=f"{case_id}:alert:{alert['alert_id']}",
                at=now,
            )
        return case

    def claim_key_for_reopen(self, case: dict) -> None:
        """A resolved case takes its open key back before it reopens."""
        if not case.get("open_key"):
            return
        self.db.open_keys.update_one(
            {"_id": case["open_key"], "case_id": case["_id"], "state": "resolved"},
            {"$set": {"state": "open", "resolved_epoch": 0}},
        )
        holder = self.db.open_keys.find_one({"_id": case["open_key"]})
        if holder["case_id"] != case["_id"]:
            raise BadRequest(
                f"case_id: cannot reopen {case['_id']}: case {holder['case_id']} is now the open case "
                "for this customer and topic"
            )

    def sync_key(self, case: dict, now: datetime, before: str | None = None) -> None:
        """Mirror a case's status on its open key (only while the case holds it).

        ``before``: the status it leaves; a move that keeps the key's state (open →
        assigned → in progress: all "open") writes nothing.
        """
        if not case.get("open_key"):
            return
        state = key_state(case["status"])
        if before is not None and key_state(before) == state:
            return
        self.db.open_keys.update_one(
            {"_id": case["open_key"], "case_id": case["_id"]},
            {"$set": {"state": state, "resolved_epoch": epoch(now) if state == "resolved" else 0}},
        )

    # transitions -----------------------------------------------------------

    def transition(
        self,
        case_id: str,
        action: str,
        *,
        by: str,
        why: str,
        now: datetime,
        changes: Callable[[dict, str], dict] | None = None,
        detail: dict | None = None,
        audit_key: str | None = None,
        audit_action: str | None = None,
        also_audit: list[dict] | tuple = (),
        known: dict | None = None,
        weigh: Callable[[dict], int] | None = None,
        expect: dict | None = None,
    ) -> tuple[dict, dict]:
        """Apply ``action`` atomically; returns (case before, case after).

        The update is conditional on the revision that was read, so a
        concurrent change makes it retry against the new state (and the
        transition table decides again) instead of overwriting it.
        ``expect``: plain fields the case must still hold (``{"assignee_key": ""}``),
        part of the same conditional update; a case that no longer holds them raises
        Conflict instead of being retried (take it: the first taker wins).
        ``changes(case, to_status)`` returns further ``$set`` fields; ``also_audit``:
        audit entries written with this one (one round trip). ``known``: the
        case as just stored (its first attempt skips the read). With ``weigh(case)``
        (the load weight) the case's ``load_holder`` follows its owner and status in
        the same update (``move_load`` then moves the agents' loads), with
        ``load_moved`` ({from, epoch}) telling the recount the move is recent.
        """
        for _ in range(CAS_ATTEMPTS):
            case, known = (known, None) if known is not None else (self.get_case(case_id), None)
            if case is None:
                raise NotFound(f"no case {case_id}")
            if expect and any(case.get(k) != v for k, v in expect.items()):
                raise Conflict(f"case_id: {case_id} changed: {_changed(case, expect)}")
            to = next_status(action, case["status"])
            sets = changes(case, to) if changes else {}
            if weigh is not None:
                sets = {**sets, **_load_move(case, {**case, **sets, "status": to}, weigh, now)}
            after = self.db.cases.find_one_and_update(
                {"_id": case_id, "rev": case["rev"], **(expect or {})},
                {"$set": {"status": to, **sets}, "$inc": {"rev": 1}, "$currentDate": {"updated_at": True}},
                return_document=ReturnDocument.AFTER,
            )
            if after is not None:
                self.trail.audit(
                    case_id,
                    audit_action or AUDIT_ACTIONS[action],
                    by,
                    why,
                    detail={"from": case["status"], "to": to, **(detail or {})},
                    key=audit_key or f"{case_id}:r{after['rev']}",
                    at=now,
                    also=also_audit,
                )
                return case, after
        raise BadRequest(f"case_id: {case_id} changed concurrently too often; try again")

    def peek_intake(
        self, alert: dict, key: str, now: datetime, reopen_window_s: float
    ) -> tuple[str, dict | None]:
        """What ``intake`` would do with ``alert``, read-only: (open|attach|reopen, case).

        ``open`` with a case means the alert was already taken in (its case exists).
        """
        mine = case_id_for(alert["alert_id"])
        holder = self.db.open_keys.find_one({"_id": key})
        if holder is None:
            return "open", self.get_case(mine)
        if holder["case_id"] == mine:
            return "open", self.get_case(mine)
        case = self.get_case(holder["case_id"])
        if holder["state"] == "open" and case is not None and case["status"] in ACTIVE_STATUSES:
            return "attach", case
        if holder["state"] == "resolved" and epoch(now) - holder["resolved_epoch"] <= reopen_window_s:
            return "reopen", case
        return "open", None

    def open_case_ids(self) -> list[str]:
        return [c["_id"] for c in self.db.cases.find({"status": {"$in": list(ACTIVE_STATUSES)}}, {"_id": 1})]

    # collaborators ---------------------------------------------------------------

    def add_collaborator(self, case_id: str, person: str, role: str, *, by: str, now: datetime) -> dict:
        entry = {"id": person, "role": role, "added_by": by, "at": now}
        Collaborations(self.db).note(case_id, person)  # the queue's hint, before the case
        case = self.db.cases.find_one_and_update(
            {"_id": case_id, "status": {"$ne": "closed"}},
            {"$set": {f"collaborators.{slot(person)}": entry}, "$currentDate": {"updated_at": True}},
            return_document=ReturnDocument.AFTER,
        )
        if case is None:
            self._missing_or(case_id, "add a collaborator to")
        self.trail.audit(case_id, "collaborator_added", by, f"{person} as {role}", detail=entry, at=now)
        return case

    def _missing_or(self, case_id: str, verb: str):
        if self.get_case(case_id) is None:
            raise NotFound(f"no case {case_id}")
        raise BadRequest(f"case_id: cannot {verb} the closed case {case_id}")

    def get_case(self, case_id: str) -> dict | None:
        return self.db.cases.find_one({"_id": case_id})


def _changed(case: dict, expect: dict) -> str:
    """What the case holds instead of what was expected, e.g. ``assignee_key is person:li.na``."""
    return ", ".join(f"{k} is {case.get(k) or 'empty'}" for k, v in expect.items() if case.get(k) != v)
