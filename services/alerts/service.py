"""Alerts service: evaluates every feedback event against the stored rules."""

from __future__ import annotations

from datetime import datetime

from nameko.timer import timer

from contracts.base import utcnow
from contracts.feedback import InvalidFeedback, parse_feedback
from services.alerts.dependencies import Peers, RetiredStatusQueue, TextAnalyzer
from services.alerts.dryrun import backtest, lookback_seconds, moment
from services.alerts.engine import Engine
from services.alerts.explain import explain_tree, versions_with_diffs
from services.alerts.memory import PreviewState
from services.alerts.rules import RuleError, is_active, load_rule, load_rules
from services.alerts.simulate import simulate
from services.alerts.store import AlertStore, anonymise_customer
from services.common import settings
from services.common.batching import contract_batch_handler, feedback_batch_consumer
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, Conflict, NotFound
from services.common.health import HealthServer
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, as_stored, handled_once_each, jsonable
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, Moment, page, rpc


class AlertsService:
    name = "alerts"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: AlertStore = MongoStore(AlertStore)
    config_signal = ConfigSignal()  # tells the other replicas of config changes
    dispatch = ContractDispatcher()
    analyze = TextAnalyzer()
    ask = Peers()
    retired = RetiredStatusQueue(lambda store, customer_id, at: Engine(store).respond(customer_id, at))

    @feedback_batch_consumer()
    @handled_once_each("inbox")
    def handle_feedback(self, events: list[dict]) -> None:
        """Evaluate a batch of events in delivery order; announce each new alert (repeats
        attach, throttled are counted). The announcements go out together, confirmed
        once, before the batch is acked (services/common/batching.py)."""
        self.store.record_history(events, settings.get("ALERT_HISTORY_DAYS"))
        for outcome in Engine(self.store).process_many(self.store.rule_index(), events, utcnow()):
            self._announce(outcome)

    @contract_batch_handler("cases", "customer_responded")
    def handle_customer_responded(self, responses: list[dict]) -> None:
        """Someone got in touch with these customers: surveys stop waiting on them.

        Idempotent without an inbox: marking waiting deadlines answered twice
        changes nothing.
        """
        engine = Engine(self.store)
        for response in responses:
            engine.respond(response["customer_id"], response["responded_at"])

    @timer(interval=settings.get("ALERT_TIMER_SECONDS"))
    def fire_due_deadlines(self) -> None:
        """Raise "no response within T" alerts whose deadline passed unanswered."""
        engine = Engine(self.store)
        for outcome in engine.fire_due(self.store.rule_index(), utcnow()):
            self._announce(outcome)

    def _announce(self, outcome) -> None:
        """Dispatch ``alert_raised`` for a raised alert: the one just stored, or the stored
        one when it existed already (a retry after a crash; cases/profiles are idempotent)."""
        if outcome.outcome != "raised":
            return
        stored = as_stored(outcome.alert) if outcome.fresh else self.store.get_alert(outcome.alert_id)
        if stored is not None:
            self.dispatch("alert_raised", alert_message(stored))

    @rpc(expected_exceptions=BadRequest)
    def apply_rules(self, document: dict | list, actor: Id = "cxctl") -> dict:
        """Validate and store a rule set; unchanged rules keep their version."""
        try:
            rules = load_rules(document)
        except RuleError as exc:
            raise BadRequest(exc.errors) from None
        return self.store.apply_rules(rules, actor)

    @rpc
    def list_rules(self, include_deleted: bool = False) -> list[dict]:
        return jsonable(self.store.list_rules(include_deleted=bool(include_deleted)))

    # one rule at a time ---------------------------------------------------------

    def _validated(self, document) -> dict:
        try:
            return load_rule(document)
        except RuleError as exc:
            raise BadRequest(exc.errors) from None

    def _current(self, rule_id: str, deleted_ok: bool = False) -> dict:
        rule = self.store.get_rule(rule_id)
        if rule is None or (rule.get("deleted") and not deleted_ok):
            raise NotFound(f"no rule {rule_id}")
        return rule

    def _write(self, rule: dict, actor: str, action: str, current: dict | None) -> dict:
        try:
            version = self.store.write_version(rule, actor, action, current)
        except Conflict as exc:
            raise BadRequest(str(exc)) from None
        if version is None and current is not None:
            return {"id": rule["id"], "version": current["version"], "changed": False}
        return {"id": rule["id"], "version": version, "changed": True}

    @rpc(expected_exceptions=BadRequest)
    def create_rule(self, document: dict, actor: Id = "cxctl") -> dict:
        """Create a rule (version 1); an existing id is refused (use update)."""
        rule = self._validated(document)
        current = self.store.get_rule(rule["id"])
        if current is not None and not current.get("deleted"):
            raise BadRequest(f"id: rule {rule['id']} already exists; use update")
        return self._write(rule, actor, "created", current)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def update_rule(self, rule_id: Id, document: dict | None, actor: Id = "cxctl") -> dict:
        """Replace a rule's definition with a new version (unchanged → no version)."""
        current = self._current(rule_id, deleted_ok=True)
        if not isinstance(document, dict):
            raise BadRequest("_schema: a rule is an object")
        if document.get("id", rule_id) != rule_id:
            raise BadRequest(f"id: the document is rule {document['id']}, not {rule_id}")
        rule = self._validated({**document, "id": rule_id})
        return self._write(rule, actor, "updated", current)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def set_rule_enabled(self, rule_id: Id, enabled: bool, actor: Id = "cxctl") -> dict:
        current = self._current(rule_id)
        rule = self._validated({**_definition(current), "enabled": bool(enabled)})
        return self._write(rule, actor, "enabled" if enabled else "disabled", current)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def delete_rule(self, rule_id: Id, actor: Id = "cxctl") -> dict:
        """Soft delete: the rule stops firing and is hidden; versions and alerts stay."""
        current = self._current(rule_id)
        rule = self._validated({**_definition(current), "enabled": False})
        try:
            version = self.store.soft_delete(rule, actor)
        except Conflict as exc:
            raise BadRequest(str(exc)) from None
        return {"id": rule_id, "version": version, "deleted": True}

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def rollback_rule(self, rule_id: Id, version: int, actor: Id = "cxctl") -> dict:
        """Make an old version current again, as a new version equal to it."""
        current = self._current(rule_id, deleted_ok=True)
        old = self.store.rule_version(rule_id, int(version))
        if old is None:
            raise NotFound(f"rule {rule_id} has no version {version}")
        rule = self._validated(_definition(old["definition"]))
        return self._write(rule, actor, f"rolled back to v{version}", current)

    @rpc(expected_exceptions=NotFound)
    def get_rule(self, rule_id: Id) -> dict:
        """The rule, its versions (who, when, action, diff) and its suppressed count."""
        rule = self._current(rule_id, deleted_ok=True)
        return jsonable(
            {
                "rule": rule,
                "versions": versions_with_diffs(self.store.rule_versions(rule_id)),
                "suppressed": self.store.suppressed_counts().get(rule_id, 0),
                "recent_suppressed": self.store.list_suppressed(rule_id, limit=10),
            }
        )

    # explain ------------------------------------------------------------------------

    @rpc(expected_exceptions=NotFound)
    def explain_alert(self, alert_id: Id) -> dict:
        """Why an alert fired: the rule version that fired and its evaluated tree."""
        alert = self.store.get_alert(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        version = self.store.rule_version(alert["rule"]["id"], alert["rule"]["version"])
        when = version["definition"]["when"] if version else None
        return jsonable(
            {
                "alert": alert,
                "rule": version["definition"] if version else None,
                "tree": explain_tree(when, alert["trace"]) if when else None,
            }
        )

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def explain_event(self, rule_id: Id, event: dict) -> dict:
        """Would ``rule_id`` fire on ``event`` now, and why (no side effects)."""
        rule = self._current(rule_id)
        try:
            parsed = parse_feedback(event)
        except InvalidFeedback as exc:
            raise BadRequest(f"event: {exc.reason}") from None
        engine = Engine(PreviewState(self.store))
        facts = engine.facts(parsed)
        outcomes = engine.process([{**rule, "enabled": True}], parsed, utcnow(), facts=facts)
        matched, trace = engine.evaluate_rule(rule, facts) if not outcomes else (True, outcomes[0].trace)
        return jsonable(
            {
                "rule": {"id": rule["_id"], "version": rule["version"], "enabled": rule["enabled"]},
                "matched": matched,
                "active": is_active(rule, parsed["occurred_at"]),
                "outcome": outcomes[0].outcome if outcomes else None,
                "dedup_key": outcomes[0].dedup_key if outcomes else None,
                "facts": facts.derived(),
                "tree": explain_tree(rule["when"], trace),
            }
        )

    # backtest -------------------------------------------------------------------------

    def _rule_to_test(self, rule) -> dict:
        """A stored rule by id, or an unsaved rule document (a draft being edited)."""
        if isinstance(rule, str):
            stored = self._current(rule, deleted_ok=True)
            return {**stored, "id": stored["_id"]}
        return {**self._validated(rule), "version": None}

    def _period(self, since, until) -> tuple[datetime, datetime]:
        now = utcnow()
        try:
            start = moment(since, now, "since")
            end = now if until is None else moment(until, now, "until")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if start >= end:
            raise BadRequest("since: must be before until")
        return start, end

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def backtest(
        self, rule: Id | dict, since: Moment, until: Moment | None = None, examples: int = 10
    ) -> dict:
        """What ``rule`` (an id or an unsaved document) would have raised on the feedback
        this service evaluated between ``since`` and ``until`` (default now).

        Replayed on scratch in-memory state: nothing is written. Events up to the
        rule's longest window before ``since`` are replayed first to fill windows.
        """
        tested = self._rule_to_test(rule)
        start, end = self._period(since, until)
        warm = start.timestamp() - lookback_seconds(tested)
        events = (doc["event"] for doc in self.store.history(warm, end.timestamp()))
        return jsonable(backtest(tested, events, start, end, utcnow(), examples=max(0, int(examples))))

    @rpc(expected_exceptions=BadRequest)
    def history_page(
        self,
        since: Moment,
        until: Moment | None = None,
        after: list | None = None,
        limit: int = 500,
        lookback: int = 0,
    ) -> dict:
        """A page of the stored feedback history (``cxctl rules backtest`` replays it
        locally with a progress bar): events from ``lookback`` seconds before
        ``since``, the total to expect, and the cursor of the next page."""
        start, end = self._period(since, until)
        low, high = start.timestamp() - int(lookback), end.timestamp()
        cursor = tuple(after) if after else None
        docs = list(self.store.history(low, high, after=cursor, limit=min(int(limit), 2000)))
        return jsonable(
            {
                "since": start,
                "until": end,
                "total": self.store.history_count(low, high) if cursor is None else None,
                "events": [d["event"] for d in docs],
                "next": [docs[-1]["at"], docs[-1]["_id"]] if docs else None,
            }
        )

    @rpc(expected_exceptions=BadRequest)
    def simulate(self, event: dict, now: Moment | None = None) -> dict:
        """What would happen to ``event`` end to end, with no side effects anywhere:
        matching rules and why, level, dedup key, create or attach; what cases
        would do with each new alert; what notify would render for it
        (services/alerts/simulate.py). ``now``: ISO 8601, default the clock."""
        try:
            parsed = parse_feedback(event)
        except InvalidFeedback as exc:
            raise BadRequest(f"event: {exc.reason}") from None
        try:
            moment_ = utcnow() if now is None else moment(now, utcnow(), "now")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return simulate(self.store, parsed, moment_, self.ask, alert_message)

    @rpc(expected_exceptions=NotFound)
    def get_alert(self, alert_id: Id) -> dict:
        alert = self.store.get_alert(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        return jsonable(alert)

    @rpc(expected_exceptions=BadRequest)
    def list_alerts(
        self, limit: int = 50, skip: int = 0, level: Id | None = None, customer_id: Id | None = None
    ) -> list[dict]:
        limit, skip = page(limit, skip)
        return jsonable(self.store.list_alerts(limit=limit, skip=skip, level=level, customer_id=customer_id))

    @rpc(expected_exceptions=BadRequest)
    def stats(self, since: Moment | None = None, until: Moment | None = None) -> dict:
        """The service's figures; alerts (by level, by rule) and suppressed matches
        only those raised in ``[since, until)`` when given (ISO 8601, UTC if no
        offset, or a duration before now like ``30d``), else all of them."""
        now = utcnow()
        try:
            start = None if since is None else moment(since, now, "since")
            end = None if until is None else moment(until, now, "until")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if start is not None and end is not None and start >= end:
            raise BadRequest("until: must be after since")
        return jsonable(self.store.stats(start, end))

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """Anonymise the erased customer (and the ids merged into them) here; idempotent."""
        anonymise_customer(self.store.db, erased["customer_ids"])


def _definition(stored: dict) -> dict:
    """A stored rule (or version definition) as the document an admin would write."""
    skip = ("_id", "fingerprint", "version", "updated_at", "updated_by", "deleted")
    return {k: v for k, v in stored.items() if k not in skip}


def alert_message(alert: dict) -> dict:
    """The alert_raised payload for a stored alert."""
    return {
        "alert_id": alert["_id"],
        "dedup_key": alert.get("dedup", {}).get("key"),
        **{
            k: v
            for k, v in alert.items()
            if k not in ("_id", "dedup", "last_seen", "last_seen_ts", "raised_ts", "count", "hits")
        },
    }
