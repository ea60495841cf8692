"""Agent loads and round-robin turns: the counters the assignment strategies pick with.

``agent_load`` holds one document per agent: ``load`` (the weighted active cases
the agent owns), ``rev`` (moved by every write, so the recount can update
conditionally) and ``charges`` (least-loaded picks charged whose assignment is not
stored yet, by pick key: {weight, epoch}). ``turns`` holds one round-robin counter
per strategy, with the turns taken by pick key (``picks``). The recount reads the
cases collection (who holds which load) to put drifted counters right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import eventlet
from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from services.cases.lifecycle import load_holder, slot
from services.cases.stores import CAS_ATTEMPTS


@dataclass(frozen=True)
class Charge:
    """A least-loaded pick's charge on an agent's load, recorded there under ``key``."""

    agent: str
    weight: int
    key: str


class AgentLoads:
    """Round-robin turns and agent loads (charged, settled, refunded, moved, recounted)."""

    def __init__(self, db):
        self.db = db

    # round robin ---------------------------------------------------------------

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

    # agent loads ---------------------------------------------------------------

    def _load_docs(self, agent_ids: list[str]) -> dict[str, dict]:
        for agent_id in agent_ids:
            self.db.agent_load.update_one(
                {"_id": agent_id}, {"$setOnInsert": {"load": 0, "rev": 0}}, upsert=True
            )
        return {d["_id"]: d for d in self.db.agent_load.find({"_id": {"$in": agent_ids}})}

    def loads(self, agent_ids: list[str]) -> dict[str, int]:
        return {a: d["load"] for a, d in self._load_docs(agent_ids).items()}

    def peek_loads(self, agent_ids: list[str]) -> dict[str, int]:
        """Current loads without creating counters (dry runs); missing = 0."""
        found = {d["_id"]: d["load"] for d in self.db.agent_load.find({"_id": {"$in": agent_ids}})}
        return {a: found.get(a, 0) for a in agent_ids}

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
