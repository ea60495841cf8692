"""Alerts service: evaluates every feedback event against the stored rules."""

from __future__ import annotations

from nameko.rpc import rpc

from contracts.base import utcnow
from services.alerts.engine import Engine
from services.alerts.rules import RuleError, load_rules
from services.alerts.store import AlertStore
from services.common.errors import BadRequest, NotFound
from services.common.messaging import ContractDispatcher, feedback_consumer
from services.common.mongo import MongoStore, handled_once, jsonable


class AlertsService:
    name = "alerts"

    store: AlertStore = MongoStore(AlertStore)
    dispatch = ContractDispatcher()

    @feedback_consumer()
    @handled_once("inbox")
    def handle_feedback(self, event: dict) -> None:
        """Evaluate the event; announce each new alert (repeats attach, throttled are counted)."""
        for outcome in Engine(self.store).process(self.store.enabled_rules(), event, utcnow()):
            if outcome.outcome == "raised":
                # Dispatched again on a retry after a crash; cases/profiles are idempotent.
                self.dispatch("alert_raised", alert_message(self.store.get_alert(outcome.alert_id)))

    @rpc(expected_exceptions=BadRequest)
    def apply_rules(self, document, actor: str = "cxctl") -> dict:
        """Validate and store a rule set; unchanged rules keep their version."""
        try:
            rules = load_rules(document)
        except RuleError as exc:
            raise BadRequest(exc.errors) from None
        return self.store.apply_rules(rules, actor)

    @rpc
    def list_rules(self) -> list[dict]:
        return jsonable(self.store.list_rules())

    @rpc(expected_exceptions=NotFound)
    def get_alert(self, alert_id: str) -> dict:
        alert = self.store.get_alert(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        return jsonable(alert)

    @rpc
    def list_alerts(
        self, limit: int = 50, skip: int = 0, level: str | None = None, customer_id: str | None = None
    ) -> list[dict]:
        return jsonable(
            self.store.list_alerts(
                limit=min(int(limit), 500), skip=int(skip), level=level, customer_id=customer_id
            )
        )

    @rpc
    def stats(self) -> dict:
        return self.store.stats()


def alert_message(alert: dict) -> dict:
    """The alert_raised payload for a stored alert."""
    return {
        "alert_id": alert["_id"],
        "dedup_key": alert.get("dedup", {}).get("key"),
        **{k: v for k, v in alert.items() if k not in ("_id", "dedup", "last_seen", "last_seen_ts", "count")},
    }
