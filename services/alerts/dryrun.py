"""Dry run and backtest: what rules would do over past events, with no side effects.

Runs the real engine on in-memory state (MemoryState), in event-time order, so
windows, dedup and throttle behave as they would live. ``cxctl rules test``
feeds it a file of events (``dry_run``); ``alerts.backtest`` and ``cxctl rules
backtest`` feed it the feedback history the alerts service keeps (``backtest``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.feedback import InvalidFeedback, parse_feedback
from services.alerts.conditions import parse_duration, windows_of
from services.alerts.engine import Engine, Outcome
from services.alerts.explain import rule_tree
from services.alerts.group_rules import lookback
from services.alerts.index import RuleIndex
from services.alerts.memory import MemoryState
from textanalysis.text import Analyzer

MAX_EXAMPLES = 5


@dataclass
class RuleReport:
    rule: dict
    max_examples: int = MAX_EXAMPLES
    raised: int = 0
    attached: int = 0
    suppressed: int = 0
    customers: Counter = field(default_factory=Counter)
    groups: Counter = field(default_factory=Counter)  # group rules: alerts per group
    examples: list[dict] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.outcome, getattr(self, outcome.outcome) + 1)
        if outcome.outcome != "raised":
            return
        alert = outcome.alert
        assert alert is not None  # a raised outcome carries its alert
        customer, source = alert["customer"]["id"], alert["event"]
        self.customers[customer] += 1
        if alert.get("group"):
            self.groups[", ".join(f"{p}={v}" for p, v in alert["group"]["key"].items())] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(
                {
                    "alert_id": outcome.alert_id,
                    "customer": customer,
                    "event_id": source["event_id"],
                    "occurred_at": source["occurred_at"].isoformat(),
                    "text": source.get("text"),
                    "dedup_key": outcome.dedup_key,
                    "trace": outcome.trace,
                    "tree": rule_tree(self.rule, outcome.trace),
                    **({"group": alert["group"]} if alert.get("group") else {}),
                }
            )

    def as_dict(self) -> dict:
        return {
            "raised": self.raised,
            "attached": self.attached,
            "suppressed": self.suppressed,
            "customers": dict(self.customers.most_common()),
            "groups": dict(self.groups.most_common()),
            "examples": self.examples,
        }


def replay(
    rules: list[dict],
    events: Iterable[dict],
    now: datetime,
    reports: dict[str, RuleReport],
    counts_from: datetime | None = None,
    until: datetime | None = None,
    analyzer: Analyzer | None = None,
) -> int:
    """Run ``rules`` (drafts included: tested as written) over time-ordered events.

    Outcomes of events before ``counts_from`` only warm the state (windows,
    dedup); the rest are counted in ``reports``. Returns the events counted.
    ``analyzer``: the text analysis to use (a draft lexicon's; default the current one).
    """
    index = RuleIndex([{**r, "enabled": True, "deleted": None} for r in rules], analyzer=analyzer)
    engine = Engine(MemoryState(), analyzer)
    counted = 0
    for event in events:
        # "No response" deadlines that fall due by this event's time fire first; past
        # feedback holds no case responses, so a replay assumes none came.
        outcomes = engine.fire_due(index, event["occurred_at"], limit=10_000)
        outcomes += engine.process(index, event, now)
        if counts_from is None or event["occurred_at"] >= counts_from:
            counted += 1
            for outcome in outcomes:
                reports[outcome.rule_id].count(outcome)
    if until is not None:
        for outcome in engine.fire_due(index, until, limit=100_000):
            reports[outcome.rule_id].count(outcome)
    return counted


def dry_run(
    rules: list[dict],
    lines: Iterable[str],
    now: datetime,
    progress: Callable[[int], None] | None = None,
    analyzers: dict[str, Analyzer] | None = None,
) -> dict:
    """Evaluate ``rules`` on JSON lines; count alerts, repeats, suppressions, customers.

    ``analyzers``: named text analyses to compare (``{"live": …, "draft": …}``: a draft
    lexicon's effect before it is saved); the first one's counts are the report's, and
    ``lexicons`` holds each one's.
    """
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
    runs: dict[str, dict] = {}
    named: dict[str, Analyzer | None] = dict(analyzers) if analyzers else {"": None}
    for name, analyzer in named.items():
        reports = {r["id"]: RuleReport(r) for r in rules}
        replay(rules, events, now, reports, analyzer=analyzer)
        runs[name] = {rule_id: r.as_dict() for rule_id, r in reports.items()}
    report = {"events": len(events), "invalid": invalid, "rules": next(iter(runs.values()))}
    if analyzers:
        report["lexicons"] = {
            name: {"version": analyzers[name].version, "rules": rules_} for name, rules_ in runs.items()
        }
    return report


def moment(value, now: datetime, name: str) -> datetime:
    """``30d`` / ``12h`` (before ``now``) or an ISO 8601 time (UTC if no offset)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"{name}: must be a duration like 30d or 12h, or an ISO 8601 time; got {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def lookback_seconds(rule: dict) -> int:
    """How far before ``since`` a backtest replays to warm the rule's windows."""
    longest = 0
    for _, spec in windows_of(rule["when"]):
        kind = next(iter(spec))
        longest = max(longest, parse_duration(spec[kind]["within"]))
    if rule.get("group"):  # the group's window, and a spike's previous weeks
        longest = max(longest, lookback(rule["group"]))
    return longest


def backtest(
    rule: dict,
    events: Iterable[dict],
    since: datetime,
    until: datetime,
    now: datetime,
    examples: int = 10,
    analyzer: Analyzer | None = None,
    draft: bool = False,
) -> dict:
    """What ``rule`` would have raised on the stored history from ``since`` to ``until``.

    ``events`` are time-ordered and start ``lookback_seconds(rule)`` before
    ``since``: those earlier ones only fill the windows, as they would have live.
    ``analyzer``: the text analysis to replay with (the live lexicon, or a ``draft``
    of unsaved lexicon edits on top of it); default the process's current one.
    """
    report = RuleReport(rule, max_examples=examples)
    counted = replay(
        [rule], events, now, {rule["id"]: report}, counts_from=since, until=until, analyzer=analyzer
    )
    version = analyzer.version if analyzer is not None else None
    return {
        "rule": {"id": rule["id"], "version": rule.get("version")},
        "lexicon": {"version": version, "draft": draft},
        "since": since.isoformat(),
        "until": until.isoformat(),
        "events": counted,
        "matches": report.raised + report.attached + report.suppressed,
        "alerts": report.raised,
        "suppressed": {"dedup": report.attached, "throttle": report.suppressed},
        "customers": dict(report.customers.most_common()),
        "groups": dict(report.groups.most_common()),
        "examples": report.examples,
    }
