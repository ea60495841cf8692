"""The alerts service's read-only answers, as its RPCs run them: a rule with its
versions, why an alert fired, whether a rule would fire on an event, a backtest,
pages of the feedback history, the service's figures; and the checks of the times
and events they are asked about (BadRequest naming the argument). Nothing here writes:
previews run the engine on ``PreviewState`` (services/alerts/memory.py), backtests on
scratch in-memory state (services/alerts/dryrun.py)."""

from __future__ import annotations

from datetime import datetime

from contracts.feedback import InvalidFeedback, parse_feedback
from services.alerts import storm
from services.alerts.dryrun import backtest, lookback_seconds, moment
from services.alerts.engine import Engine, epoch, event_key
from services.alerts.explain import rule_tree, versions_with_diffs
from services.alerts.group_engine import explain_group_rule
from services.alerts.memory import PreviewState
from services.alerts.rule_admin import current_rule, validated
from services.alerts.rules import is_active
from services.alerts.store import AlertStore
from services.common.errors import BadRequest, NotFound
from textanalysis.text import Analyzer


def rule_detail(store: AlertStore, rule_id: str) -> dict:
    """The rule, its versions (who, when, action, diff), its suppressed count and the YAML
    typed for it (``source``, None when no saved text says what the rule now says)."""
    rule = current_rule(store.rules, rule_id, deleted_ok=True)
    return {
        "rule": rule,
        "source": store.rules.source(rule),
        "versions": versions_with_diffs(store.rules.rule_versions(rule_id)),
        "suppressed": store.alerts.suppressed_counts().get(rule_id, 0),
        "recent_suppressed": store.alerts.list_suppressed(rule_id, limit=10),
    }


def get_alert(store: AlertStore, alert_id: str) -> dict:
    """The alert; NotFound when there is none."""
    found = store.alerts.get_alert(alert_id)
    if found is None:
        raise NotFound(f"no alert {alert_id}")
    return found


def explain_alert(store: AlertStore, alert_id: str) -> dict:
    """Why an alert fired: the rule version that fired and its evaluated tree."""
    raised = get_alert(store, alert_id)
    version = store.rules.rule_version(raised["rule"]["id"], raised["rule"]["version"])
    definition = version["definition"] if version else None
    return {
        "alert": raised,
        # matches its rule's throttle refused (attached to their period's storm alert)
        "suppressed": store.alerts.suppressed_on(alert_id),
        "rule": definition,
        "tree": rule_tree(definition, raised["trace"]) if definition else None,
        "storm": storm_figures(store, raised) if raised.get("storm") else None,
    }


def storm_figures(store: AlertStore, alert: dict) -> dict:
    """A storm alert's live figures (services/alerts/storm.py ``totals``): the period's
    slot alerts with their matches, and the refused matches attached to it."""
    ids = store.state.slot_alerts(alert["storm"]["bucket"])
    counts = {a["_id"]: a.get("count", 1) for a in store.alerts.alerts_by_id(ids)}
    return {**storm.totals(alert, [counts.get(i, 0) for i in ids]), "slot_alerts": ids}


def storm_counts(store: AlertStore, alert_ids) -> dict:
    """The figures of each of these alerts that is a storm alert (at most 100 ids)."""
    if not isinstance(alert_ids, list) or not all(isinstance(i, str) for i in alert_ids):
        raise BadRequest("alert_ids: must be a list of alert ids")
    if len(alert_ids) > 100:
        raise BadRequest("alert_ids: at most 100 ids")
    storms = [a for a in store.alerts.alerts_by_id(alert_ids) if a.get("storm")]
    return {a["_id"]: storm_figures(store, a) for a in storms}


def suppressed_on_alerts(store: AlertStore, alert_ids) -> dict:
    """Throttled matches attached to each of these alerts (at most 2,000 ids)."""
    if not isinstance(alert_ids, list) or not all(isinstance(i, str) for i in alert_ids):
        raise BadRequest("alert_ids: must be a list of alert ids")
    if len(alert_ids) > 2000:
        raise BadRequest("alert_ids: at most 2000 ids")
    return store.alerts.suppressed_by_alert(alert_ids)


