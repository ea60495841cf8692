"""Simulate one event end to end, with no side effects anywhere.

``simulate(store, event, now, ask)`` answers what *would* happen to a feedback
event: every enabled rule that would match and why (the evaluated tree), the
level, the effective dedup key and whether the match would create an alert,
attach to an open one, or be throttled. Then, for each alert it would create,
what cases would do (``cases.simulate_alert``: action, case, assignee and why,
SLA deadlines, escalation, notifications), and for each notification cases
would request, what notify would render per recipient and channel
(``notify.simulate(request, now)``: subject, body, quiet-hours hold, fallback…).

The engine runs on ``PreviewState`` over the store's running state: stored state is
read, nothing is written.
``ask(service, method, *args)`` makes the RPC calls and returns
``(result, None)`` or ``(None, reason)``; a service that is down, too slow or
too old to simulate degrades its section to ``{"error": reason}`` and never
fails the whole answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.alerts.engine import Engine
from services.alerts.explain import rule_tree
from services.alerts.memory import PreviewState
from services.common.mongo import jsonable

Ask = Callable[..., tuple[Any, str | None]]
WOULD = {"raised": "create", "attached": "attach", "suppressed": "throttled"}


def simulate(store, event: dict, now: datetime, ask: Ask, alert_message: Callable[[dict], dict]) -> dict:
    index = store.rules.rule_index()
    engine = Engine(PreviewState(store.state))
    facts = engine.facts(event)
    outcomes = engine.process(index, event, now, facts=facts)
    matches = []
    for outcome in outcomes:
        rule = index.by_id[outcome.rule_id]
        match = {
            "rule": {"id": rule["id"], "version": rule["version"], "name": rule["name"]},
            "level": rule["level"],
            "would": WOULD[outcome.outcome],
            "alert_id": outcome.alert_id,
            "dedup_key": outcome.dedup_key,
            "tree": rule_tree(rule, outcome.trace),
        }
        if outcome.outcome == "raised" and outcome.alert is not None:
            message = jsonable(alert_message(outcome.alert))
            match["alert"] = message
            match["cases"], match["notifications"] = _downstream(message, now, ask)
        matches.append(match)
    return jsonable(
        {
            "event": {"source": event["source"], "event_id": event["event_id"]},
            "now": now,
            "rules": {"enabled": len(index), "evaluated": len(index.when.candidates(facts))},
            "facts": facts.derived(),
            "matches": matches,
        }
    )


def _downstream(alert: dict, now: datetime, ask: Ask) -> tuple[dict, list[dict]]:
    """What cases would do with the alert, and what notify would render for it."""
    case, reason = ask("cases", "simulate_alert", alert, now.isoformat())
    if reason:
        return {"error": reason}, []
    rendered = []
    for request in case.get("notifications") or []:
        messages, reason = ask("notify", "simulate", request, now.isoformat())
        rendered.append({"request": request, **({"error": reason} if reason else {"rendered": messages})})
    return case, rendered
