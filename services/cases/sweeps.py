"""The timed sweeps: due escalation steps and pre-breach SLA warnings.

Each claimed step or at-risk clock is decided by pure code (``escalation.decide_step``,
``sla.decide_warning``); this module applies the decision: store writes, the
notification, the audit entry, the next round.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.cases import escalation, messages, sla
from services.cases.context import Context
from services.common import settings
from services.common.mongo import jsonable

STEPS_PER_SWEEP = 200  # bounded per tick; the next tick continues


def sweep_escalations(ctx: Context) -> int:
    """Fire every due escalation step (claimed atomically; see escalation.py)."""
    worker = uuid.uuid4().hex
    lease = float(settings.get("ESCALATION_LEASE_SECONDS"))
    fired = 0
    for _ in range(STEPS_PER_SWEEP):
        step = ctx.store.schedule.claim_step(ctx.now().timestamp(), worker, lease)
        if step is None:
            break
        fired += fire_step(ctx, step, worker)
    return fired


def fire_step(ctx: Context, step: dict, worker: str) -> int:
    """Decide a claimed step on the case as it is now and apply the decision; 1 if it
    notified someone."""
    now = ctx.now()
    case = ctx.store.cases.get_case(step["case_id"])
    retry_s = float(settings.get("ESCALATION_SWEEP_SECONDS"))
    decision = escalation.decide_step(
        step, case, now, team_lead=ctx.store.policies.team_lead, retry_s=retry_s
    )
    apply_step(ctx, step, worker, case, decision, now)
    return 1 if isinstance(decision, escalation.Fire) else 0


def apply_step(
    ctx: Context, step: dict, worker: str, case: dict | None, decision: escalation.Decision, now: datetime
) -> None:
    """Write what ``decision`` says of ``step`` (claimed by ``worker``)."""
    schedule, trail, step_id, case_id = ctx.store.schedule, ctx.store.trail, step["_id"], step["case_id"]
    match decision:
        case escalation.Cancel():
            schedule.finish_step(step_id, worker, "cancelled")
        case escalation.Defer(until=until):
            schedule.defer_step(step_id, worker, until)
        case escalation.Wait(until=until, why=why):
            trail.audit(case_id, "escalation_waiting", "system", why, key=f"{step_id}:waiting", at=now)
            schedule.defer_step(step_id, worker, until)
        case escalation.Skip(why=why):
            trail.audit(case_id, "escalation_skipped", "system", why, key=f"{step_id}:audit", at=now)
            schedule.finish_step(step_id, worker, "skipped")
        case escalation.Fire(target=target, why=why) if case is not None:  # a Fire has its case
            console = settings.get("CONSOLE_URL")
            ctx.dispatch(
                "notification_requested",
                messages.escalation_step(step, case, target, now=now, console_url=console),
            )
            detail = {"step_id": step_id, "recipient": target}
            trail.audit(case_id, "escalated", "system", why, detail=detail, key=f"{step_id}:audit", at=now)
            schedule.finish_step(step_id, worker, "fired", fired_epoch=now.timestamp())
    if isinstance(decision, escalation.Skip | escalation.Fire) and decision.next_round:
        schedule.schedule_steps(decision.next_round)


def sweep_sla_warnings(ctx: Context) -> int:
    """Warn each owner once per clock (and per reopen) when a case passes its
    pre-breach warning time (``warn_ratio`` of the budget), inside the case's
    business hours except on P1 (``sla.decide_warning``).

    Sent first, recorded after: a crash in between sends it again with the
    same notification id, which notify deduplicates.
    """
    now = ctx.now()
    sent = 0
    for clock in sla.WARNING_KINDS:
        for case in ctx.store.queries.at_risk_cases(clock, now.timestamp()):
            sent += warn(ctx, case, clock, now)
    return sent


def warn(ctx: Context, case: dict, clock: str, now: datetime) -> int:
    """Decide and send the warning of ``case``'s at-risk ``clock``; 1 if sent."""
    recipient, tag, schedule = case["assignee"], sla.warning_tag(case, clock), ctx.store.schedule
    decision = sla.decide_warning(
        case, clock, now, lambda: schedule.warning_sent(messages.notification_id(case, tag, recipient))
    )
    if decision.outcome != "warn":
        return 0
    notification = ctx.notification(case, recipient, "sla_warning", tag)
    notification["context"]["sla"] = jsonable(decision.sla)
    ctx.dispatch("notification_requested", notification)
    schedule.record_warning(notification["notification_id"], case["_id"], now)
    why = f"{clock} clock at risk; {recipient['id']} warned"
    ctx.store.trail.audit(
        case["_id"], "sla_warning", "system", why, key=f"{notification['notification_id']}:audit", at=now
    )
    return 1
