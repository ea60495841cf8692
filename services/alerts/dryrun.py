"""Dry run: what rules would do over a file of events, with no side effects.

Runs the real engine on in-memory state (MemoryState), in event-time order, so
windows, dedup and throttle behave as they would live. ``cxctl rules test``
uses it; a backtest over stored history (later) can feed it the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.feedback import InvalidFeedback, parse_feedback
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState

MAX_EXAMPLES = 5


@dataclass
class RuleReport:
    raised: int = 0
    attached: int = 0
    suppressed: int = 0
    customers: Counter = field(default_factory=Counter)
    examples: list[dict] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict:
        return {
            "raised": self.raised,
            "attached": self.attached,
            "suppressed": self.suppressed,
            "customers": dict(self.customers.most_common()),
            "examples": self.examples,
        }


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
    per_rule = {r["id"]: RuleReport() for r in rules}
    for event in events:
        # "No response" deadlines that fall due by this event's time fire first; a
        # file of feedback holds no case responses, so a dry run assumes none came.
        due = engine.fire_due(rules, event["occurred_at"], limit=10_000)
        for outcome in due + engine.process(rules, event, now):
            report = per_rule[outcome.rule_id]
            report.count(outcome.outcome)
            if outcome.outcome == "raised":
                customer, source = outcome.alert["customer"]["id"], outcome.alert["event"]
                report.customers[customer] += 1
                if len(report.examples) < MAX_EXAMPLES:
                    report.examples.append(
                        {
                            "alert_id": outcome.alert_id,
                            "customer": customer,
                            "event_id": source["event_id"],
                            "occurred_at": source["occurred_at"].isoformat(),
                            "text": source.get("text"),
                            "dedup_key": outcome.dedup_key,
                            "trace": outcome.trace,
                        }
                    )
    return {
        "events": len(events),
        "invalid": invalid,
        "rules": {rule_id: r.as_dict() for rule_id, r in per_rule.items()},
    }
