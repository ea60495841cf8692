"""The cases service's MongoDB store: cases, open keys, audit trail, comments, inbox.

One open case per customer + topic: ``open_keys`` holds one document per key
(``_id`` is the key, so the primary-key unique index arbitrates concurrent
alerts) naming the case that holds it and whether that case is ``open``,
``resolved`` (reopenable until the window ends) or ``closed``.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import eventlet
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.cases import escalation
from services.cases.lifecycle import (
    ACTIVE_STATUSES,
    AUDIT_ACTIONS,
    alert_entry,
    case_id_for,
    new_case,
    next_status,
    slot,
)
from services.common.erasure import anonymise, redact, scrub_dead_letters
from services.common.errors import BadRequest, NotFound
from services.common.mongo import ConfigCache, Inbox, Store, all_of, as_stored, insert_many_once

CAS_ATTEMPTS = 20
# The agents directory and the policies: read once per revision (ConfigCache).
CONFIG_COLLECTIONS = ("agents", "teams", "strategies", "sla_policies", "escalation_policies")
METRIC_FIELDS = (
    "opened_at", "level", "team", "touchpoint", "assignee", "sla", "milestones", "reopen_count",
    "acknowledged", "resolved", "resolution",  # read only for cases stored before milestones
)  # fmt: skip


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def audit_entry(
    case_id: str, action: str, actor: str, why: str, *, detail: dict | None = None, key: str | None = None, at
) -> dict:
    """An audit entry (who, when, what, why); ``key`` (its ``_id``) makes it idempotent."""
    entry = {
        "case_id": case_id,
        "action": action,
        "actor": actor,
        "why": why,
        "detail": detail or {},
        "at": at,
        "seq": time.time_ns(),
    }
    if key:
        entry["_id"] = key
    return entry


def opened_audit(case: dict) -> dict:
    """The audit entry of a case's opening (keyed: written once)."""
    return audit_entry(
        case["_id"],
        "opened",
        "system",
        f"alert {case['alert_id']}",
        key=f"{case['_id']}:opened",
        at=case["opened_at"],
    )


def assigned_audit(case: dict) -> dict:
    """The audit entry of the assignment a case got as it opened (``opening_assignment``),
    as the ``assign`` transition writes it (keyed by that revision: written once)."""
    given = case["assignment"]
    return audit_entry(
        case["_id"],
        "assigned",
        "system",
        given["reason"],
        detail={"from": "open", "to": "assigned", "assignee": case["assignee"]},
        key=f"{case['_id']}:r{given['rev']}",
        at=given["at"],
    )


def key_state(status: str) -> str:
    """The state an open key mirrors for a case status."""
    return {"resolved": "resolved", "closed": "closed"}.get(status, "open")


def load_holder(case: dict) -> str:
    """Whom a case's load is charged to: its person owner while active, else nobody."""
    assignee = case.get("assignee") or {}
    active = case["status"] in ACTIVE_STATUSES and assignee.get("kind") == "person"
    return assignee["id"] if active else ""


def pick_key(case: dict) -> str:
    """What a strategy's pick for ``case`` is recorded under: the case at the revision
    its assignment will change. A redelivered alert whose first attempt died before
    the assignment was stored finds the case at that revision and gets the same pick;
    a later assignment of the case (a later revision) picks afresh."""
    return f"{case['_id']}@r{case['rev']}"


@dataclass(frozen=True)
class Charge:
    """A least-loaded pick's charge on an agent's load, recorded there under ``key``."""

    agent: str
    weight: int
    key: str


# breach filter values: ack_breached / resolve_breached / at_risk / none, and the
# older any-clock names breached (either clock) and warning (= at_risk)
BREACH_STATES = ("ack_breached", "resolve_breached", "breached", "at_risk", "warning", "none")
CLOCK_FIELDS = {"acknowledge": "sla.clocks.acknowledge", "resolve": "sla.clocks.resolve"}


def _clock_breached(clock: str, now: float) -> list[dict]:
    return [{f"{clock}.due_epoch": {"$lte": now}}, {f"{clock}.met": False}]


def _clock_at_risk(clock: str, now: float) -> dict:
    return {f"{clock}.warn_epoch": {"$lte": now}, f"{clock}.due_epoch": {"$gt": now}}


