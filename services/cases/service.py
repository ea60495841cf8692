"""Cases service: opens a case for every alert and assigns it to an owner."""

from __future__ import annotations

from nameko.rpc import rpc

from contracts.base import utcnow
from services.cases.lifecycle import initial_assignee, new_case, notification_context
from services.cases.store import CaseStore
from services.common import settings
from services.common.errors import NotFound
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, handled_once, jsonable


class CasesService:
    name = "cases"

    store: CaseStore = MongoStore(CaseStore)
    dispatch = ContractDispatcher()

    @contract_event_handler("alerts", "alert_raised")
    @handled_once("inbox")
    def handle_alert_raised(self, alert: dict) -> None:
        """Open (idempotently) a case for the alert and assign it to the rule's owner."""
        case = self.store.open_case(new_case(alert, utcnow()))
        self.dispatch(
            "case_opened",
            {
                "case_id": case["_id"],
                "alert_id": case["alert_id"],
                "opened_at": case["opened_at"],
                "level": case["level"],
                "status": case["status"],
                "title": case["title"],
                "customer": case["customer"],
                "rule": case["rule"],
            },
        )
        assignee = initial_assignee(alert)
        if assignee is not None:
            case = self.store.assign(
                case["_id"], assignee, by="system", reason=f"owner of rule {alert['rule']['id']}"
            )
            self._announce_assignment(case, by="system", reason="rule owner")

    def _announce_assignment(self, case: dict, *, by: str, reason: str) -> None:
        assignee = case["assignee"]
        self.dispatch(
            "case_assigned",
            {
                "case_id": case["_id"],
                "assignee": assignee,
                "assigned_at": case["assignment"]["at"],
                "assigned_by": by,
                "reason": reason,
                "level": case["level"],
                "customer_id": case["customer"]["id"],
            },
        )
        stamp = case["assignment"]["at"].strftime("%Y%m%dT%H%M%S%f")
        self.dispatch(
            "notification_requested",
            {
                "notification_id": f"{case['_id']}:assigned:{assignee['kind']}:{assignee['id']}:{stamp}",
                "requested_at": utcnow(),
                "kind": "case_assigned",
                "recipient": assignee,
                "channels": case["channels"],
                "level": case["level"],
                "case_id": case["_id"],
                "context": notification_context(case, settings.get("CONSOLE_URL")),
            },
        )

    @rpc(expected_exceptions=NotFound)
    def get_case(self, case_id: str) -> dict:
        case = self.store.get_case(case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        return jsonable({**case, "audit": self.store.case_audit(case_id)})

    @rpc
    def list_cases(
        self,
        limit: int = 50,
        skip: int = 0,
        status: str | None = None,
        assignee: str | None = None,
        level: str | None = None,
    ) -> list[dict]:
        return jsonable(
            self.store.list_cases(
                limit=min(int(limit), 500), skip=int(skip), status=status, assignee=assignee, level=level
            )
        )

    @rpc
    def stats(self) -> dict:
        return self.store.stats()
