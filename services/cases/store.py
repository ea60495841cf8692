"""The cases service's MongoDB store: cases, open keys, audit trail, comments, inbox.

One open case per customer + topic: ``open_keys`` holds one document per key
(``_id`` is the key, so the primary-key unique index arbitrates concurrent
alerts) naming the case that holds it and whether that case is ``open``,
``resolved`` (reopenable until the window ends) or ``closed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import eventlet
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.cases.lifecycle import (
    ACTIVE_STATUSES,
    AUDIT_ACTIONS,
    alert_entry,
    case_id_for,
    new_case,
    next_status,
    slot,
)
from services.common.errors import BadRequest, NotFound
from services.common.mongo import Inbox, Store, all_of

CAS_ATTEMPTS = 20


def epoch(moment: datetime) -> float:
    return moment.timestamp()


BREACH_STATES = ("breached", "warning")


def breach_query(state: str, now: float) -> dict:
    """Cases whose SLA is breached (a due time passed, or a clock stopped late) or in warning."""
    clocks = ("sla.clocks.acknowledge", "sla.clocks.resolve")
    if state == "breached":
        return {
            "$or": [{f"{c}.due_epoch": {"$lte": now}} for c in clocks] + [{f"{c}.met": False} for c in clocks]
        }
    if state == "warning":
        return {"$or": [{f"{c}.warn_epoch": {"$lte": now}, f"{c}.due_epoch": {"$gt": now}} for c in clocks]}
    raise BadRequest(f"breach: must be one of {', '.join(BREACH_STATES)}")


class CaseStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.alert_inbox, ("alert_id",))

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
        self, alert: dict, key: str, now: datetime, reopen_window_s: float, extra: dict | None = None
    ) -> tuple[str, dict]:
        """Open, attach to, or (within the window) reopen the case for ``key``.

        Returns ``(outcome, case)``; outcome is ``opened``, ``attached`` or
        ``reopen`` (the caller runs the reopen transition, then ``attach``).
        Every step is idempotent, so a redelivered alert lands where it did.
        """
        mine = case_id_for(alert["alert_id"])
        for _ in range(CAS_ATTEMPTS):
            try:
                self.db.open_keys.insert_one(
                    {"_id": key, "case_id": mine, "state": "open", "resolved_epoch": 0}
                )
            except DuplicateKeyError:
                pass
            holder = self.db.open_keys.find_one({"_id": key})
            if holder["case_id"] == mine:
                return "opened", self.open_case({**new_case(alert, now, key), **(extra or {})})
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

    def open_case(self, case: dict) -> dict:
        """Insert the case unless it exists; return the stored case either way."""
        try:
            self.db.cases.insert_one(case)
        except DuplicateKeyError:
            return self.db.cases.find_one({"_id": case["_id"]})
        self.audit(
            case["_id"],
            "opened",
            "system",
            f"alert {case['alert_id']}",
            key=f"{case['_id']}:opened",
            at=case["opened_at"],
        )
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

    def sync_key(self, case: dict, now: datetime) -> None:
        """Mirror a case's status on its open key (only while the case holds it)."""
        if not case.get("open_key"):
            return
        state = {"resolved": "resolved", "closed": "closed"}.get(case["status"], "open")
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
    ) -> tuple[dict, dict]:
        """Apply ``action`` atomically; returns (case before, case after).

        The update is conditional on the revision that was read, so a
        concurrent change makes it retry against the new state (and the
        transition table decides again) instead of overwriting it.
        ``changes(case, to_status)`` returns further ``$set`` fields.
        """
        for _ in range(CAS_ATTEMPTS):
            case = self.get_case(case_id)
            if case is None:
                raise NotFound(f"no case {case_id}")
            to = next_status(action, case["status"])
            sets = changes(case, to) if changes else {}
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
        return list(self.db.agents.find())

    def strategy(self, strategy_id: str) -> dict | None:
        return self.db.strategies.find_one({"_id": strategy_id})

    def set_shift(self, agent_id: str, on_shift: bool) -> dict:
        agent = self.db.agents.find_one_and_update(
            {"_id": agent_id}, {"$set": {"on_shift": on_shift}}, return_document=ReturnDocument.AFTER
        )
        if agent is None:
            raise NotFound(f"no agent {agent_id}")
        return agent

    def next_turn(self, strategy_id: str) -> int:
        """Round robin: an atomic counter per strategy (0, 1, 2, ...)."""
        self.db.turns.update_one({"_id": strategy_id}, {"$setOnInsert": {"turn": 0}}, upsert=True)
        doc = self.db.turns.find_one_and_update(
            {"_id": strategy_id}, {"$inc": {"turn": 1}}, return_document=ReturnDocument.AFTER
        )
        return doc["turn"] - 1

    def loads(self, agent_ids: list[str]) -> dict[str, int]:
        for agent_id in agent_ids:
            self.db.agent_load.update_one({"_id": agent_id}, {"$setOnInsert": {"load": 0}}, upsert=True)
        return {d["_id"]: d["load"] for d in self.db.agent_load.find({"_id": {"$in": agent_ids}})}

    def charge_least_loaded(self, pool: list[dict], weight: int, pick) -> dict:
        """Pick with ``pick(pool, loads)`` and charge the pick, atomically.

        The charge is conditional on the load that was read: a concurrent
        charge makes it fail and the choice is made again on fresh loads.
        """
        for _ in range(CAS_ATTEMPTS * 5):
            loads = self.loads([a["id"] for a in pool])
            agent = pick(pool, loads)
            if self.db.agent_load.update_one(
                {"_id": agent["id"], "load": loads[agent["id"]]}, {"$inc": {"load": weight}}
            ).modified_count:
                return agent
            eventlet.sleep(0)
        raise RuntimeError("agent loads kept changing; try again")

    def refund(self, agent_id: str, weight: int) -> None:
        self.db.agent_load.update_one({"_id": agent_id}, {"$inc": {"load": -weight}})

    def settle_load(self, case: dict, weight: int, charged: str | None = None) -> None:
        """Keep ``agent_load`` equal to the weighted active cases each person owns.

        The case's ``load_holder`` says whom it is charged to; moving it is
        conditional on its old value, so each charge is applied once.
        ``charged`` names an agent already charged by ``charge_least_loaded``.
        """
        assignee = case.get("assignee") or {}
        active = case["status"] in ACTIVE_STATUSES and assignee.get("kind") == "person"
        desired = assignee["id"] if active else ""
        holder = case.get("load_holder", "")
        if holder == desired:
            if charged:
                self.refund(charged, weight)
            return
        moved = self.db.cases.update_one(
            {"_id": case["_id"], "load_holder": holder},
            {"$set": {"load_holder": desired, "load_weight": weight}},
        ).modified_count
        if moved and holder:
            self.db.agent_load.update_one({"_id": holder}, {"$inc": {"load": -case.get("load_weight", 0)}})
        if moved and desired and desired != charged:
            self.db.agent_load.update_one({"_id": desired}, {"$setOnInsert": {"load": 0}}, upsert=True)
            self.db.agent_load.update_one({"_id": desired}, {"$inc": {"load": weight}})
        if not moved and charged:
            self.refund(charged, weight)

    # SLA policies (versioned) ------------------------------------------------

    def apply_sla_policy(self, policy: dict) -> tuple[int, bool]:
        """Store ``policy`` as a new version unless it is unchanged; (version, changed)."""
        return self._apply_versioned("sla_policies", policy)

    def apply_escalation_policy(self, policy: dict) -> tuple[int, bool]:
        return self._apply_versioned("escalation_policies", policy)

    def escalation_policy(self, policy_id: str = "default") -> dict | None:
        return self.db.escalation_policies.find_one({"_id": policy_id})

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
            return version, True
        raise BadRequest("policy: changed concurrently too often; try again")

    def sla_policy(self, policy_id: str = "default") -> dict | None:
        return self.db.sla_policies.find_one({"_id": policy_id})

    def open_case_ids(self) -> list[str]:
        return [c["_id"] for c in self.db.cases.find({"status": {"$in": list(ACTIVE_STATUSES)}}, {"_id": 1})]

    def team_calendar(self, owner: dict) -> str | None:
        """The calendar of the team that owns work for ``owner`` (team, strategy or agent)."""
        team_id = None
        if owner["kind"] == "team":
            team_id = owner["id"]
        elif owner["kind"] == "strategy":
            team_id = (self.strategy(owner["id"]) or {}).get("team")
        else:
            team_id = ((self.db.agents.find_one({"_id": owner["id"]}) or {}).get("teams") or [None])[0]
        team = self.db.teams.find_one({"_id": team_id}) if team_id else None
        return (team or {}).get("calendar")

    # escalation: durable due steps ------------------------------------------

    def schedule_steps(self, steps: list[dict]) -> None:
        """Insert due steps; an id already present (a redelivery) is left alone."""
        for step in steps:
            try:
                self.db.escalation_steps.insert_one(step)
            except DuplicateKeyError:
                pass

    def cancel_steps(self, case_id: str) -> int:
        return self.db.escalation_steps.update_many(
            {"case_id": case_id, "state": "pending"}, {"$set": {"state": "cancelled"}}
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
        if not owner:
            return None
        if owner["kind"] == "team":
            team_id = owner["id"]
        else:
            team_id = ((self.db.agents.find_one({"_id": owner["id"]}) or {}).get("teams") or [None])[0]
        return ((self.db.teams.find_one({"_id": team_id}) if team_id else None) or {}).get("lead")

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
    ) -> None:
        """Append an audit entry (who, when, what, why). ``key`` makes it idempotent."""
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
        try:
            self.db.case_audit.insert_one(entry)
        except DuplicateKeyError:
            pass

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
        status: str | None = None,
        assignee: str | None = None,
        level: str | None = None,
        customer: str | None = None,
        breach: str | None = None,
        now: datetime | None = None,
    ) -> list[dict]:
        query: dict = {}
        clauses: list[dict] = []
        if breach:
            clauses.append(breach_query(breach, (now or datetime.now().astimezone()).timestamp()))
        if status:
            query["status"] = status
        if assignee:
            query["assignee.id"] = assignee
        if level:
            query["level"] = level
        if customer:
            query["customer.id"] = customer
        cursor = (
            self.db.cases.find(all_of(query, *clauses))
            .sort([("level", ASCENDING), ("opened_at", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return list(cursor)

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
