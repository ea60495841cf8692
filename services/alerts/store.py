"""The alerts service's MongoDB store: what ``MongoStore`` hands the service, one
store per aggregate on the service's database.

* ``rules`` (RuleStore, services/alerts/rule_store.py): rules, their versions, and the
  enabled rules indexed for the engine;
* ``state`` (MongoState, services/alerts/state_store.py): the engine's running state
  (``State`` in services/alerts/engine.py): customers, windows, score series, dedup,
  throttle, no-response deadlines;
* ``alerts`` (AlertRecords, services/alerts/alert_records.py): the alerts raised and
  the matches a throttle suppressed, with their queries;
* ``history`` (EventHistory, services/alerts/history_store.py): the evaluated events
  kept for backtests;
* ``inbox``: the feedback inbox (each event handled once).

The service's figures (``stats``) and the erasure of a customer span them.
"""

from __future__ import annotations

from datetime import datetime

from services.alerts.alert_records import AlertRecords
from services.alerts.history_store import EventHistory
from services.alerts.rule_store import RuleStore
from services.alerts.state_store import MongoState
from services.common.erasure import anonymise, scrub_dead_letters
from services.common.inbox import Inbox
from services.common.mongo import Store


class AlertStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.feedback_inbox, ("source", "event_id"))
        self.rules = RuleStore(db)
        self.alerts = AlertRecords(db)
        self.state = MongoState(db, self.alerts)
        self.history = EventHistory(db)

    def indexes(self):
        return {"feedback_inbox": [self.inbox.index()]}

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        for part in (self.rules, self.alerts, self.state, self.history):
            part.ensure_indexes()

    # Kept for callers outside the service (tests/services/test_services.py,
    # tests/e2e/test_config_signal.py); the service reads them through ``rules``.
    def stats(self, since: datetime | None = None, until: datetime | None = None) -> dict:
        """The service's figures. Alerts (by level, rule, touchpoint) and suppressed matches
        count only those raised in ``[since, until)`` when a bound is given; the
        events evaluated and the dead letters are the service's running totals."""
        counts = self.alerts.counts(since, until)
        events = self.db.feedback_inbox.count_documents({"state": "done"})
        return {
            "period": {"since": since, "until": until},
            "alerts": sum(counts["by_level"].values()),
            **counts,
            "events_evaluated": events,
            "suppressed_by_rule": self.alerts.suppressed_counts(since, until),
            "dead_letters": self.dead_letter_counts(),
        }


# -- erasure (customer_erased) -----------------------------------------------------------------

ALERT_PERSONAL = ("customer.name", "event.text", "event.tags", "event.attributes", "trace")
DEADLINE_PERSONAL = tuple(f"event.customer.{k}" for k in ("name", "phone", "email", "attributes")) + (
    "event.text",
    "event.tags",
    "event.attributes",
)


def anonymise_customer(db, customer_ids: list[str]) -> dict:
    """Remove an erased customer's personal data from the alerts service's collections:
    name, comment text and tags, and the rule trace (it quotes the comment) on alerts and
    suppressed repeats, the whole feedback event's identity on waiting deadlines, and
    dead-letter previews. Ids, rules, levels, counts and times stay. Idempotent."""
    ids = {"$in": list(customer_ids)}
    return {
        "alerts": anonymise(db.alerts, {"customer.id": ids}, ALERT_PERSONAL),
        "suppressed": anonymise(db.suppressed, {"customer.id": ids}, ALERT_PERSONAL),
        "deadlines": anonymise(db.deadlines, {"customer": ids}, DEADLINE_PERSONAL),
        # the backtest history keeps whole events: the same fields as a deadline's
        "history": anonymise(db.history, {"event.customer.id": ids}, DEADLINE_PERSONAL),
        "dead_letters": scrub_dead_letters(db, customer_ids),
    }
