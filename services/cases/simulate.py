"""The dry run of an ``alert_raised`` payload (RPC ``simulate_alert``): what the intake
would do with it, writing nothing.

The open key, the assignment strategies and the SLA and escalation policies are read
as the intake reads them; round-robin counters and agent loads are peeked, not moved.
The notifications are built as the intake would dispatch them.
"""

from __future__ import annotations

from datetime import datetime

from services.cases import assignment, escalation, sla
from services.cases.context import Context
from services.cases.intake import intake_key, open_key_topic, opening_terms, reopen_window_s
from services.cases.lifecycle import new_case, reopened
from services.common.messaging import serialize
from services.common.mongo import jsonable


def simulate_alert(ctx: Context, alert: dict, now: datetime) -> dict:
    """``{"action": "open" | "attach" | "reopen", "case_id", "case_key", "assignee",
    "team", "assignment", "sla", "escalation", "notifications"}`` for ``alert`` at ``now``."""
    key = intake_key(alert, open_key_topic())  # a group alert's: its incident's
    action, case = ctx.store.cases.peek_intake(alert, key, now, reopen_window_s())
    if action == "open" and case is None:
        return _simulate_open(ctx, alert, key, now)
    assert case is not None  # attach and reopen name the case
    return _simulate_existing(ctx, action, case, alert, now)


def _simulate_open(ctx: Context, alert: dict, key: str, now: datetime) -> dict:
    policies = ctx.store.policies
    case = new_case(alert, now, key, opening_terms(ctx, alert, now))
    owner = alert["owner"]
    reason = assignment.opening_reason(alert)
    strategy = policies.strategy(owner["id"]) if owner["kind"] == "strategy" else None
    if owner["kind"] == "strategy" and strategy is None:
        assignee, lines = None, [f"unknown strategy {owner['id']}: the case would wait unassigned"]
    elif strategy:
        agents = policies.agents()
        members = [a["id"] for a in agents if strategy["team"] in a["teams"]]
        loads = ctx.store.loads
        peeked, turn = loads.peek_loads(members), loads.peek_turn(owner["id"], assignment.pick_key(case))
        picked = assignment.explain(strategy, agents, case, peeked, turn)
        assignee, lines = picked["assignee"], picked["explanation"]
        reason = f"{reason}; {picked['reason']}"
    else:
        assignee, lines = owner, [f"{reason}: {owner['kind']} {owner['id']} (no strategy)"]
        agent = next((a for a in policies.agents() if a["id"] == owner["id"]), None)
        if owner["kind"] == "person" and agent is not None and not agent["on_shift"]:
            lines.append(f"{owner['id']} is off shift; a rule's named owner is assigned all the same")
    notifications = []
    if assignee:
        team = policies.team_of(assignee) or case["team"]
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
            ctx.notification(case, assignee, "case_assigned", "assigned:r1", reason=reason, by="system")
        )
    return _simulation(ctx, "open", None, case, lines, strategy, now, notifications)


def _simulate_existing(ctx: Context, action: str, case: dict, alert: dict, now: datetime) -> dict:
    existing = case["_id"]
    if action == "open":  # this very alert opened the case already (a redelivery)
        lines = [f"alert already taken in: it opened {existing}; a redelivery changes nothing"]
        return _simulation(ctx, "open", existing, case, lines, None, now, [])
    if action == "attach":
        lines = [f"attaches to open case {existing} ({case['status']}); its owner stays"]
        return _simulation(ctx, "attach", existing, case, lines, None, now, [])
    lines = [f"reopens {existing} (resolved within the reopen window); its owner stays"]
    case = {**case, "status": "reopened", "rev": case["rev"] + 1, **reopened(case, "reopened")}
    case["sla"] = sla.on_action(case.get("sla"), "reopen", now)
    notifications = []
    if case["assignee"]:
        notifications.append(
            ctx.notification(case, case["assignee"], "case_update", f"reopened:r{case['rev']}",
                             update="reopened", by="system", reason=alert["alert_id"])
        )  # fmt: skip
    return _simulation(ctx, "reopen", existing, case, lines, None, now, notifications)


def _simulation(ctx, action, case_id, case, lines, strategy, now, notifications) -> dict:
    if action == "attach":
        steps = [  # the case's own pending steps go on as they are
            escalation.scheduled(st)
            for st in ctx.store.schedule.case_steps(case_id)
            if st["state"] in ("pending", "claimed")
        ]
    elif action == "open" and case_id:
        steps = []
    else:
        lead = ctx.store.policies.team_lead(case["assignee"])
        steps = escalation.plan(case.get("escalation"), case, now, lead, sla.business_hours(case))
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