def breach_query(state: str, now: float) -> dict:
    """Cases by SLA state right now (epoch numbers, see docs/store.md).

    ``ack_breached`` / ``resolve_breached``: that clock's due time passed while
    it runs, or it stopped late; ``breached``: either; ``at_risk`` (alias
    ``warning``): a running clock passed its pre-breach warning time but not its
    due time; ``none``: neither breached nor at risk (cases without an SLA too).
    A paused clock has no due time, so it is in none of the running states.
    """
    ack, res = CLOCK_FIELDS["acknowledge"], CLOCK_FIELDS["resolve"]
    breached = _clock_breached(ack, now) + _clock_breached(res, now)
    at_risk = [_clock_at_risk(ack, now), _clock_at_risk(res, now)]
    if state == "ack_breached":
        return {"$or": _clock_breached(ack, now)}
    if state == "resolve_breached":
        return {"$or": _clock_breached(res, now)}
    if state == "breached":
        return {"$or": breached}
    if state in ("at_risk", "warning"):
        return {"$or": at_risk}
    if state == "none":
        return {"$nor": breached + at_risk}
    raise BadRequest(f"breach: must be one of {', '.join(BREACH_STATES)}")


def visibility_query(visible_to: dict | None) -> dict:
    """What ``visible_to`` (``{"user_id", "role", "teams"}``) may see; {} = everything.

    An ``agent`` sees a case assigned to them, assigned to one of their teams,
    one they collaborate on (协作人), or an unassigned case of one of their teams
    or of no known team (so that nobody's pick-up pool is invisible). Every
    other role sees every case.
    """
    if not visible_to or visible_to["role"] != "agent":
        return {}
    user, teams = visible_to["user_id"], list(visible_to["teams"])
    return {
        "$or": [
            {"assignee_key": f"person:{user}"},
            {"assignee.kind": "team", "assignee.id": {"$in": teams}},
            {f"collaborators.{slot(user)}.id": user},
            # a missing team reads as null with $in on both servers; explicit nulls
            # are not matched inside $or on nx-27017 (docs/store.md), hence $in
            {"assignee_key": "", "team": {"$in": [*teams, None]}},
        ]
    }


def open_holder(key: str, case_id: str) -> dict:
    """The ``open_keys`` document by which ``case_id`` holds its customer's topic."""
    return {"_id": key, "case_id": case_id, "state": "open", "resolved_epoch": 0}


class CaseStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.alert_inbox, ("alert_id",))
        self.config = ConfigCache(db, self._load_config)

    def _load_config(self) -> dict:
        # natural order, as the directory's own reads gave it
        return {name: [d for d in self.db[name].find()] for name in CONFIG_COLLECTIONS}

    def _configured(self, name: str, item_id: str | None) -> dict | None:
        found = next((d for d in self.config.get()[name] if d["_id"] == item_id), None)
        return copy.deepcopy(found)

    def indexes(self):
        return {
            "alert_inbox": [self.inbox.index()],
            "cases": [
                IndexModel([("alert_id", ASCENDING)], unique=True, name="alert_id"),
                IndexModel([("status", ASCENDING), ("level", ASCENDING)], name="status_level"),
                IndexModel([("assignee.id", ASCENDING), ("status", ASCENDING)], name="assignee_status"),
                IndexModel([("customer.id", ASCENDING)], name="customer"),
                IndexModel([("opened_at", DESCENDING)], name="opened_at"),
            ],
            "case_audit": [IndexModel([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at")],
            "case_comments": [IndexModel([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at")],
            "escalation_steps": [
                IndexModel([("state", ASCENDING), ("due_epoch", ASCENDING)], name="state_due"),
                IndexModel([("case_id", ASCENDING)], name="case"),
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
                holder = self.db.open_keys.find_one({"_id": key})
            if holder["case_id"] == mine:
                case = {**new_case(alert, now, key), **(extra or {})}
                return "opened", self.open_case(case, audit=audit_opening)
            if holder["state"] == "open":
                case = self.attach(holder["case_id"], alert, now)
                if case is not None:
                    return "attached", case
            elif holder["state"] == "resolved" and epoch(now) - holder["resolved_epoch"] <= reopen_window_s:
                return "reopen", self.get_case(holder["case_id"])
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
            self.write_audit([opened_audit(case)])
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
            self.audit(
                case_id,
                "alert_attached",
                "system",
                f"alert {alert['alert_id']} for the same customer and topic",
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
    ) -> tuple[dict, dict]:
        """Apply ``action`` atomically; returns (case before, case after).

        The update is conditional on the revision that was read, so a
        concurrent change makes it retry against the new state (and the
        transition table decides again) instead of overwriting it.
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
            to = next_status(action, case["status"])
            sets = changes(case, to) if changes else {}
            if weigh is not None:
                moved = {**case, **sets, "status": to}
                holder = load_holder(moved)
                if holder != case.get("load_holder", ""):
                    moved_from = {"from": case.get("load_holder", ""), "epoch": epoch(now)}
                    sets = {
                        **sets,
                        "load_holder": holder,
                        "load_weight": weigh(moved),
                        "load_moved": moved_from,
                    }
            after = self.db.cases.find_one_and_update(
                {"_id": case_id, "rev": case["rev"]},
                {"$set": {"status": to, **sets}, "$inc": {"rev": 1}, "$currentDate": {"updated_at": True}},
                return_document=ReturnDocument.AFTER,
            )
            if after is not None:
                self.audit(
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

    # agents directory, strategies and their atomic counters ----------------

    def apply_directory(self, directory: dict) -> dict:
        """Replace teams, agents and strategies with the validated ``directory``."""
        counts = {}
        for name in ("teams", "agents", "strategies"):
            items = directory[name]
            for item in items:
                self.db[name].replace_one({"_id": item["id"]}, {"_id": item["id"], **item}, upsert=True)
            self.db[name].delete_many({"_id": {"$nin": [i["id"] for i in items]}})
            counts[name] = len(items)
        self.config.bump()
        return counts

    def directory(self) -> dict:
        return {
            name: [
                {k: v for k, v in d.items() if k != "_id"}
                for d in self.db[name].find().sort("_id", ASCENDING)
            ]
            for name in ("teams", "agents", "strategies")
        }

    def agents(self) -> list[dict]:
        return copy.deepcopy(self.config.get()["agents"])

    def strategy(self, strategy_id: str) -> dict | None:
        return self._configured("strategies", strategy_id)

    def set_shift(self, agent_id: str, on_shift: bool) -> dict:
        agent = self.db.agents.find_one_and_update(
            {"_id": agent_id}, {"$set": {"on_shift": on_shift}}, return_document=ReturnDocument.AFTER
        )
        if agent is None:
            raise NotFound(f"no agent {agent_id}")
        self.config.bump()
        return agent

    def next_turn(self, strategy_id: str, pick_for: str) -> int:
        """Round robin: an atomic counter per strategy (0, 1, 2, ...), idempotent per pick.

        The turn taken for ``pick_for`` (``pick_key``: the case at the revision
        its assignment will make) is recorded in the same conditional update that
        advances the counter (``picks.<slot>``), so a redelivered alert whose first
        delivery died after picking gets the same turn back instead of advancing
        the rotation again. ``forget_pick`` drops the record once the assignment is
        stored; one left by a crash in between is never asked for again (the
        case's next assignment has a new revision).
        """
        self.db.turns.update_one(
            {"_id": strategy_id}, {"$setOnInsert": {"turn": 0, "picks": {}}}, upsert=True
        )
        key = slot(pick_for)
        for _ in range(CAS_ATTEMPTS * 5):
            doc = self.db.turns.find_one({"_id": strategy_id})
            recorded = (doc.get("picks") or {}).get(key)
            if recorded is not None:
                return recorded
            if self.db.turns.update_one(
                {"_id": strategy_id, "turn": doc["turn"]},
                {"$set": {f"picks.{key}": doc["turn"]}, "$inc": {"turn": 1}},
            ).modified_count:
                return doc["turn"]
            eventlet.sleep(0)
        raise RuntimeError("the round-robin counter kept changing; try again")

    def forget_pick(self, strategy_id: str, pick_for: str) -> None:
        self.db.turns.update_one({"_id": strategy_id}, {"$unset": {f"picks.{slot(pick_for)}": ""}})

    def peek_turn(self, strategy_id: str, pick_for: str) -> int:
        """The turn ``next_turn`` would give, without taking it (dry runs)."""
        doc = self.db.turns.find_one({"_id": strategy_id}) or {}
        recorded = (doc.get("picks") or {}).get(slot(pick_for))
        return recorded if recorded is not None else doc.get("turn", 0)

    def peek_loads(self, agent_ids: list[str]) -> dict[str, int]:
        """Current loads without creating counters (dry runs); missing = 0."""
        found = {d["_id"]: d["load"] for d in self.db.agent_load.find({"_id": {"$in": agent_ids}})}
        return {a: found.get(a, 0) for a in agent_ids}

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

    # agent loads ---------------------------------------------------------------
    # ``agent_load`` holds one document per agent: ``load`` (the weighted active cases
    # the agent owns), ``rev`` (moved by every write, so the recount can update
    # conditionally) and ``charges`` (least-loaded picks charged whose assignment is
    # not stored yet, by pick key: {weight, epoch}).

    def _load_docs(self, agent_ids: list[str]) -> dict[str, dict]:
        for agent_id in agent_ids:
            self.db.agent_load.update_one(
                {"_id": agent_id}, {"$setOnInsert": {"load": 0, "rev": 0}}, upsert=True
            )
        return {d["_id"]: d for d in self.db.agent_load.find({"_id": {"$in": agent_ids}})}

    def loads(self, agent_ids: list[str]) -> dict[str, int]:
        return {a: d["load"] for a, d in self._load_docs(agent_ids).items()}

    def charge_least_loaded(self, pool: list[dict], weight: int, pick, pick_for: str, now: float) -> Charge:
        """Pick with ``pick(pool, loads)`` and charge the pick, atomically, once per pick.

        The charge is conditional on the load that was read: a concurrent charge
        makes it fail and the choice is made again on fresh loads. The same update
        records it under ``pick_for`` (``pick_key``), so an alert redelivered after
        its first attempt died between the charge and the stored assignment gets
        that agent and that charge back (its epoch renewed: it is in flight again)
        instead of charging a second agent. ``settle`` drops the record once the
        assignment is stored, ``refund`` gives the charge back.
        """
        key = slot(pick_for)
        for _ in range(CAS_ATTEMPTS * 5):
            docs = self._load_docs([a["id"] for a in pool])
            held = next((d for d in docs.values() if key in (d.get("charges") or {})), None)
            if held is not None:
                if self.db.agent_load.update_one(
                    {"_id": held["_id"], f"charges.{key}": {"$exists": True}},
                    {"$set": {f"charges.{key}.epoch": now}, "$inc": {"rev": 1}},
                ).modified_count:
                    return Charge(held["_id"], held["charges"][key]["weight"], key)
                continue  # the recount dropped it as lost just now: charge afresh
            agent = pick(pool, {a: d["load"] for a, d in docs.items()})
            if self.db.agent_load.update_one(
                {"_id": agent["id"], "load": docs[agent["id"]]["load"]},
                {
                    "$inc": {"load": weight, "rev": 1},
                    "$set": {f"charges.{key}": {"weight": weight, "epoch": now}},
                },
            ).modified_count:
                return Charge(agent["id"], weight, key)
            eventlet.sleep(0)
        raise RuntimeError("agent loads kept changing; try again")

    def settle(self, charge: Charge) -> None:
        """The charged assignment is stored: the case carries the load now."""
        self.db.agent_load.update_one(
            {"_id": charge.agent, f"charges.{charge.key}": {"$exists": True}},
            {"$unset": {f"charges.{charge.key}": ""}, "$inc": {"rev": 1}},
        )

    def refund(self, charge: Charge) -> None:
        """Give back a charge the case did not take (once: its record goes with it)."""
        self.db.agent_load.update_one(
            {"_id": charge.agent, f"charges.{charge.key}": {"$exists": True}},
            {"$inc": {"load": -charge.weight, "rev": 1}, "$unset": {f"charges.{charge.key}": ""}},
        )

    def move_load(self, before: dict, after: dict, charged: Charge | None = None) -> None:
        """Keep ``agent_load`` equal to the weighted active cases each person owns,
        after a transition moved the case's ``load_holder`` (in its revision-conditional
        update, so each move is applied once). ``charged``: the charge
        ``charge_least_loaded`` already made (settled if the case took it, else refunded)."""
        holder, desired = before.get("load_holder", ""), after.get("load_holder", "")
        if holder and holder != desired:
            self.db.agent_load.update_one(
                {"_id": holder}, {"$inc": {"load": -before.get("load_weight", 0), "rev": 1}}
            )
        if desired and desired != holder:
            if charged is not None and charged.agent == desired:
                self.settle(charged)
                charged = None
            else:
                self.db.agent_load.update_one(
                    {"_id": desired}, {"$inc": {"load": after["load_weight"], "rev": 1}}, upsert=True
                )
        if charged is not None:
            self.refund(charged)

    def add_loads(self, cases: list[dict]) -> None:
        """Charge new cases' loads to their holders (cases inserted already assigned, with
        ``load_holder`` and ``load_weight`` set): one bulk write, one update per agent.
        A case stored by an attempt that died before this is put right by the recount
        (its ``load_moved`` is recent), as after any transition."""
        owed: Counter[str] = Counter()
        moves: Counter[str] = Counter()
        for case in cases:
            if case.get("load_holder"):
                owed[case["load_holder"]] += case["load_weight"]
                moves[case["load_holder"]] += 1
        if owed:
            self.db.agent_load.bulk_write(
                [
                    UpdateOne(
                        {"_id": agent}, {"$inc": {"load": owed[agent], "rev": moves[agent]}}, upsert=True
                    )
                    for agent in sorted(owed)
                ],
                ordered=False,
            )

    def recount_loads(self, default_weight: Callable[[str], int], now: float, settle_s: float) -> dict:
        """Make ``agent_load`` equal the weighted active cases each person owns again.

        Counters drift when a worker dies between charging a pick and storing the
        assignment, or between moving a case and moving its load. First each
        case's ``load_holder`` is set to what its status and owner say (weight
        ``load_weight``, else ``default_weight(level)``; conditional on the
        revision read). Then, per agent: its load document is read (1), the
        cases it holds are summed (2), and the load is set to the sum, its charges
        dropped, by an update conditional on the document's ``rev`` (3).

        Assignments go on meanwhile, and each writes the case and the agent's
        load one after the other; a recount that caught one half-way would count
        it twice or not at all. So an agent is left alone this run (``busy``)
        while anything of theirs may be half-way: a charge younger than
        ``settle_s`` (its case may not be stored yet) or a case whose
        ``load_holder`` moved to or from them less than ``settle_s`` ago (their
        load may not be moved yet). Older ones are done or were lost in a crash,
        and then the cases say the truth. A write to the agent's document between
        (1) and (3) moves its ``rev``: the update misses and the agent is read
        again. Returns ``{"cases_fixed", "loads_changed": {agent: [before, after]},
        "charges_dropped", "busy": [agents]}``.
        """
        fixed = self._fix_load_holders(default_weight)
        since = now - settle_s
        changed: dict[str, list[int]] = {}
        dropped, busy = 0, set()
        todo: set[str] | None = None
        for _ in range(CAS_ATTEMPTS):
            docs = {d["_id"]: d for d in self.db.agent_load.find()}  # (1) before (2)
            owed = self._owed_loads()
            moving = self._moved_since(since)
            raced = set()
            for agent in sorted(todo if todo is not None else set(owed) | set(docs)):
                doc = docs.get(agent)
                charges = (doc or {}).get("charges") or {}
                if agent in moving or any(c["epoch"] >= since for c in charges.values()):
                    busy.add(agent)
                    continue
                want, have = owed.get(agent, 0), (doc or {}).get("load", 0)
                if have == want and not charges:
                    continue
                if self._set_load(agent, doc, want, bool(charges)):
                    dropped += len(charges)
                    if have != want:
                        changed[agent] = [have, want]
                else:
                    raced.add(agent)
            if not raced:
                break
            todo = raced
            eventlet.sleep(0.05)
        else:
            busy |= raced
        return {
            "cases_fixed": fixed,
            "loads_changed": changed,
            "charges_dropped": dropped,
            "busy": sorted(busy),
        }

    def _fix_load_holders(self, default_weight: Callable[[str], int]) -> int:
        fixed = 0
        fields = {"status": 1, "assignee": 1, "load_holder": 1, "load_weight": 1, "level": 1, "rev": 1}
        for case in self.db.cases.find({}, fields):
            desired = load_holder(case)
            if case.get("load_holder", "") != desired:
                weight = case.get("load_weight") or default_weight(case["level"])
                # rev moves too: a transition that read the case before this fix retries
                fixed += self.db.cases.update_one(
                    {"_id": case["_id"], "rev": case["rev"]},
                    {"$set": {"load_holder": desired, "load_weight": weight}, "$inc": {"rev": 1}},
                ).modified_count
        return fixed

    def _owed_loads(self) -> dict[str, int]:
        return {
            row["_id"]: row["load"]
            for row in self.db.cases.aggregate(
                [
                    {"$match": {"load_holder": {"$nin": ["", None]}}},
                    {"$group": {"_id": "$load_holder", "load": {"$sum": "$load_weight"}}},
                ]
            )
        }

    def _moved_since(self, since: float) -> set[str]:
        """Agents a case's load moved to or from at ``since`` or later."""
        moved = set()
        for case in self.db.cases.find(
            {"load_moved.epoch": {"$gte": since}}, {"load_holder": 1, "load_moved": 1}
        ):
            moved |= {case.get("load_holder", ""), case["load_moved"].get("from", "")}
        return moved - {""}

    def _set_load(self, agent: str, doc: dict | None, load: int, drop_charges: bool) -> bool:
        """Set an agent's load unless its document changed since ``doc`` was read."""
        if doc is None:
            try:
                self.db.agent_load.insert_one({"_id": agent, "load": load, "rev": 1})
            except DuplicateKeyError:
                return False
            return True
        update: dict = {"$set": {"load": load}, "$inc": {"rev": 1}}
        if drop_charges:
            update["$unset"] = {"charges": ""}
        # an older document has no rev yet: None matches a missing field
        return bool(
            self.db.agent_load.update_one({"_id": agent, "rev": doc.get("rev")}, update).modified_count
        )

    # SLA policies (versioned) ------------------------------------------------

    def apply_sla_policy(self, policy: dict) -> tuple[int, bool]:
        """Store ``policy`` as a new version unless it is unchanged; (version, changed)."""
        return self._apply_versioned("sla_policies", policy)

    def apply_escalation_policy(self, policy: dict) -> tuple[int, bool]:
        return self._apply_versioned("escalation_policies", policy)

    def escalation_policy(self, policy_id: str = "default") -> dict | None:
        return self._configured("escalation_policies", policy_id)

    def _apply_versioned(self, collection: str, policy: dict) -> tuple[int, bool]:
        coll, versions = self.db[collection], self.db[f"{collection}_versions"]
        for _ in range(CAS_ATTEMPTS):
            current = coll.find_one({"_id": policy["id"]})
            if current is not None and current["policy"] == policy:
                return current["version"], False
            version = (current or {}).get("version", 0) + 1
            doc = {"_id": policy["id"], "version": version, "policy": policy}
            if current is None:
                try:
                    coll.insert_one(doc)
                except DuplicateKeyError:
                    continue
            elif not coll.replace_one(
                {"_id": policy["id"], "version": current["version"]}, doc
            ).modified_count:
                continue
            versions.insert_one({**doc, "_id": f"{policy['id']}@v{version}"})
            self.config.bump()
            return version, True
        raise BadRequest("policy: changed concurrently too often; try again")

    def sla_policy(self, policy_id: str = "default") -> dict | None:
        return self._configured("sla_policies", policy_id)

    def open_case_ids(self) -> list[str]:
        return [c["_id"] for c in self.db.cases.find({"status": {"$in": list(ACTIVE_STATUSES)}}, {"_id": 1})]

    def team_of(self, owner: dict | None) -> str | None:
        """The team that owns work for ``owner``: the team itself, a strategy's team,
        or an agent's first team (None: not in the directory)."""
        if not owner:
            return None
        if owner["kind"] == "team":
            return owner["id"]
        if owner["kind"] == "strategy":
            return (self.strategy(owner["id"]) or {}).get("team")
        return ((self._configured("agents", owner["id"]) or {}).get("teams") or [None])[0]

    def team_calendar(self, owner: dict) -> str | None:
        """The calendar of the team that owns work for ``owner`` (team, strategy or agent)."""
        team_id = self.team_of(owner)
        return (self._configured("teams", team_id) or {}).get("calendar")

    # pre-breach warnings ---------------------------------------------------------

    def at_risk_cases(self, clock: str, now: float, limit: int = 200) -> list[dict]:
        """Active cases whose ``clock`` passed its warning time but is not yet due."""
        query = all_of({"status": {"$in": list(ACTIVE_STATUSES)}}, _clock_at_risk(CLOCK_FIELDS[clock], now))
        return list(self.db.cases.find(query).sort("_id", ASCENDING).limit(limit))

    def warning_sent(self, notification_id: str) -> bool:
        return self.db.sla_warnings.find_one({"_id": notification_id}, {"_id": 1}) is not None

    def record_warning(self, notification_id: str, case_id: str, at: datetime) -> None:
        try:
            self.db.sla_warnings.insert_one({"_id": notification_id, "case_id": case_id, "at": at})
        except DuplicateKeyError:
            pass

    # escalation: durable due steps ------------------------------------------

    def schedule_steps(self, steps: list[dict]) -> None:
        """Insert due steps in one round trip; an id already present (a redelivery) is
        left alone."""
        insert_many_once(self.db.escalation_steps, steps)

    def cancel_steps(self, case_id: str, snap: dict | None = None, runs: int = 1) -> int:
        """Cancel a case's pending steps. With its escalation snapshot, by ``_id``: every
        step the snapshot can have scheduled in its ``runs`` runs (opening and reopens)
        is named (``escalation.step_ids``), so no query looks through every case's steps."""
        query: dict = {"case_id": case_id}
        if snap:
            query = {"_id": {"$in": escalation.step_ids(case_id, snap, runs)}}
        return self.db.escalation_steps.update_many(
            {**query, "state": "pending"}, {"$set": {"state": "cancelled"}}
        ).modified_count

    def claim_step(self, now: float, worker: str, lease_s: float) -> dict | None:
        """Claim the earliest due step, or one whose claimer's lease ran out."""
        update = {"$set": {"state": "claimed", "lease_until": now + lease_s, "claimed_by": worker}}
        for query in (
            {"state": "claimed", "lease_until": {"$lt": now}},
            {"state": "pending", "due_epoch": {"$lte": now}},
        ):
            step = self.db.escalation_steps.find_one_and_update(
                query, update, sort=[("due_epoch", ASCENDING)], return_document=ReturnDocument.AFTER
            )
            if step is not None:
                return step
        return None

    def finish_step(self, step_id: str, worker: str, state: str, **fields) -> bool:
        return bool(
            self.db.escalation_steps.update_one(
                {"_id": step_id, "state": "claimed", "claimed_by": worker},
                {
                    "$set": {"state": state, "lease_until": 0.0, **fields},
                    "$currentDate": {"finished_at": True},
                },
            ).modified_count
        )

    def defer_step(self, step_id: str, worker: str, due_epoch: float) -> None:
        self.db.escalation_steps.update_one(
            {"_id": step_id, "state": "claimed", "claimed_by": worker},
            {"$set": {"state": "pending", "due_epoch": due_epoch, "lease_until": 0.0, "claimed_by": ""}},
        )

    def case_steps(self, case_id: str) -> list[dict]:
        return list(self.db.escalation_steps.find({"case_id": case_id}).sort("due_epoch", ASCENDING))

    def team_lead(self, owner: dict | None) -> str | None:
        team_id = self.team_of(owner)
        return (self._configured("teams", team_id) or {}).get("lead")

    # collaborators, comments, audit -------------------------------------------

    def add_collaborator(self, case_id: str, person: str, role: str, *, by: str, now: datetime) -> dict:
        entry = {"id": person, "role": role, "added_by": by, "at": now}
        case = self.db.cases.find_one_and_update(
            {"_id": case_id, "status": {"$ne": "closed"}},
            {"$set": {f"collaborators.{slot(person)}": entry}, "$currentDate": {"updated_at": True}},
            return_document=ReturnDocument.AFTER,
        )
        if case is None:
            self._missing_or(case_id, "add a collaborator to")
        self.audit(case_id, "collaborator_added", by, f"{person} as {role}", detail=entry, at=now)
        return case

    def add_comment(self, comment: dict) -> dict:
        case = self.get_case(comment["case_id"])
        if case is None:
            raise NotFound(f"no case {comment['case_id']}")
        if case["status"] == "closed":
            raise BadRequest(f"case_id: {case['_id']} is closed; comments are no longer accepted")
        try:
            self.db.case_comments.insert_one(comment)
        except DuplicateKeyError:
            return self.db.case_comments.find_one({"_id": comment["_id"]})
        self.audit(
            comment["case_id"],
            "commented",
            comment["author"],
            comment["visibility"],
            detail={"comment_id": comment["_id"]},
            key=f"{comment['case_id']}:comment:{comment['_id']}",
            at=comment["at"],
        )
        return comment

    def comments(self, case_id: str) -> list[dict]:
        return list(self.db.case_comments.find({"case_id": case_id}).sort("at", ASCENDING))

    def _missing_or(self, case_id: str, verb: str):
        if self.get_case(case_id) is None:
            raise NotFound(f"no case {case_id}")
        raise BadRequest(f"case_id: cannot {verb} the closed case {case_id}")

    def audit(
        self,
        case_id: str,
        action: str,
        actor: str,
        why: str,
        *,
        detail: dict | None = None,
        key: str | None = None,
        at: datetime,
        also: list[dict] | tuple = (),
    ) -> None:
        """Append an audit entry (who, when, what, why), after ``also`` (entries built
        with ``audit_entry``). ``key`` makes it idempotent."""
        self.write_audit([*also, audit_entry(case_id, action, actor, why, detail=detail, key=key, at=at)])

    def write_audit(self, entries: list[dict]) -> None:
        """Insert audit entries in one round trip; those already there (keyed) stay."""
        if not entries:
            return
        if len(entries) == 1:
            try:
                self.db.case_audit.insert_one(entries[0])
            except DuplicateKeyError:
                pass
            return
        try:
            self.db.case_audit.insert_many(entries, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def get_case(self, case_id: str) -> dict | None:
        return self.db.cases.find_one({"_id": case_id})

    def case_audit(self, case_id: str) -> list[dict]:
        return list(
            self.db.case_audit.find({"case_id": case_id}).sort([("at", ASCENDING), ("seq", ASCENDING)])
        )

    def list_cases(
        self,
        *,
        limit: int = 50,
        skip: int = 0,
        now: datetime,
        with_total: bool = False,
        **filters,
    ) -> list[dict] | tuple[list[dict], int]:
        """One page of cases by urgency (level), newest first; with ``with_total``
        also the number of cases the filters match (same query, so pages add up)."""
        query = self.case_filter(now=now, **filters)
        cursor = (
            self.db.cases.find(query)
            .sort([("level", ASCENDING), ("opened_at", DESCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        rows = list(cursor)
        if with_total:
            return rows, self.db.cases.count_documents(query)
        return rows

    def case_filter(
        self,
        *,
        now: datetime,
        status: str | None = None,
        assignee: str | None = None,
        level: str | None = None,
        customer: str | None = None,
        breach: str | None = None,
        touchpoint: str | None = None,
        visible_to: dict | None = None,
        case_id: str | None = None,
    ) -> dict:
        """The list filters as one query (each part keeps its meaning: ``all_of``)."""
        fields = {
            "_id": case_id,
            "status": status,
            "assignee.id": assignee,
            "level": level,
            "customer.id": customer,
            "event.touchpoint": touchpoint,
        }
        query = {k: v for k, v in fields.items() if v}
        clauses = [visibility_query(visible_to)]
        if breach:
            clauses.append(breach_query(breach, now.timestamp()))
        return all_of(query, *clauses)

    def visible_case(self, case_id: str, visible_to: dict | None, now: datetime) -> dict | None:
        """The case if ``visible_to`` may see it, else None (as if it did not exist)."""
        return self.db.cases.find_one(self.case_filter(now=now, case_id=case_id, visible_to=visible_to))

    def metrics_rows(self, since: datetime, until: datetime) -> Iterator[dict]:
        """Cases opened in [since, until), projected to what metrics read.

        The database range is widened to whole seconds and the exact bounds are
        applied here: nx-27017's ``find`` misses a stored datetime that shares
        its second with a fractional bound (``count_documents`` does not), and
        it returns a dotted projection as a flat key, so only top-level fields
        are projected (docs/store.md).
        """
        low = since.replace(microsecond=0) - timedelta(seconds=1)
        high = until.replace(microsecond=0) + timedelta(seconds=2)
        for case in self.db.cases.find(
            {"opened_at": {"$gte": low, "$lt": high}}, {f: 1 for f in METRIC_FIELDS}
        ):
            if since <= case["opened_at"] < until:
                yield case

    def stats(self) -> dict:
        by_status = {
            row["_id"]: row["n"]
            for row in self.db.cases.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        by_owner = {
            row["_id"] or "(unassigned)": row["n"]
            for row in self.db.cases.aggregate([{"$group": {"_id": "$assignee.id", "n": {"$sum": 1}}}])
        }
        return {
            "cases": sum(by_status.values()),
            "by_status": by_status,
            "by_owner": by_owner,
            "dead_letters": self.dead_letter_counts(),
        }


# -- erasure (customer_erased) -----------------------------------------------------------------

CASE_PERSONAL = ("customer.name", "event.text", "event.tags", "trace")


def anonymise_customer(db, customer_ids: list[str]) -> dict:
    """Remove an erased customer's personal data from the cases service's collections:
    the name (also out of case titles and comments, where agents may have written it),
    the comment text, tags and rule trace of the alert each case was opened for, and
    dead-letter previews. Case ids, statuses, owners, SLA clocks, milestones and counts
    stay. Idempotent."""
    ids = {"$in": list(customer_ids)}
    cases = list(db.cases.find({"customer.id": ids}, {"customer": 1, "rule": 1}))
    names = {(c.get("customer") or {}).get("name") for c in cases} - {None}
    for case in cases:  # the title is "<rule> · <customer name>": rebuild it with the id
        title = f"{(case.get('rule') or {}).get('name', '')} · {case['customer']['id']}"[:300]
        db.cases.update_one({"_id": case["_id"]}, {"$set": {"title": title}})
    comments = 0
    if names:
        for comment in db.case_comments.find({"case_id": {"$in": [c["_id"] for c in cases]}}):
            text = redact(comment.get("text") or "", names)
            if text != comment.get("text"):
                comments += db.case_comments.update_one(
                    {"_id": comment["_id"]}, {"$set": {"text": text}}
                ).modified_count
    return {
        "cases": anonymise(db.cases, {"customer.id": ids}, CASE_PERSONAL),
        "comments": comments,
        "dead_letters": scrub_dead_letters(db, customer_ids),
    }
