"""Alert intake: a batch of ``alert_raised`` opens cases, or attaches each alert to its
customer's open case on the topic, or reopens a case resolved within the window.

The cases whose topics are free open together (``take_in_batch``). One whose rule
names its owner (a person or a team) is inserted already assigned
(``assignment.assigned_at_open``), so the batch's opening costs a few writes in all
(open keys, cases, audit entries, agent loads, escalation steps: one each); a
strategy's pick takes the assignment transition (``actions.assign``). Every step is
idempotent: a redelivered alert lands where it did and announces the same again.

A group alert (``scope: group``) takes the same path with its group's key
(``grouping.incident_key``): it opens an incident, attaches to the group's open one or
reopens it; then ``incidents.link_batch`` links the customer cases the batch's
incidents cover and the open incidents covering the batch's new cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from services.cases import actions, escalation, incidents, messages, sla
from services.cases.assignment import (
    DIRECT_OWNERS,
    assigned_at_open,
    opening_assignment,
    opening_reason,
)
from services.cases.context import Context
from services.cases.grouping import incident_fields, incident_key
from services.cases.lifecycle import new_case, open_key, reopened
from services.cases.stores.trail import assigned_audit, opened_audit
from services.common import settings
from services.common.errors import BadRequest
from services.common.overlap import run_together


def open_key_topic() -> tuple[str, ...]:
    """The topic part of the one-open-case key (``CASE_OPEN_KEY``)."""
    return tuple(t.strip() for t in str(settings.get("CASE_OPEN_KEY")).split(",") if t.strip())


def reopen_window_s() -> float:
    return float(settings.get("CASE_REOPEN_WINDOW_HOURS")) * 3600


def take_in_and_announce(ctx: Context, alerts: list[dict]) -> None:
    """``take_in_batch``, then the batch's ``alerts_taken_in`` for the customers'
    profiles: its alerts and the cases it opened, in one message (instead of profiles
    consuming every ``alert_raised`` and ``case_opened``: two deliveries per alert)."""
    telling_taken_in(ctx, alerts, take_in_batch)


def telling_taken_in(ctx: Context, alerts: list[dict], take: Callable[[Context, list[dict]], None]) -> None:
    """Run ``take(ctx, alerts)``, keeping the ``case_opened`` it announces, then announce
    the batch's ``alerts_taken_in`` (bench/floor.py runs its store-less intake so)."""
    opened: list[dict] = []

    def dispatch(event_type: str, payload: dict) -> None:
        if event_type == "case_opened":
            opened.append(payload)
        ctx.dispatch(event_type, payload)

    take(replace(ctx, dispatch=dispatch), alerts)
    ctx.send(("alerts_taken_in", message) for message in messages.taken_in(alerts, opened, ctx.now()))


def take_in_batch(ctx: Context, alerts: list[dict]) -> None:
    """Take in a batch of alerts, in delivery order: open the cases whose topics are free
    together, then take in the others one at a time (``take_in``)."""
    now, topic = ctx.now(), open_key_topic()
    prepared = []
    for alert in alerts:
        key, extra = intake_key(alert, topic), opening_terms(ctx, alert, now)
        case = new_case(alert, now, key, extra)
        if alert["owner"]["kind"] in DIRECT_OWNERS:
            case = assigned_at_open(case, alert["owner"], opening_reason(alert), now)
        prepared.append((alert, key, extra, case))
    store = ctx.store
    opened = store.cases.open_many([(key, case) for _alert, key, _extra, case in prepared])
    direct = [opened[i] for i in sorted(opened) if opening_assignment(opened[i]) is not None]
    new_cases = [opened[i] for i in sorted(opened)]
    # independent of each other, so issued together (services/common/overlap.py); the
    # links read only what open_many stored
    run_together(
        lambda: store.trail.write_audit(
            [entry for case in direct for entry in (opened_audit(case), assigned_audit(case))]
        ),
        lambda: store.loads.add_loads(direct),
        lambda: actions.start_escalations(ctx, new_cases, now),
        lambda: incidents.link_batch(ctx, new_cases, now),
    )
    taken: list[dict] = []
    for index, (alert, key, extra, _case) in enumerate(prepared):
        if index not in opened:
            taken += take_in(ctx, alert, key, extra, now)
        elif opening_assignment(opened[index]) is not None:
            case = opened[index]
            ctx.announce_assignment(case, by="system", reason=case["assignment"]["reason"])
            ctx.announce_opened(case)
        else:
            _opened(ctx, opened[index], alert, now, escalation_started=True)
    # what attached or reopened: linked after the new cases, whose incidents have
    # registered their terms by now (services/cases/incidents.py)
    if taken:
        incidents.link_batch(ctx, taken, now)


def intake_key(alert: dict, topic: tuple[str, ...]) -> str:
    """The open key: the customer + topic's, or a group alert's incident key."""
    return incident_key(alert["group"]) if _is_group(alert) else open_key(alert, topic)


def _is_group(alert: dict) -> bool:
    return alert.get("scope") == "group" and alert.get("group") is not None


