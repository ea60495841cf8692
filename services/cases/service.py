"""Cases service: opens one case per customer + topic, assigns it, runs its lifecycle.

Entrypoints only: the lifecycle table lives in ``lifecycle.py``, request
validation in ``schemas.py``, storage (atomic, revision-conditional updates)
in ``store.py``. Every status change dispatches ``case_status_changed``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from nameko.timer import Timer

from contracts.base import utcnow
from contracts.messages import RESPONDED_STATUSES
from services.cases import assignment, escalation, metrics, schemas, sla
from services.cases.lifecycle import assignee_key, new_case, next_status, notification_context, open_key
from services.cases.store import (
    CaseStore,
    Charge,
    anonymise_customer,
    assigned_audit,
    load_holder,
    opened_audit,
    pick_key,
)
from services.common import settings
from services.common.batching import contract_batch_handler
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.messaging import ContractDispatcher, contract_event_handler, serialize
from services.common.mongo import MongoStore, handled_once_each, jsonable
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, Moment, page, rpc

EXPECTED = (BadRequest, NotFound)
log = logging.getLogger(__name__)


class ConfiguredTimer(Timer):
    """A timer whose interval is a setting, read from the config at setup."""

    setting = ""

    def __init__(self, **kwargs):
        super().__init__(interval=5.0, **kwargs)

    def setup(self):
        self.interval = float(settings.get(self.setting))
        super().setup()


class EscalationSweep(ConfiguredTimer):
    setting = "ESCALATION_SWEEP_SECONDS"


class LoadRecount(ConfiguredTimer):
    setting = "LOAD_RECOUNT_SECONDS"


def open_key_topic() -> tuple[str, ...]:
    return tuple(t.strip() for t in str(settings.get("CASE_OPEN_KEY")).split(",") if t.strip())


class CasesService:
    name = "cases"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: CaseStore = MongoStore(CaseStore)
    config_signal = ConfigSignal()  # tells the other replicas of config changes
    dispatch = ContractDispatcher()

    # The service's clock; tests replace it to control time.
    def now(self) -> datetime:
        return utcnow()

    # alert intake -----------------------------------------------------------

    @contract_batch_handler("alerts", "alert_raised")
    @handled_once_each("inbox")
    def handle_alert_raised(self, alerts: list[dict]) -> None:
        """Take in a batch of alerts, in delivery order (one customer's alerts never run
        in two batches at once); their announcements go out together, confirmed once.

        The cases whose topics are free open together. One whose rule names its owner
        (a person or a team) is inserted already assigned, so the batch's opening costs
        a few writes in all (open keys, cases, audit entries, agent loads, escalation
        steps: one each); a strategy's pick takes the assignment transition."""
        now, topic = self.now(), open_key_topic()
        prepared = []
        for alert in alerts:
            key, extra = open_key(alert, topic), self._opening_terms(alert, now)
            case = {**new_case(alert, now, key), **extra}
            if alert["owner"]["kind"] in DIRECT_OWNERS:
                case = assigned_at_open(case, alert["owner"], opening_reason(alert), now)
            prepared.append((alert, key, extra, case))
        opened = self.store.open_many([(key, case) for _alert, key, _extra, case in prepared])
        direct = [opened[i] for i in sorted(opened) if opening_assignment(opened[i]) is not None]
        self.store.write_audit(
            [entry for case in direct for entry in (opened_audit(case), assigned_audit(case))]
        )
        self.store.add_loads(direct)
        self._start_escalations([opened[i] for i in sorted(opened)], now)
        for index, (alert, key, extra, _case) in enumerate(prepared):
            if index not in opened:
                self._take_in(alert, key, extra, now)
            elif opening_assignment(opened[index]) is not None:
                case = opened[index]
                self._announce_assignment(case, by="system", reason=case["assignment"]["reason"])
                self._announce_opened(case)
            else:
                self._opened(opened[index], alert, now, escalation_started=True)

    def _opening_terms(self, alert: dict, now: datetime) -> dict:
        """What a case opened for ``alert`` starts with: its team, SLA and escalation."""
        return {
            "team": self.store.team_of(alert["owner"]),
            "sla": self._sla_terms_at_open(alert, now),
            "escalation": self._escalation_at_open(alert["level"]),
        }

    def _opened(self, case: dict, alert: dict, now: datetime, escalation_started: bool = False) -> None:
        """A case just opened (or found opened by a redelivery): escalation, assignment,
        ``case_opened``."""
        if not escalation_started:
            self._start_escalations([case], now)
        if case["status"] == "open":  # not yet assigned (a redelivery finds it assigned)
            case = self._assign_on_open(case, alert)
        else:
            # kept (keyed) if written before; a first attempt that stored the case and
            # died before its audit entries leaves them to this one
            given = opening_assignment(case)
            self.store.write_audit([opened_audit(case)] + ([assigned_audit(case)] if given else []))
            self._replay_assignment_on_open(case)
        # after the assignment, which it carries: one message for both (a redelivery
        # that found the case assigned announces the same again: consumers key on it)
        self._announce_opened(case)

    def _take_in(self, alert: dict, key: str, extra: dict, now: datetime) -> None:
        """Open a case for the alert, or attach it to the customer's open case on the
        same topic, or reopen that case when it was resolved within the reopen window."""
        window = float(settings.get("CASE_REOPEN_WINDOW_HOURS")) * 3600
        # the opening's audit entry is written with the assignment's (one round trip)
        outcome, case = self.store.intake(alert, key, now, window, extra, audit_opening=False)
        if outcome == "opened":
            self._opened(case, alert, now)
        elif outcome == "reopen":
            self.store.claim_key_for_reopen(case)
            case = self._transition(
                case["_id"],
                "reopen",
                by="system",
                why=f"new alert {alert['alert_id']} within the reopen window",
                audit_key=f"{case['_id']}:reopen:{alert['alert_id']}",
                changes=lambda c, to: {
                    **_reopened(c, to),
                    "reopened_by": {"alert_id": alert["alert_id"], "rev": c["rev"] + 1, "at": now},
                },
                now=now,
            )
            self.store.attach(case["_id"], alert, now)
            self._finish_reopen(case, alert)
        elif (case.get("reopened_by") or {}).get("alert_id") == alert["alert_id"]:
            # a redelivery of the alert that reopened the case: an earlier attempt
            # stored the reopen and died before (or while) announcing it
            self._announce_status_change(case, "resolved", "reopened", case["reopened_by"]["at"], "system",
                                       f"new alert {alert['alert_id']} within the reopen window")  # fmt: skip
            self._finish_reopen(case, alert)
        # otherwise "attached": listed on the open case and audited; no new notifications

    def _finish_reopen(self, case: dict, alert: dict) -> None:
        self._start_escalation(case, case["reopened_by"]["at"])  # idempotent per reopen
        rev, reason = case["reopened_by"]["rev"], alert["alert_id"]
        self._notify_update(case, case["assignee"], "reopened", by="system", rev=rev, reason=reason)

    def _assign_on_open(self, case: dict, alert: dict) -> dict:
        """Assign a new case to its rule's owner; the case as it now is. The move is
        announced by ``case_opened`` (``_announce_opened``), not by a status change."""
        opened = [opened_audit(case)]
        try:
            reason = opening_reason(alert)
            return self._assign(
                case["_id"],
                alert["owner"],
                by="system",
                reason=reason,
                known=case,
                also_audit=opened,
                announce_status=False,
            )
        except BadRequest as exc:  # e.g. an unknown strategy: the case waits in the queue, unassigned
            self.store.audit(
                case["_id"],
                "not_assigned",
                "system",
                str(exc),
                key=f"{case['_id']}:not_assigned",
                at=self.now(),
                also=opened,
            )
            return case

    def _replay_assignment_on_open(self, case: dict) -> None:
        """A redelivered alert found its case already assigned: an earlier attempt
        stored the assignment and then failed (broker or store gone) before or while
        announcing it. Announce it again with the ids the first attempt used, so
        consumers that did get the first copy drop this one (notify keys on the
        notification id); the status move rides on the replayed ``case_opened``."""
        given = opening_assignment(case)
        if given is not None:  # else a person has assigned it since: that announcement stands
            self._announce_assignment(case, by="system", reason=given["reason"])

    def _announce_status_change(
        self, case: dict, from_: str, to: str, at: datetime, by: str, why: str | None
    ) -> None:
        """``case_status_changed`` for a transition, or the replay of one (same ``at``)."""
        self.dispatch(
            "case_status_changed",
            {
                "case_id": case["_id"],
                "customer_id": case["customer"]["id"],
                "level": case["level"],
                "from_status": from_,
                "to_status": to,
                "changed_at": at,
                "changed_by": by,
                "reason": why or None,
                "resolution": case["resolution"] if to == "resolved" else None,
            },
        )
        if to in RESPONDED_STATUSES:
            # alerts needs only these: a message of their own, not every transition
            self.dispatch(
                "customer_responded",
                {
                    "case_id": case["_id"],
                    "customer_id": case["customer"]["id"],
                    "status": to,
                    "responded_at": at,
                },
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
        self._start_escalations([case], start)

    def _start_escalations(self, cases: list[dict], start: datetime) -> None:
        """Schedule round 0 of each case's escalation snapshot (idempotent; one insert)."""
        steps = []
        for case in cases:
            snap = case.get("escalation")
            if snap:
                tag = escalation.run_tag(case["_id"], case.get("reopen_count", 0))
                steps += escalation.round_steps(tag, case["_id"], snap, 0, start.timestamp())
        self.store.schedule_steps(steps)

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

    @EscalationSweep.decorator
    def sweep_sla_warnings(self) -> int:
        """Warn each owner once per clock (and per reopen) when a case passes its
        pre-breach warning time (``warn_ratio`` of the budget), inside the case's
        business hours except on P1 (outside them the warning waits for the next
        working minute, if the case is still at risk then).

        Sent first, recorded after: a crash in between sends it again with the
        same notification id, which notify deduplicates.
        """
        now = self.now()
        sent = 0
        for clock, kind in (("acknowledge", "response"), ("resolve", "resolution")):
            for case in self.store.at_risk_cases(clock, now.timestamp()):
                recipient = case["assignee"]
                tag = f"sla-warning:{clock}:o{case.get('reopen_count', 0)}"
                if recipient is None:
                    continue
                notification = self._notification(case, recipient, "sla_warning", tag)
                if self.store.warning_sent(notification["notification_id"]):
                    continue
                if (
                    case["level"] != "P1"
                    and sla.calendar_of(case["sla"]["policy"]["calendar"]).next_open(now) > now
                ):
                    continue
                due = case["sla"]["clocks"][clock]["due"]
                notification["context"]["sla"] = jsonable(
                    {
                        "kind": kind,
                        "due_at": due,
                        "remaining_minutes": round((due - now).total_seconds() / 60),
                    }
                )
                self.dispatch("notification_requested", notification)
                self.store.record_warning(notification["notification_id"], case["_id"], now)
                why = f"{clock} clock at risk; {recipient['id']} warned"
                key = f"{notification['notification_id']}:audit"
                self.store.audit(case["_id"], "sla_warning", "system", why, key=key, at=now)
                sent += 1
        return sent

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
        if target is None and escalation.waits_for_owner(step["step"], case):
            # No owner yet: the case's own assignment is still under way (delayed by
            # a broker or store outage) or it waits in the queue for an agent. The
            # step waits for the owner instead of being skipped for good.
            self.store.audit(case["_id"], "escalation_waiting", "system", f"{what}: waiting for an owner",
                             key=f"{step['_id']}:waiting", at=now)  # fmt: skip
            self.store.defer_step(
                step["_id"], worker, now.timestamp() + settings.get("ESCALATION_SWEEP_SECONDS")
            )
            return 0
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
        """``case_opened`` as the case opened: assigned at once (with that assignment),
        or open. Not the case's current status: a redelivery announces the same."""
        given = opening_assignment(case)
        self.dispatch(
            "case_opened",
            {
                "case_id": case["_id"],
                "alert_id": case["alert_id"],
                "opened_at": case["opened_at"],
                "level": case["level"],
                "status": "open" if given is None else "assigned",
                "title": case["title"],
                "customer": case["customer"],
                "rule": case["rule"],
                "assignment": (
                    None
                    if given is None
                    else {
                        "assignee": case["assignee"],
                        "at": given["at"],
                        "by": "system",
                        "reason": given["reason"],
                    }
                ),
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
        charged: Charge | None = None,
        now: datetime | None = None,
        announce: bool = True,
        **kwargs,
    ) -> dict:
        """Move a case; ``announce=False``: the caller announces the move another way."""
        now = now or self.now()
        kwargs["changes"] = _with_clocks(action, now, kwargs.get("changes"))
        charge = charged.weight if charged else None
        try:
            before, after = self.store.transition(
                case_id,
                action,
                by=by,
                why=why or "",
                now=now,
                weigh=lambda case: charge if charge is not None else assignment.weight(None, case["level"]),
                **kwargs,
            )
        except Exception:
            if charged:  # the pick was charged but the case did not move: give it back
                self.store.refund(charged)
            raise
        if escalation.stops(after.get("escalation"), action):
            self.store.cancel_steps(case_id, after["escalation"], after.get("reopen_count", 0) + 1)
        self.store.move_load(before, after, charged)
        if before["status"] != after["status"]:
            self.store.sync_key(after, now, before=before["status"])
            if announce:
                self._announce_status_change(after, before["status"], after["status"], now, by, why)
        return after

    def _assign(
        self,
        case_id: str,
        assignee: dict,
        *,
        by: str,
        reason: str,
        handoff: bool = False,
        known: dict | None = None,
        also_audit: list[dict] | tuple = (),
        announce_status: bool = True,
    ) -> dict:
        """``known``: the case as just stored (spares reading it again); ``also_audit``:
        entries written with the assignment's; ``announce_status=False``: the status
        change rides on ``case_opened`` (the assignment at opening)."""
        now = self.now()
        charged = picked = None
        strategy_id = assignee["id"] if assignee["kind"] == "strategy" else None
        if strategy_id:
            case = known = known or self.store.get_case(case_id)
            if case is None:
                raise NotFound(f"no case {case_id}")
            picked = pick_key(case)
            assignee, why, charged = self._pick(assignee["id"], case)
            reason = f"{reason}; {why}"
        team = self.store.team_of(assignee)

        def changes(case: dict, to: str) -> dict:
            if handoff and case["assignee"] is None:
                raise BadRequest(f"case_id: {case_id} has no owner yet; use assign")
            if case["assignee_key"] == assignee_key(assignee):
                raise BadRequest(f"assignee: {assignee['id']} already owns {case_id}")
            return {
                "assignee": assignee,
                "assignee_key": assignee_key(assignee),
                "assignment": {
                    "at": now,
                    "by": by,
                    "reason": reason,
                    "previous": case["assignee"],
                    "rev": case["rev"] + 1,  # the revision this change makes (notification ids)
                },
                "team": team or case.get("team"),
                # a new owner acknowledges afresh
                "acknowledged": None,
            }

        action = "reassign" if handoff else "assign"
        after = self._transition(
            case_id,
            "assign",
            by=by,
            why=reason,
            changes=changes,
            detail={"assignee": assignee},
            audit_action=f"{action}ed",
            charged=charged,
            now=now,  # the time stored in the assignment is the status change's time
            known=known,
            also_audit=also_audit,
            announce=announce_status,
        )
        if strategy_id:
            self.store.forget_pick(strategy_id, picked)  # the assignment is stored: the pick is used
        self._announce_assignment(after, by=by, reason=reason)
        return after

    def _pick(self, strategy_id: str, case: dict) -> tuple[dict, str, Charge | None]:
        """Resolve a strategy to an owner: (assignee, why, the charge if least loaded).

        Both picks are recorded under ``pick_key(case)``: a redelivered alert whose
        first attempt died before storing the assignment gets the same turn or
        charge back, so the rotation advances and the load is charged once."""
        strategy = self.store.strategy(strategy_id)
        if strategy is None:
            raise BadRequest(f"assignee.id: unknown strategy {strategy_id}")
        choice = assignment.candidates(strategy, self.store.agents(), case)
        why = assignment.reason(strategy, choice)
        if not choice.pool:  # nobody available: the team as a whole is told
            return {"kind": "team", "id": strategy["team"]}, why, None
        if strategy["pick"] == "round_robin":
            turn = self.store.next_turn(strategy_id, pick_key(case))
            agent = assignment.round_robin_pick(choice.pool, turn)
            return {"kind": "person", "id": agent["id"]}, why, None
        weight = assignment.weight(strategy, case["level"])
        charge = self.store.charge_least_loaded(
            choice.pool, weight, assignment.least_loaded_pick, pick_key(case), self.now().timestamp()
        )
        return {"kind": "person", "id": charge.agent}, why, charge

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
        rev = case["assignment"].get("rev", case["rev"])
        self._notify(case, assignee, "case_assigned", f"assigned:r{rev}", reason=reason, by=by)

    def _notify_update(
        self, case: dict, recipient: dict | None, update: str, *, by: str, rev: int | None = None, **extra
    ) -> None:
        if recipient is not None:
            tag = f"{update}:r{case['rev'] if rev is None else rev}"
            self._notify(case, recipient, "case_update", tag, update=update, by=by, **extra)

    def _notify(self, case: dict, recipient: dict, kind: str, tag: str, **extra) -> None:
        self.dispatch("notification_requested", self._notification(case, recipient, kind, tag, **extra))

    def _notification(self, case: dict, recipient: dict, kind: str, tag: str, **extra) -> dict:
        return {
            # deterministic: a redelivered message re-requests the same notification
            "notification_id": f"{case['_id']}:{tag}:{recipient['kind']}:{recipient['id']}"[:200],
            "requested_at": self.now(),
            "kind": kind,
            "recipient": recipient,
            "channels": case["channels"],
            "level": case["level"],
            "case_id": case["_id"],
            "context": notification_context(case, settings.get("CONSOLE_URL"), **extra),
        }

    # RPC: dry run -------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def simulate_alert(self, alert: dict, now: Moment | None = None) -> dict:
        """What the service would do with an ``alert_raised`` payload, writing nothing.

        The explain/dry-run of the open key, the assignment strategies and the
        SLA and escalation policies: returns ``{"action": "open" | "attach" |
        "reopen", "case_id" (the existing case, else None), "case_key",
        "assignee", "assignment": {"strategy", "explanation": [...]}, "sla":
        {"policy", "version", "calendar", "ack_due", "resolve_due", "warn_at",
        "warnings"} | None, "escalation": [{"round", "step", "notify", "due",
        "fires_at", "targets"}], "notifications": [notification_requested
        payloads, as dispatched]}``. Only reads: round-robin counters and agent
        loads are peeked, not moved. ``now`` (ISO-8601 with offset) defaults to
        the service's clock.
        """
        alert = schemas.load_alert({"schema_version": 1, **alert} if isinstance(alert, dict) else alert)
        moment = schemas.load_moment("now", now) or self.now()
        window = float(settings.get("CASE_REOPEN_WINDOW_HOURS")) * 3600
        key = open_key(alert, open_key_topic())
        action, case = self.store.peek_intake(alert, key, moment, window)
        if action == "open" and case is None:
            return self._simulate_open(alert, key, moment)
        return self._simulate_existing(action, case, alert, moment)

    def _simulate_open(self, alert: dict, key: str, now: datetime) -> dict:
        case = {
            **new_case(alert, now, key),
            "team": self.store.team_of(alert["owner"]),
            "sla": self._sla_terms_at_open(alert, now),
            "escalation": self._escalation_at_open(alert["level"]),
        }
        owner = alert["owner"]
        reason = f"owner of rule {alert['rule']['id']}"
        strategy = self.store.strategy(owner["id"]) if owner["kind"] == "strategy" else None
        if owner["kind"] == "strategy" and strategy is None:
            assignee, lines = None, [f"unknown strategy {owner['id']}: the case would wait unassigned"]
        elif strategy:
            agents = self.store.agents()
            members = [a["id"] for a in agents if strategy["team"] in a["teams"]]
            loads, turn = self.store.peek_loads(members), self.store.peek_turn(owner["id"], pick_key(case))
            picked = assignment.explain(strategy, agents, case, loads, turn)
            assignee, lines = picked["assignee"], picked["explanation"]
            reason = f"{reason}; {picked['reason']}"
        else:
            assignee, lines = owner, [f"{reason}: {owner['kind']} {owner['id']} (no strategy)"]
            agent = next((a for a in self.store.agents() if a["id"] == owner["id"]), None)
            if owner["kind"] == "person" and agent is not None and not agent["on_shift"]:
                lines.append(f"{owner['id']} is off shift; a rule's named owner is assigned all the same")
        notifications = []
        if assignee:
            team = self.store.team_of(assignee) or case["team"]
            given = {"at": now, "by": "system", "reason": reason, "previous": None}
            case = {
                **case,
                "status": "assigned",
                "rev": 1,
                "assignee": assignee,
                "team": team,
                "assignment": given,
            }
            notifications.append(
                self._notification(case, assignee, "case_assigned", "assigned:r1", reason=reason, by="system")
            )
        return self._simulation("open", None, case, lines, strategy, now, notifications)

    def _simulate_existing(self, action: str, case: dict, alert: dict, now: datetime) -> dict:
        existing = case["_id"]
        if action == "open":  # this very alert opened the case already (a redelivery)
            lines = [f"alert already taken in: it opened {existing}; a redelivery changes nothing"]
            return self._simulation("open", existing, case, lines, None, now, [])
        if action == "attach":
            lines = [f"attaches to open case {existing} ({case['status']}); its owner stays"]
            return self._simulation("attach", existing, case, lines, None, now, [])
        lines = [f"reopens {existing} (resolved within the reopen window); its owner stays"]
        case = {**case, "status": "reopened", "rev": case["rev"] + 1, **_reopened(case, "reopened")}
        case["sla"] = sla.on_action(case.get("sla"), "reopen", now)
        notifications = []
        if case["assignee"]:
            notifications.append(
                self._notification(case, case["assignee"], "case_update", f"reopened:r{case['rev']}",
                                   update="reopened", by="system", reason=alert["alert_id"])
            )  # fmt: skip
        return self._simulation("reopen", existing, case, lines, None, now, notifications)

    def _simulation(self, action, case_id, case, lines, strategy, now, notifications) -> dict:
        if action == "attach":
            steps = [  # the case's own pending steps go on as they are
                escalation.scheduled(st)
                for st in self.store.case_steps(case_id)
                if st["state"] in ("pending", "claimed")
            ]
        elif action == "open" and case_id:
            steps = []
        else:
            opens = None
            if case["level"] != "P1" and case.get("sla"):
                opens = sla.calendar_of(case["sla"]["policy"]["calendar"]).next_open
            steps = escalation.plan(
                case.get("escalation"), case, now, self.store.team_lead(case["assignee"]), opens
            )
        return jsonable(
            {
                "action": action,
                "case_id": case_id,
                "case_key": case["open_key"],
                "assignee": case["assignee"],
                "team": case.get("team"),
                "assignment": {"strategy": strategy["_id"] if strategy else None, "explanation": lines},
                "sla": sla.summary(case.get("sla")),
                "escalation": steps,
                "notifications": [serialize("notification_requested", n) for n in notifications],
            }
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

    @LoadRecount.decorator(eager=True)  # at start, then every LOAD_RECOUNT_SECONDS
    def recount_loads_on_timer(self) -> dict:
        """The recount, at start and every ``LOAD_RECOUNT_SECONDS``."""
        return self.recount_loads()

    @rpc
    def recount_loads(self) -> dict:
        """Recount every agent's load from the active cases (drift after a crash):
        ``{"cases_fixed": n, "loads_changed": {agent: [before, after]},
        "charges_dropped": n, "busy": [agents]}``. Safe while cases are assigned: an
        agent with a charge or a load move younger than ``LOAD_SETTLE_SECONDS`` is
        left for the next run (``busy``; store.recount_loads says why)."""
        settle = float(settings.get("LOAD_SETTLE_SECONDS"))
        result = self.store.recount_loads(
            lambda level: assignment.weight(None, level), self.now().timestamp(), settle
        )
        if result["cases_fixed"] or result["loads_changed"] or result["charges_dropped"]:
            log.warning("agent loads recounted: %s", result)
        return result

    @rpc
    def list_agents(self) -> dict:
        """The directory, with each agent's current weighted load."""
        directory = self.store.directory()
        loads = self.store.loads([a["id"] for a in directory["agents"]])
        for agent in directory["agents"]:
            agent["load"] = loads.get(agent["id"], 0)
        return jsonable(directory)

    @rpc(expected_exceptions=EXPECTED)
    def set_shift(self, agent_id: Id, on_shift: bool) -> dict:
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
        warnings = sla.coverage_warnings(policy, self.now().date())
        for warning in warnings:
            log.warning("SLA policy %s: %s", policy["id"], warning)
        version, changed = self.store.apply_sla_policy(policy)
        reapplied = []
        if apply_to_open_cases:
            for case_id in self.store.open_case_ids():
                self._reapply(
                    case_id, by="system", why=f"SLA policy {policy['id']} v{version} applied to open cases"
                )
                reapplied.append(case_id)
        return {
            "id": policy["id"],
            "version": version,
            "changed": changed,
            "reapplied": reapplied,
            "warnings": warnings,
        }

    @rpc(expected_exceptions=EXPECTED)
    def get_sla_policy(self, policy_id: Id = "default") -> dict:
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
    def get_escalation_policy(self, policy_id: Id = "default") -> dict:
        stored = self.store.escalation_policy(policy_id)
        if stored is None:
            raise NotFound(f"no escalation policy {policy_id}")
        return jsonable(stored)

    # RPC: reads ----------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id: Id, visible_to: dict | None = None) -> dict:
        """One case with its alerts, comments and audit trail.

        ``visible_to`` (``{"user_id", "role", "teams"}``, see ``list_cases``):
        a case that viewer may not see raises NotFound, as if it did not exist.
        """
        viewer = schemas.load_visible_to(visible_to)
        case = self.store.visible_case(case_id, viewer, self.now())
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
        status: Id | None = None,
        assignee: Id | None = None,
        level: Id | None = None,
        customer: Id | None = None,
        breach: Id | None = None,
        touchpoint: Id | None = None,
        visible_to: dict | None = None,
        with_total: bool = False,
    ) -> list[dict] | dict:
        """Cases by urgency (level), newest first, filtered in the database.

        Filters: ``status``, ``assignee`` (owner id), ``level``, ``customer``,
        ``touchpoint``, ``breach`` (``ack_breached`` / ``resolve_breached`` /
        ``breached`` = either / ``at_risk`` (alias ``warning``) / ``none``).

        ``visible_to={"user_id", "role", "teams": [...]}`` restricts the list to
        what that viewer may see: role ``agent`` sees cases assigned to them,
        assigned to one of their teams, cases they collaborate on, and unassigned
        cases of one of their teams (or of no known team); ``owner`` and
        ``admin`` see every case. The restriction is part of the query, so
        ``skip``/``limit`` page through visible cases only.

        Returns the page (a list), or with ``with_total`` the page and the
        number of matching cases: ``{"items", "total", "limit", "skip"}``.
        """
        limit, skip = page(limit, skip)
        found = self.store.list_cases(
            limit=limit,
            skip=skip,
            now=self.now(),
            with_total=bool(with_total),
            status=status,
            assignee=assignee,
            level=level,
            customer=customer,
            breach=breach,
            touchpoint=touchpoint,
            visible_to=schemas.load_visible_to(visible_to),
        )
        if with_total:
            rows, total = found
            return jsonable({"items": rows, "total": total, "limit": limit, "skip": skip})
        return jsonable(found)

    @rpc(expected_exceptions=BadRequest)
    def metrics(self, request: dict) -> dict:
        """MTTA, MTTR, SLA breach rate, reopen rate and FCR for the cases opened in a period.

        ``request``: ``{"since": ISO, "until": ISO (default now), "group_by":
        null | "team" | "level" | "touchpoint" | "owner"}``; datetimes need a
        UTC offset. Returns ``{"since", "until", "as_of", "group_by", "overall":
        M, "groups": [{"key", **M}]}``. Cases count when *opened* in
        ``[since, until)`` and are measured as of now (``as_of``); MTTA/MTTR
        are wall-clock seconds, breaches are the business-time SLA clocks'.
        ``M`` is defined in ``services/cases/metrics.py``.
        """
        r = schemas.load(schemas.MetricsRequest, request)
        now = self.now()
        until = r["until"] or now
        if until <= r["since"]:
            raise BadRequest("until: must be after since")
        overall, groups = metrics.compute(self.store.metrics_rows(r["since"], until), now, r["group_by"])
        return jsonable(
            {
                "since": r["since"],
                "until": until,
                "as_of": now,
                "group_by": r["group_by"],
                "overall": overall,
                "groups": groups,
            }
        )

    @rpc
    def stats(self) -> dict:
        return self.store.stats()

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """Anonymise the erased customer (and the ids merged into them) here; idempotent."""
        anonymise_customer(self.store.db, erased["customer_ids"])


def _with_clocks(action: str, now: datetime, changes):
    """Wrap a transition's changes so the case's SLA clocks and its milestones
    (metrics.py) follow the action, in the same conditional update."""

    def wrapped(case: dict, to: str) -> dict:
        sets = changes(case, to) if changes else {}
        if case.get("sla"):
            updated = sla.on_action(sets.get("sla", case["sla"]), action, now)
            if updated is not case["sla"]:
                sets["sla"] = updated
        sets["milestones"] = metrics.advance(case.get("milestones"), action, now, case, {**case, **sets})
        return sets

    return wrapped


DIRECT_OWNERS = ("person", "team")  # a rule owner of these kinds is the assignee itself


def opening_reason(alert: dict) -> str:
    return f"owner of rule {alert['rule']['id']}"


def assigned_at_open(case: dict, assignee: dict, reason: str, now: datetime) -> dict:
    """A new ``case`` as the system's assignment to ``assignee`` (a person or a team)
    leaves it: the fields, revision, clocks, milestones and load the ``assign``
    transition writes (``_assign``, ``CaseStore.transition``), so the case can be
    inserted already assigned. Its ``team`` is already the owner's (``_opening_terms``)."""
    to = next_status("assign", case["status"])
    sets = _with_clocks(
        "assign",
        now,
        lambda c, _to: {
            "assignee": assignee,
            "assignee_key": assignee_key(assignee),
            "assignment": {
                "at": now,
                "by": "system",
                "reason": reason,
                "previous": None,
                "rev": c["rev"] + 1,
            },
            "acknowledged": None,
        },
    )(case, to)
    after = {**case, **sets, "status": to, "rev": case["rev"] + 1}
    holder = load_holder(after)
    if holder:
        after.update(
            load_holder=holder,
            load_weight=assignment.weight(None, case["level"]),
            load_moved={"from": "", "epoch": now.timestamp()},
        )
    return after


def opening_assignment(case: dict) -> dict | None:
    """The assignment the case got as it opened, while it is still its assignment: by the
    system, nobody before, stamped with its revision; None otherwise."""
    given = case.get("assignment") or {}
    if given.get("by") != "system" or given.get("previous") is not None or "rev" not in given:
        return None
    return given


def _reopened(case: dict, to: str) -> dict:
    # A reopened case must be acknowledged again; its resolution is history (audit).
    # ``reopened_by`` names the alert of an automatic reopen (set by the intake).
    return {
        "acknowledged": None,
        "resolution": None,
        "reopen_count": case.get("reopen_count", 0) + 1,
        "reopened_by": None,
    }