def explain_event(store: AlertStore, rule_id: str, event: dict, now: datetime) -> dict:
    """Would ``rule_id`` fire on ``event`` now, and why (no side effects)."""
    rule = current_rule(store.rules, rule_id)
    parsed = feedback_event(event)
    engine = Engine(PreviewState(store.state))
    facts = engine.facts(parsed)
    outcomes = engine.process([{**rule, "enabled": True}], parsed, now, facts=facts)
    if outcomes:
        matched, trace = True, outcomes[0].trace
    elif rule.get("group"):  # judged on the stored counters plus this event, nothing written
        at, key = epoch(parsed["occurred_at"]), event_key(parsed)
        matched, trace = explain_group_rule(PreviewState(store.state), rule, facts, at, key)
    else:
        matched, trace = engine.evaluate_rule(rule, facts)
    return {
        "rule": {"id": rule["_id"], "version": rule["version"], "enabled": rule["enabled"]},
        "matched": matched,
        "active": is_active(rule, parsed["occurred_at"]),
        "outcome": outcomes[0].outcome if outcomes else None,
        "dedup_key": outcomes[0].dedup_key if outcomes else None,
        "facts": facts.derived(),
        "analysis": (analysis := facts.text()) and analysis.summary(),  # the words behind the facts
        "tree": rule_tree(rule, trace),
    }


def backtest_rule(
    store: AlertStore,
    rule: str | dict,
    since,
    until,
    examples: int,
    now: datetime,
    analyzer: Analyzer | None = None,
    draft: bool = False,
) -> dict:
    """What ``rule`` (an id or an unsaved document) would have raised on the feedback
    evaluated between ``since`` and ``until`` (default now), replayed on scratch
    in-memory state after the events of its longest window before ``since``, with
    ``analyzer`` (the live lexicon, or a ``draft`` of unsaved lexicon edits)."""
    tested = rule_to_test(store, rule)
    start, end = period(since, until, now)
    warm = start.timestamp() - lookback_seconds(tested)
    events = (doc["event"] for doc in store.history.between(warm, end.timestamp()))
    return backtest(
        tested, events, start, end, now, examples=max(0, int(examples)), analyzer=analyzer, draft=draft
    )


def rule_to_test(store: AlertStore, rule: str | dict) -> dict:
    """A stored rule by id, or an unsaved rule document (a draft being edited)."""
    if isinstance(rule, str):
        stored = current_rule(store.rules, rule, deleted_ok=True)
        return {**stored, "id": stored["_id"]}
    return {**validated(rule), "version": None}


def history_page(
    store: AlertStore, since, until, after: list | None, limit: int, lookback: int, now: datetime
) -> dict:
    """A page of the stored feedback history: events from ``lookback`` seconds before
    ``since``, the total to expect (first page), and the cursor of the next page."""
    start, end = period(since, until, now)
    low, high = start.timestamp() - int(lookback), end.timestamp()
    cursor = tuple(after) if after else None
    docs = list(store.history.between(low, high, after=cursor, limit=min(int(limit), 2000)))
    return {
        "since": start,
        "until": end,
        "total": store.history.count(low, high) if cursor is None else None,
        "events": [d["event"] for d in docs],
        "next": [docs[-1]["at"], docs[-1]["_id"]] if docs else None,
    }


def stats(store: AlertStore, since, until, now: datetime) -> dict:
    """The service's figures, alerts and suppressed matches of ``[since, until)``
    when a bound is given (``stats`` in services/alerts/store.py)."""
    start = None if since is None else at_moment(since, now, "since")
    end = None if until is None else at_moment(until, now, "until")
    if start is not None and end is not None and start >= end:
        raise BadRequest("until: must be after since")
    return store.stats(start, end)


def period(since, until, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` asked (``until`` default now), ``since`` before ``until``."""
    start = at_moment(since, now, "since")
    end = now if until is None else at_moment(until, now, "until")
    if start >= end:
        raise BadRequest("since: must be before until")
    return start, end


def at_moment(value, now: datetime, name: str) -> datetime:
    """A duration before ``now`` (``30d``) or an ISO 8601 time (UTC if no offset)."""
    try:
        return moment(value, now, name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def feedback_event(event: dict) -> dict:
    """A feedback event as the contract reads it (contracts/feedback.py)."""
    try:
        return parse_feedback(event)
    except InvalidFeedback as exc:
        raise BadRequest(f"event: {exc.reason}") from None
