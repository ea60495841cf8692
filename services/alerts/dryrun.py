"""Dry run: what rules would do over a file of events, with no side effects.

Runs the real engine on in-memory state (MemoryState), in event-time order, so
windows, dedup and throttle behave as they would live. ``cxctl rules test``
uses it; a backtest over stored history (later) can feed it the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

from contracts.feedback import InvalidFeedback, parse_feedback
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState

MAX_EXAMPLES = 5


def dry_run(
    rules: list[dict],
    lines: Iterable[str],
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Evaluate ``rules`` on JSON lines; count alerts, repeats, suppressions, customers."""
    events, invalid = [], []
    for number, line in enumerate(lines, 1):
        if progress:
            progress(1)
        if not line.strip():
            continue
        try:
            events.append(parse_feedback(line))
        except InvalidFeedback as exc:
            invalid.append({"line": number, "reason": exc.reason})
    events.sort(key=lambda e: e["occurred_at"])
    # A dry run tests the rule as written, including a disabled draft.
    rules = [{**r, "enabled": True, "deleted": None} for r in rules]
    engine = Engine(MemoryState())
    per_rule = {
        r["id"]: {"raised": 0, "attached": 0, "suppressed": 0, "customers": Counter(), "examples": []}
        for r in rules
    }
    for event in events:
        for outcome in engine.process(rules, event, now):
            report = per_rule[outcome.rule_id]
            report[outcome.outcome] += 1
            if outcome.outcome == "raised":
                report["customers"][event["customer"]["id"]] += 1
                if len(report["examples"]) < MAX_EXAMPLES:
                    report["examples"].append(
                        {
                            "alert_id": outcome.alert_id,
                            "customer": event["customer"]["id"],
                            "event_id": event["event_id"],
                            "occurred_at": event["occurred_at"].isoformat(),
                            "text": event.get("text"),
                            "dedup_key": outcome.dedup_key,
                            "trace": outcome.trace,
                        }
                    )
    return {
        "events": len(events),
        "invalid": invalid,
        "rules": {
            rule_id: {**r, "customers": dict(r["customers"].most_common())} for rule_id, r in per_rule.items()
        },
    }
