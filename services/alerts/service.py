"""Alerts service: evaluates every feedback event against the stored rules.

Entrypoints only; each hands its work to one module:

* the feedback path (events, due deadlines, responses): services/alerts/processing.py;
* rule changes: services/alerts/rule_admin.py;
* read-only answers (rules, alerts, explain, backtest, history, figures):
  services/alerts/queries.py; end-to-end dry runs: services/alerts/simulate.py;
* the store, one part per aggregate: services/alerts/store.py.
"""

from __future__ import annotations

from nameko.timer import timer

from contracts.base import utcnow
from services.alerts import lexicon_admin, processing, queries, rule_admin
from services.alerts.dependencies import Peers, RetiredStatusQueue
from services.alerts.processing import alert_message
from services.alerts.simulate import simulate
from services.alerts.store import AlertStore, anonymise_customer
from services.common import settings
from services.common.batching import contract_batch_handler, feedback_batch_consumer, handled_once_each
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, Conflict, NotFound
from services.common.health import HealthServer
from services.common.lexicon import LiveLexicon
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, jsonable
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, Moment, page, rpc


class AlertsService:
    name = "alerts"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: AlertStore = MongoStore(AlertStore)
    config_signal = ConfigSignal()  # tells the other replicas of config changes
    dispatch = ContractDispatcher()
    text = LiveLexicon()  # the replica's text analysis, following the admin's lexicon edits
    ask = Peers()
    retired = RetiredStatusQueue(processing.respond)

    @feedback_batch_consumer()
    @handled_once_each("inbox")
    def handle_feedback(self, events: list[dict]) -> None:
        """Evaluate a batch of events in delivery order; announce each new alert (repeats
        attach, throttled are counted). The announcements go out together, confirmed
        once, before the batch is acked (services/common/batching.py)."""
        for message in processing.evaluate_feedback(self.store, events, utcnow(), self.text.analyzer):
            self.dispatch("alert_raised", message)

    @contract_batch_handler("cases", "customer_responded")
    def handle_customer_responded(self, responses: list[dict]) -> None:
        """Someone got in touch with these customers: surveys stop waiting on them.

        Idempotent without an inbox: marking waiting deadlines answered twice
        changes nothing.
        """
        for response in responses:
            processing.respond(self.store, response["customer_id"], response["responded_at"])

    @timer(interval=settings.get("ALERT_TIMER_SECONDS"))
    def fire_due_deadlines(self) -> None:
        """Raise "no response within T" alerts whose deadline passed unanswered."""
        for message in processing.fire_due(self.store, utcnow(), self.text.analyzer):
            self.dispatch("alert_raised", message)

    # rules ----------------------------------------------------------------------------

    @rpc(expected_exceptions=BadRequest)
    def apply_rules(self, document: dict | list, actor: Id = "cxctl") -> dict:
        """Validate and store a rule set; unchanged rules keep their version."""
        return rule_admin.apply_rule_set(self.store.rules, document, actor)

    @rpc
    def list_rules(self, include_deleted: bool = False) -> list[dict]:
        return jsonable(self.store.rules.list_rules(include_deleted=bool(include_deleted)))

    @rpc(expected_exceptions=BadRequest)
    def create_rule(self, document: dict, actor: Id = "cxctl", source: str | None = None) -> dict:
        """Create a rule (version 1); an existing id is refused (use update). ``source``:
        the YAML typed for it (comments kept; rule_admin.described)."""
        return rule_admin.create(self.store.rules, document, actor, source)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def update_rule(
        self, rule_id: Id, document: dict | None, actor: Id = "cxctl", source: str | None = None
    ) -> dict:
        """Replace a rule's definition with a new version (unchanged → no version); ``source``
        as for create_rule."""
        return rule_admin.update(self.store.rules, rule_id, document, actor, source)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def set_rule_enabled(self, rule_id: Id, enabled: bool, actor: Id = "cxctl") -> dict:
        return rule_admin.set_enabled(self.store.rules, rule_id, enabled, actor)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def delete_rule(self, rule_id: Id, actor: Id = "cxctl") -> dict:
        """Soft delete: the rule stops firing and is hidden; versions and alerts stay."""
        return rule_admin.delete(self.store.rules, rule_id, actor)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def rollback_rule(self, rule_id: Id, version: int, actor: Id = "cxctl") -> dict:
        """Make an old version current again, as a new version equal to it."""
        return rule_admin.rollback(self.store.rules, rule_id, version, actor)

    @rpc(expected_exceptions=NotFound)
    def get_rule(self, rule_id: Id) -> dict:
        """The rule, its versions (who, when, action, diff), its suppressed count and its
        ``source`` (the YAML typed for it, or None)."""
        return jsonable(queries.rule_detail(self.store, rule_id))

    # lexicons (services/common/lexicon.py) ----------------------------------------------

    @rpc
    def lexicon(self) -> dict:
        """The admin's overlay on the shipped word lists, its latest version, the lists."""
        return lexicon_admin.overview(self.text.store)

    @rpc(expected_exceptions=BadRequest)
    def lexicon_history(self, limit: int = 50, list_name: Id | None = None) -> list[dict]:
        """The lexicon's versions, newest first: the edit, who, when, why, before/after."""
        return jsonable(self.text.store.history(limit, list_name))

    @rpc(expected_exceptions=(BadRequest, Conflict))
    def lexicon_edit(self, edit: dict, reason: str, actor: Id = "cxctl") -> dict:
        """Add or remove one word (``{"op", "list", "word", "aspect"?}``): a new version,
        seen by every replica of every analysing service within CONFIG_MAX_STALENESS_SECONDS."""
        return jsonable(self.text.store.edit(edit, actor, reason))

    @rpc(expected_exceptions=BadRequest)
    def lexicon_add_aspect(self, code: str, labels: dict, reason: str, actor: Id = "cxctl") -> dict:
        """A new aspect code (``[a-z_]{2,40}``) with its ``{"zh-CN", "en"}`` labels: a new
        version; terms, rules and playbooks may then name it."""
        return jsonable(self.text.store.add_aspect(code, labels, actor, reason))

    @rpc(expected_exceptions=(BadRequest, Conflict, NotFound))
    def lexicon_revert(self, version: int, reason: str, actor: Id = "cxctl") -> dict:
        """Undo one version's edit, as a new version; an added aspect code is not taken
        away while a term, a saved rule or a playbook names it (Conflict naming them)."""

        def users(code: str) -> list[str]:
            return lexicon_admin.aspect_users(self.store.rules.list_rules(), self.ask, code)

        return jsonable(self.text.store.revert(version, actor, reason, users))

    @rpc(expected_exceptions=BadRequest)
    def analyze_text(self, text: str, edits: list | None = None) -> dict:
        """What this replica's analysis makes of ``text``, and why; ``edits``: a draft
        of unsaved lexicon edits to try on top of the stored ones (nothing is stored)."""
        return lexicon_admin.analyze_text(self.text, text, edits)

    # explain, backtest, simulate ----------------------------------------------------------

    @rpc(expected_exceptions=NotFound)
    def explain_alert(self, alert_id: Id) -> dict:
        """Why an alert fired: the rule version that fired and its evaluated tree."""
        return jsonable(queries.explain_alert(self.store, alert_id))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def explain_event(self, rule_id: Id, event: dict) -> dict:
        """Would ``rule_id`` fire on ``event`` now, and why (no side effects)."""
        return jsonable(queries.explain_event(self.store, rule_id, event, utcnow()))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def backtest(
        self,
        rule: Id | dict,
        since: Moment,
        until: Moment | None = None,
        examples: int = 10,
        lexicon_edits: list | None = None,
    ) -> dict:
        """What ``rule`` (an id or an unsaved document) would have raised on the feedback
        this service evaluated between ``since`` and ``until`` (default now).

        Replayed on scratch in-memory state: nothing is written. Events up to the
        rule's longest window before ``since`` are replayed first to fill windows.
        Text is analysed with the live lexicon, or with ``lexicon_edits`` (a draft of
        unsaved edits) on top of it.
        """
        analyzer, draft = lexicon_admin.analyzer_for(self.text, lexicon_edits)
        return jsonable(
            queries.backtest_rule(self.store, rule, since, until, examples, utcnow(), analyzer, draft)
        )

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
        return jsonable(queries.history_page(self.store, since, until, after, limit, lookback, utcnow()))

    @rpc(expected_exceptions=BadRequest)
    def simulate(self, event: dict, now: Moment | None = None) -> dict:
        """What would happen to ``event`` end to end, with no side effects anywhere:
        matching rules and why, level, dedup key, create or attach; what cases
        would do with each new alert; what notify would render for it
        (services/alerts/simulate.py). ``now``: ISO 8601, default the clock."""
        parsed, clock = queries.feedback_event(event), utcnow()
        at = clock if now is None else queries.at_moment(now, clock, "now")
        return simulate(self.store, parsed, at, self.ask, alert_message)

    # alerts and figures -------------------------------------------------------------------

    @rpc(expected_exceptions=NotFound)
    def get_alert(self, alert_id: Id) -> dict:
        return jsonable(queries.get_alert(self.store, alert_id))

    @rpc(expected_exceptions=BadRequest)
    def suppressed_on_alerts(self, alert_ids: list) -> dict:
        """For each of these alerts with throttled matches attached: the count, the rule
        and the level (an owner's digest lists them)."""
        return jsonable(queries.suppressed_on_alerts(self.store, alert_ids))

    @rpc(expected_exceptions=BadRequest)
    def storm_counts(self, alert_ids: list) -> dict:
        """For each of these alerts that is a storm alert: its rule, period, the alerts
        that took the period's slots and their matches, the refused matches, the total."""
        return jsonable(queries.storm_counts(self.store, alert_ids))

    @rpc(expected_exceptions=BadRequest)
    def list_alerts(
        self, limit: int = 50, skip: int = 0, level: Id | None = None, customer_id: Id | None = None
    ) -> list[dict]:
        limit, skip = page(limit, skip)
        alerts = self.store.alerts.list_alerts(limit=limit, skip=skip, level=level, customer_id=customer_id)
        return jsonable(alerts)

    @rpc(expected_exceptions=BadRequest)
    def stats(self, since: Moment | None = None, until: Moment | None = None) -> dict:
        """The service's figures; alerts (by level, by rule) and suppressed matches
        only those raised in ``[since, until)`` when given (ISO 8601, UTC if no
        offset, or a duration before now like ``30d``), else all of them."""
        return jsonable(queries.stats(self.store, since, until, utcnow()))

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """Anonymise the erased customer (and the ids merged into them) here; idempotent."""
        anonymise_customer(self.store.db, erased["customer_ids"])