def opening_terms(ctx: Context, alert: dict, now: datetime) -> dict:
    """What a case opened for ``alert`` starts with: its team, SLA and escalation (and
    for a group alert what makes it an incident)."""
    return {
        "team": ctx.store.policies.team_of(alert["owner"]),
        "sla": sla_terms_at_open(ctx, alert, now),
        "escalation": escalation_at_open(ctx, alert["level"]),
        **(incident_fields(alert) if _is_group(alert) else {}),
    }


def sla_terms_at_open(ctx: Context, alert: dict, now: datetime) -> dict | None:
    """The SLA snapshot a new case starts with (None while no policy is applied)."""
    policies = ctx.store.policies
    stored = policies.sla_policy()
    if stored is None:
        return None
    calendar = policies.team_calendar(alert["owner"])
    return sla.open_sla(sla.terms_for(stored["policy"], stored["version"], alert["level"], calendar), now)


def escalation_at_open(ctx: Context, level: str) -> dict | None:
    stored = ctx.store.policies.escalation_policy()
    return escalation.snapshot(stored["policy"], stored["version"], level) if stored else None


def take_in(ctx: Context, alert: dict, key: str, extra: dict, now: datetime) -> list[dict]:
    """Open a case for the alert, or attach it to the customer's open case on the
    same topic, or reopen that case when it was resolved within the reopen window.
    Returns the case opened or reopened (for ``incidents.link_batch``), else nothing."""
    # the opening's audit entry is written with the assignment's (one round trip)
    outcome, case = ctx.store.cases.intake(alert, key, now, reopen_window_s(), extra, audit_opening=False)
    why = f"new alert {alert['alert_id']} within the reopen window"
    if outcome == "opened":
        _opened(ctx, case, alert, now)
        return [case]
    if outcome == "reopen":
        ctx.store.cases.claim_key_for_reopen(case)
        case = actions.transition(
            ctx,
            case["_id"],
            "reopen",
            by="system",
            why=why,
            audit_key=f"{case['_id']}:reopen:{alert['alert_id']}",
            changes=lambda c, to: {
                **reopened(c, to),
                "reopened_by": {"alert_id": alert["alert_id"], "rev": c["rev"] + 1, "at": now},
            },
            now=now,
        )
        ctx.store.cases.attach(case["_id"], alert, now)
        _finish_reopen(ctx, case, alert)
        return [case]
    if (case.get("reopened_by") or {}).get("alert_id") == alert["alert_id"]:
        # a redelivery of the alert that reopened the case: an earlier attempt
        # stored the reopen and died before (or while) announcing it
        ctx.announce_status_change(case, "resolved", "reopened", case["reopened_by"]["at"], "system", why)
        _finish_reopen(ctx, case, alert)
        return [case]
    # otherwise "attached": listed on the open case and audited; no new notifications
    return []


def _opened(ctx: Context, case: dict, alert: dict, now: datetime, escalation_started: bool = False) -> None:
    """A case just opened (or found opened by a redelivery): escalation, assignment,
    ``case_opened``."""
    if not escalation_started:
        actions.start_escalations(ctx, [case], now)
    if case["status"] == "open":  # not yet assigned (a redelivery finds it assigned)
        case = _assign_on_open(ctx, case, alert)
    else:
        # kept (keyed) if written before; a first attempt that stored the case and
        # died before its audit entries leaves them to this one
        given = opening_assignment(case)
        ctx.store.trail.write_audit([opened_audit(case)] + ([assigned_audit(case)] if given else []))
        replay_assignment_on_open(ctx, case)
    # after the assignment, which it carries: one message for both (a redelivery
    # that found the case assigned announces the same again: consumers key on it)
    ctx.announce_opened(case)


def _finish_reopen(ctx: Context, case: dict, alert: dict) -> None:
    actions.start_escalations(ctx, [case], case["reopened_by"]["at"])  # idempotent per reopen
    rev, reason = case["reopened_by"]["rev"], alert["alert_id"]
    ctx.notify_update(case, case["assignee"], "reopened", by="system", rev=rev, reason=reason)


def _assign_on_open(ctx: Context, case: dict, alert: dict) -> dict:
    """Assign a new case to its rule's owner; the case as it now is. The move is
    announced by ``case_opened``, not by a status change."""
    opened = [opened_audit(case)]
    try:
        return actions.assign(
            ctx,
            case["_id"],
            alert["owner"],
            by="system",
            reason=opening_reason(alert),
            known=case,
            also_audit=opened,
            announce_status=False,
        )
    except BadRequest as exc:  # e.g. an unknown strategy: the case waits in the queue, unassigned
        key = f"{case['_id']}:not_assigned"
        ctx.store.trail.audit(
            case["_id"], "not_assigned", "system", str(exc), key=key, at=ctx.now(), also=opened
        )
        return case


def replay_assignment_on_open(ctx: Context, case: dict) -> None:
    """A redelivered alert found its case already assigned: an earlier attempt
    stored the assignment and then failed (broker or store gone) before or while
    announcing it. Announce it again with the ids the first attempt used, so
    consumers that did get the first copy drop this one (notify keys on the
    notification id); the status move rides on the replayed ``case_opened``."""
    given = opening_assignment(case)
    if given is not None:  # else a person has assigned it since: that announcement stands
        ctx.announce_assignment(case, by="system", reason=given["reason"])
