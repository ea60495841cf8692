"""Cases service: opens one case per customer + topic, assigns it, runs its lifecycle.

Entrypoints only: the lifecycle table lives in ``lifecycle.py``, request
validation in ``schemas.py``, storage (atomic, revision-conditional updates)
in ``store.py``. Every status change dispatches ``case_status_changed``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from nameko.rpc import rpc
from nameko.timer import Timer

from contracts.base import utcnow
from services.cases import assignment, escalation, schemas, sla
from services.cases.lifecycle import assignee_key, notification_context, open_key
from services.cases.store import CaseStore
from services.common import settings
from services.common.errors import BadRequest, NotFound
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, handled_once, jsonable

EXPECTED = (BadRequest, NotFound)


class EscalationSweep(Timer):
    """The escalation sweep's timer; its interval comes from the config at setup."""

    def __init__(self, **kwargs):
        super().__init__(interval=5.0, **kwargs)

    def setup(self):
        self.interval = float(settings.get("ESCALATION_SWEEP_SECONDS"))
        super().setup()


def open_key_topic() -> tuple[str, ...]:
    return tuple(t.strip() for t in str(settings.get("CASE_OPEN_KEY")).split(",") if t.strip())


class CasesService:
    name = "cases"

    store: CaseStore = MongoStore(CaseStore)
    dispatch = ContractDispatcher()

    # The service's clock; tests replace it to control time.
    def now(self) -> datetime:
        return utcnow()

    # alert intake -----------------------------------------------------------

    @contract_event_handler("alerts", "alert_raised")
    @handled_once("inbox")
    def handle_alert_raised(self, alert: dict) -> None:
        """Open a case for the alert, or attach it to the customer's open case on the
        same topic, or reopen that case when it was resolved within the reopen window."""
        now = self.now()
        window = float(settings.get("CASE_REOPEN_WINDOW_HOURS")) * 3600
        key = open_key(alert, open_key_topic())
        extra = {
            "sla": self._sla_terms_at_open(alert, now),
            "escalation": self._escalation_at_open(alert["level"]),
        }
        outcome, case = self.store.intake(alert, key, now, window, extra)
        if outcome == "opened":
            self._start_escalation(case, now)
            self._announce_opened(case)
            if case["status"] == "open":  # not yet assigned (a redelivery finds it assigned)
                self._assign_on_open(case, alert)
        elif outcome == "reopen":
            self.store.claim_key_for_reopen(case)
            case = self._transition(
                case["_id"],
                "reopen",
                by="system",
                why=f"new alert {alert['alert_id']} within the reopen window",
                audit_key=f"{case['_id']}:reopen:{alert['alert_id']}",
                changes=_reopened,
            )
            self.store.attach(case["_id"], alert, now)
            self._start_escalation(case, now)
            self._notify_update(case, case["assignee"], "reopened", by="system", reason=alert["alert_id"])
        # "attached": listed on the open case and audited; no new notifications

    def _assign_on_open(self, case: dict, alert: dict) -> None:
        try:
            self._assign(
                case["_id"], alert["owner"], by="system", reason=f"owner of rule {alert['rule']['id']}"
            )
        except BadRequest as exc:  # e.g. an unknown strategy: the case waits in the queue, unassigned
            self.store.audit(
                case["_id"],
                "not_assigned",
                "system",
                str(exc),
                key=f"{case['_id']}:not_assigned",
                at=self.now(),
            )

    def _sla_terms_at_open(self, alert: dict, now: datetime) -> dict | None:
        """The SLA snapshot a new case starts with (None while no policy is applied)."""
        stored = self.store.sla_policy()
        if stored is None:
            return None
        terms = sla.terms_for(
            stored["policy"], stored["version"], alert["level"], self.store.team_calendar(alert["owner"])
        )
        return sla.open_sla(terms, now)

    # escalation ----------------------------------------------------------------

    def _escalation_at_open(self, level: str) -> dict | None:
        stored = self.store.escalation_policy()
        return escalation.snapshot(stored["policy"], stored["version"], level) if stored else None

    def _start_escalation(self, case: dict, start: datetime) -> None:
        """Schedule round 0 of the case's escalation snapshot (idempotent)."""
        snap = case.get("escalation")
        if snap:
            tag = f"{case['_id']}:o{case.get('reopen_count', 0)}"
            self.store.schedule_steps(escalation.round_steps(tag, case["_id"], snap, 0, start.timestamp()))

    @EscalationSweep.decorator
    def sweep_escalations(self) -> int:
        """Fire every due escalation step (claimed atomically; see escalation.py)."""
        worker = uuid.uuid4().hex
        lease = float(settings.get("ESCALATION_LEASE_SECONDS"))
        fired = 0
        for _ in range(200):  # bounded per tick; the next tick continues
            step = self.store.claim_step(self.now().timestamp(), worker, lease)
            if step is None:
                break
            fired += self._fire(step, worker)
        return fired

    def _fire(self, step: dict, worker: str) -> int:
        now = self.now()
        case = self.store.get_case(step["case_id"])
        if case is None or not escalation.still_escalating(case):
            self.store.finish_step(step["_id"], worker, "cancelled")
            return 0
        if case["level"] != "P1" and case.get("sla"):  # reminders wait for business hours, except P1
            opens = sla.calendar_of(case["sla"]["policy"]["calendar"]).next_open(now)
            if opens > now:
                self.store.defer_step(step["_id"], worker, opens.timestamp())
                return 0
        snap = case["escalation"]
        target = escalation.recipient(step["step"], case, snap, self.store.team_lead(case["assignee"]))
        what = f"round {step['round'] + 1}, step {step['index'] + 1}: {step['step']['notify']}"
        if target is None:
            self.store.audit(case["_id"], "escalation_skipped", "system", f"{what}: nobody to notify",
                             key=f"{step['_id']}:audit", at=now)  # fmt: skip
            self.store.finish_step(step["_id"], worker, "skipped")
        else:
            self.dispatch(
                "notification_requested",
                {
                    "notification_id": step["_id"],  # notify deduplicates a re-fired step
                    "requested_at": now,
                    "kind": "escalation_step",
                    "recipient": target,
                    "channels": case["channels"],
                    "level": case["level"],
                    "case_id": case["_id"],
                    "context": notification_context(
                        case, settings.get("CONSOLE_URL"), escalation={
                            "round": step["round"] + 1, "step": step["index"] + 1,
                            "target": step["step"]["notify"], "after_minutes": step["step"]["after_minutes"],
                            "acknowledged": bool(case.get("acknowledged")),
                        },
                    ),
                },
            )  # fmt: skip
            self.store.audit(case["_id"], "escalated", "system", f"{what} → {target['kind']} {target['id']}",
                             detail={"step_id": step["_id"], "recipient": target}, key=f"{step['_id']}:audit",
                             at=now)  # fmt: skip
            self.store.finish_step(step["_id"], worker, "fired", fired_epoch=now.timestamp())
        if step["last_of_round"] and step["round"] < snap["repeat"]:
            tag = step["_id"].split(":esc:")[0]
            self.store.schedule_steps(
                escalation.round_steps(tag, case["_id"], snap, step["round"] + 1, now.timestamp())
            )
        return 1 if target is not None else 0

    def _announce_opened(self, case: dict) -> None:
        self.dispatch(
            "case_opened",
            {
                "case_id": case["_id"],
                "alert_id": case["alert_id"],
                "opened_at": case["opened_at"],
                "level": case["level"],
                "status": case["status"],
                "title": case["title"],
                "customer": case["customer"],
                "rule": case["rule"],
            },
        )

    # the lifecycle -----------------------------------------------------------

    def _transition(
        self,
        case_id: str,
        action: str,
        *,
        by: str,
        why: str | None,
        charged: tuple[str, int] | None = None,
        **kwargs,
    ) -> dict:
        now = self.now()
        kwargs["changes"] = _with_sla(action, now, kwargs.get("changes"))
        try:
            before, after = self.store.transition(case_id, action, by=by, why=why or "", now=now, **kwargs)
        except Exception:
            if charged:  # the pick was charged but the case did not move: give it back
                self.store.refund(*charged)
            raise
        if escalation.stops(after.get("escalation"), action):
            self.store.cancel_steps(case_id)
        agent, weight = charged or (None, assignment.weight(None, after["level"]))
        self.store.settle_load(after, weight, agent)
        if before["status"] != after["status"]:
            self.store.sync_key(after, now)
            self.dispatch(
                "case_status_changed",
                {
                    "case_id": case_id,
                    "customer_id": after["customer"]["id"],
                    "level": after["level"],
                    "from_status": before["status"],
                    "to_status": after["status"],
                    "changed_at": now,
                    "changed_by": by,
                    "reason": why or None,
                    "resolution": after["resolution"] if after["status"] == "resolved" else None,
                },
            )
        return after

    def _assign(self, case_id: str, assignee: dict, *, by: str, reason: str, handoff: bool = False) -> dict:
        now = self.now()
        charged = None
        if assignee["kind"] == "strategy":
            case = self.store.get_case(case_id)
            if case is None:
                raise NotFound(f"no case {case_id}")
            assignee, why, charged = self._pick(assignee["id"], case)
            reason = f"{reason}; {why}"

        def changes(case: dict, to: str) -> dict:
            if handoff and case["assignee"] is None:
                raise BadRequest(f"case_id: {case_id} has no owner yet; use assign")
            if case["assignee_key"] == assignee_key(assignee):
                raise BadRequest(f"assignee: {assignee['id']} already owns {case_id}")
            return {
                "assignee": assignee,
                "assignee_key": assignee_key(assignee),
                "assignment": {"at": now, "by": by, "reason": reason, "previous": case["assignee"]},
                # a new owner acknowledges afresh
                "acknowledged": None,
            }

        action = "reassign" if handoff else "assign"
        case = self._transition(
            case_id,
            "assign",
            by=by,
            why=reason,
            changes=changes,
            detail={"assignee": assignee},
            audit_action=f"{action}ed",
            charged=charged,
        )
        self._announce_assignment(case, by=by, reason=reason)
        return case

    def _pick(self, strategy_id: str, case: dict) -> tuple[dict, str, tuple[str, int] | None]:
        """Resolve a strategy to an owner: (assignee, why, (agent, weight) if charged)."""
        strategy = self.store.strategy(strategy_id)
        if strategy is None:
            raise BadRequest(f"assignee.id: unknown strategy {strategy_id}")
        choice = assignment.candidates(strategy, self.store.agents(), case)
        why = f"strategy {strategy_id} ({strategy['pick']}): " + "; ".join(choice.why)
        if not choice.pool:  # nobody available: the team as a whole is told
            return {"kind": "team", "id": strategy["team"]}, why + "; assigned to the team", None
        if strategy["pick"] == "round_robin":
            agent = assignment.round_robin_pick(choice.pool, self.store.next_turn(strategy_id))
            return {"kind": "person", "id": agent["id"]}, why, None
        weight = assignment.weight(strategy, case["level"])
        agent = self.store.charge_least_loaded(choice.pool, weight, assignment.least_loaded_pick)
        return {"kind": "person", "id": agent["id"]}, why, (agent["id"], weight)

    def _announce_assignment(self, case: dict, *, by: str, reason: str) -> None:
        assignee = case["assignee"]
        self.dispatch(
            "case_assigned",
            {
                "case_id": case["_id"],
                "assignee": assignee,
                "assigned_at": case["assignment"]["at"],
                "assigned_by": by,
                "reason": reason,
                "level": case["level"],
                "customer_id": case["customer"]["id"],
            },
        )
        self._notify(case, assignee, "case_assigned", f"assigned:r{case['rev']}", reason=reason, by=by)

    def _notify_update(self, case: dict, recipient: dict | None, update: str, *, by: str, **extra) -> None:
        if recipient is not None:
            self._notify(
                case, recipient, "case_update", f"{update}:r{case['rev']}", update=update, by=by, **extra
            )

    def _notify(self, case: dict, recipient: dict, kind: str, tag: str, **extra) -> None:
        self.dispatch(
            "notification_requested",
            {
                # deterministic: a redelivered message re-requests the same notification
                "notification_id": f"{case['_id']}:{tag}:{recipient['kind']}:{recipient['id']}"[:200],
                "requested_at": self.now(),
                "kind": kind,
                "recipient": recipient,
                "channels": case["channels"],
                "level": case["level"],
                "case_id": case["_id"],
                "context": notification_context(case, settings.get("CONSOLE_URL"), **extra),
            },
        )

    # RPC: assignment and collaboration ----------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def assign(self, request: dict) -> dict:
        """Give a case an owner (person or team); notifies the new owner."""
        r = schemas.load(schemas.AssignRequest, request)
        return jsonable(
            self._assign(r["case_id"], r["assignee"], by=r["by"], reason=r["reason"] or "assigned")
        )

    @rpc(expected_exceptions=EXPECTED)
    def reassign(self, request: dict) -> dict:
        """Hand a case over to another owner; the handoff reason is required."""
        r = schemas.load(schemas.ReassignRequest, request)
        return jsonable(
            self._assign(r["case_id"], r["assignee"], by=r["by"], reason=r["reason"], handoff=True)
        )

    @rpc(expected_exceptions=EXPECTED)
    def add_collaborator(self, request: dict) -> dict:
        """Add a collaborator (协作人) with a role; notifies them."""
        r = schemas.load(schemas.CollaboratorRequest, request)
        case = self.store.add_collaborator(r["case_id"], r["person"], r["role"], by=r["by"], now=self.now())
        self._notify(
            case,
            {"kind": "person", "id": r["person"]},
            "case_update",
            f"collaborator:{r['role']}:{len(case['collaborators'])}",
            update="collaborator_added",
            by=r["by"],
            role=r["role"],
            reason=r["reason"],
        )
        return jsonable(case)

    @rpc(expected_exceptions=EXPECTED)
    def comment(self, request: dict) -> dict:
        """Add an internal or customer-facing comment."""
        r = schemas.load(schemas.CommentRequest, request)
        comment = {
            "_id": r["comment_id"] or uuid.uuid4().hex,
            "case_id": r["case_id"],
            "author": r["by"],
            "visibility": r["visibility"],
            "text": r["text"],
            "at": self.now(),
        }
        return jsonable(self.store.add_comment(comment))

    # RPC: status changes ------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def acknowledge(self, request: dict) -> dict:
        """The owner confirms they have taken the case (stops the acknowledge clock)."""
        r = schemas.load(schemas.ActionRequest, request)
        now = self.now()

        def changes(case: dict, to: str) -> dict:
            if case["acknowledged"] is not None:
                raise BadRequest(f"case_id: {case['_id']} is already acknowledged")
            return {"acknowledged": {"at": now, "by": r["by"]}}

        return jsonable(
            self._transition(r["case_id"], "acknowledge", by=r["by"], why=r["reason"], changes=changes)
        )

    @rpc(expected_exceptions=EXPECTED)
    def start(self, request: dict) -> dict:
        """Work begins (in_progress); acknowledges the case if it was not yet."""
        r = schemas.load(schemas.ActionRequest, request)
        now = self.now()

        def changes(case: dict, to: str) -> dict:
            return {} if case["acknowledged"] else {"acknowledged": {"at": now, "by": r["by"]}}

        return jsonable(self._transition(r["case_id"], "start", by=r["by"], why=r["reason"], changes=changes))

    @rpc(expected_exceptions=EXPECTED)
    def pending_customer(self, request: dict) -> dict:
        """Waiting for the customer (the SLA clocks pause)."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(self._transition(r["case_id"], "pending_customer", by=r["by"], why=r["reason"]))

    @rpc(expected_exceptions=EXPECTED)
    def resume(self, request: dict) -> dict:
        """The customer answered: back to in_progress (the SLA clocks run again)."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(self._transition(r["case_id"], "resume", by=r["by"], why=r["reason"]))

    @rpc(expected_exceptions=EXPECTED)
    def resolve(self, request: dict) -> dict:
        """Resolve with a root-cause category and the first-contact-resolution flag."""
        r = schemas.load(schemas.ResolveRequest, request)
        now = self.now()
        resolution = {
            "root_cause": r["root_cause"],
            "first_contact_resolution": r["first_contact_resolution"],
            "summary": r["summary"],
        }

        def changes(case: dict, to: str) -> dict:
            return {"resolution": resolution, "resolved": {"at": now, "by": r["by"]}}

        return jsonable(
            self._transition(
                r["case_id"],
                "resolve",
                by=r["by"],
                why=r["reason"] or r["summary"],
                changes=changes,
                detail={"resolution": resolution},
            )
        )

    @rpc(expected_exceptions=EXPECTED)
    def reopen(self, request: dict) -> dict:
        """Reopen a resolved case (reason required); counts towards the reopen rate."""
        r = schemas.load(schemas.ReopenRequest, request)
        case = self.store.get_case(r["case_id"])
        if case is None:
            raise NotFound(f"no case {r['case_id']}")
        if case["status"] == "resolved":
            self.store.claim_key_for_reopen(case)
        after = self._transition(r["case_id"], "reopen", by=r["by"], why=r["reason"], changes=_reopened)
        self._start_escalation(after, self.now())
        self._notify_update(after, after["assignee"], "reopened", by=r["by"], reason=r["reason"])
        return jsonable(after)

    @rpc(expected_exceptions=EXPECTED)
    def close(self, request: dict) -> dict:
        """Close a resolved case for good (a later alert opens a new case)."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(self._transition(r["case_id"], "close", by=r["by"], why=r["reason"]))

    # RPC: agents directory ----------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def apply_agents(self, document: dict) -> dict:
        """Replace the agents/teams/strategies directory (validated as a whole)."""
        return self.store.apply_directory(assignment.load_directory(document))

    @rpc
    def list_agents(self) -> dict:
        """The directory, with each agent's current weighted load."""
        directory = self.store.directory()
        loads = self.store.loads([a["id"] for a in directory["agents"]])
        for agent in directory["agents"]:
            agent["load"] = loads.get(agent["id"], 0)
        return jsonable(directory)

    @rpc(expected_exceptions=EXPECTED)
    def set_shift(self, agent_id: str, on_shift: bool) -> dict:
        """Put an agent on or off shift (strategies skip agents off shift)."""
        if not isinstance(on_shift, bool):
            raise BadRequest("on_shift: must be true or false")
        return jsonable(self.store.set_shift(agent_id, on_shift))

    # RPC: SLA policy -----------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def apply_sla_policy(self, document: dict, apply_to_open_cases: bool = False) -> dict:
        """Save a new SLA policy version. Open cases keep their snapshot unless
        ``apply_to_open_cases`` re-applies it to them (time already used is kept)."""
        policy = sla.load_policy(document)
        version, changed = self.store.apply_sla_policy(policy)
        reapplied = []
        if apply_to_open_cases:
            for case_id in self.store.open_case_ids():
                self._reapply(
                    case_id, by="system", why=f"SLA policy {policy['id']} v{version} applied to open cases"
                )
                reapplied.append(case_id)
        return {"id": policy["id"], "version": version, "changed": changed, "reapplied": reapplied}

    @rpc(expected_exceptions=EXPECTED)
    def get_sla_policy(self, policy_id: str = "default") -> dict:
        stored = self.store.sla_policy(policy_id)
        if stored is None:
            raise NotFound(f"no SLA policy {policy_id}")
        return jsonable(stored)

    @rpc(expected_exceptions=EXPECTED)
    def reapply_sla(self, request: dict) -> dict:
        """Re-snapshot one case onto the current SLA policy."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(self._reapply(r["case_id"], by=r["by"], why=r["reason"] or "SLA policy re-applied"))

    def _reapply(self, case_id: str, *, by: str, why: str) -> dict:
        stored = self.store.sla_policy()
        if stored is None:
            raise BadRequest("policy: no SLA policy is applied")
        now = self.now()

        def changes(case: dict, to: str) -> dict:
            owner = case["assignee"] or case["owner_rule"]
            terms = sla.terms_for(
                stored["policy"], stored["version"], case["level"], self.store.team_calendar(owner)
            )
            return {"sla": sla.reapply(case.get("sla"), terms, now)}

        return self._transition(case_id, "reapply_sla", by=by, why=why, changes=changes)

    # RPC: escalation policy ----------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def apply_escalation_policy(self, document: dict, apply_to_open_cases: bool = False) -> dict:
        """Save a new escalation policy version. Open cases keep their snapshot unless
        ``apply_to_open_cases``: then their pending steps are replaced by the new chain,
        counted from now."""
        policy = escalation.load_policy(document)
        version, changed = self.store.apply_escalation_policy(policy)
        reapplied = []
        if apply_to_open_cases:
            now = self.now()
            for case_id in self.store.open_case_ids():
                case = self._transition(
                    case_id, "reapply_escalation", by="system",
                    why=f"escalation policy {policy['id']} v{version} applied to open cases",
                    changes=lambda c, to: {"escalation": escalation.snapshot(policy, version, c["level"])},
                )  # fmt: skip
                self.store.cancel_steps(case_id)
                if escalation.still_escalating(case):
                    self._start_escalation(case, now)
                reapplied.append(case_id)
        return {"id": policy["id"], "version": version, "changed": changed, "reapplied": reapplied}

    @rpc(expected_exceptions=EXPECTED)
    def get_escalation_policy(self, policy_id: str = "default") -> dict:
        stored = self.store.escalation_policy(policy_id)
        if stored is None:
            raise NotFound(f"no escalation policy {policy_id}")
        return jsonable(stored)

    # RPC: reads ----------------------------------------------------------------

    @rpc(expected_exceptions=NotFound)
    def get_case(self, case_id: str) -> dict:
        """One case with its alerts, comments and audit trail."""
        case = self.store.get_case(case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        case["alerts"] = sorted(case["alerts"].values(), key=lambda a: a["at"])
        case["collaborators"] = sorted(case["collaborators"].values(), key=lambda c: c["at"])
        return jsonable(
            {
                **case,
                "breach_state": sla.breach_state(case.get("sla"), self.now()),
                "comments": self.store.comments(case_id),
                "escalation_steps": [
                    {k: v for k, v in st.items() if k not in ("case_id", "lease_until", "claimed_by")}
                    for st in self.store.case_steps(case_id)
                ],
                "audit": self.store.case_audit(case_id),
            }
        )

    @rpc(expected_exceptions=BadRequest)
    def list_cases(
        self,
        limit: int = 50,
        skip: int = 0,
        status: str | None = None,
        assignee: str | None = None,
        level: str | None = None,
        customer: str | None = None,
        breach: str | None = None,
    ) -> list[dict]:
        """Cases filtered by status, owner (assignee id), level, customer and SLA breach state."""
        return jsonable(
            self.store.list_cases(
                limit=min(int(limit), 500),
                skip=int(skip),
                status=status,
                assignee=assignee,
                level=level,
                customer=customer,
                breach=breach,
                now=self.now(),
            )
        )

    @rpc
    def stats(self) -> dict:
        return self.store.stats()


def _with_sla(action: str, now: datetime, changes):
    """Wrap a transition's changes so the case's SLA clocks follow the action."""

    def wrapped(case: dict, to: str) -> dict:
        sets = changes(case, to) if changes else {}
        if case.get("sla"):
            updated = sla.on_action(case["sla"], action, now)
            if updated is not case["sla"]:
                sets["sla"] = updated
        return sets

    return wrapped


def _reopened(case: dict, to: str) -> dict:
    # A reopened case must be acknowledged again; its resolution is history (audit).
    return {"acknowledged": None, "resolution": None, "reopen_count": case.get("reopen_count", 0) + 1}
