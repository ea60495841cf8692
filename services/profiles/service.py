"""Profiles service: keeps each customer's experience profile (体验档案)."""

from __future__ import annotations

from nameko.rpc import rpc

from contracts.base import utcnow
from services.common.errors import NotFound
from services.common.messaging import ContractDispatcher, contract_event_handler, feedback_consumer
from services.common.mongo import MongoStore, handled_once, jsonable
from services.profiles.profile import feedback_key
from services.profiles.store import ProfileStore


class ProfilesService:
    name = "profiles"

    store: ProfileStore = MongoStore(ProfileStore)
    dispatch = ContractDispatcher()

    @feedback_consumer()
    @handled_once("feedback_inbox")
    def handle_feedback(self, event: dict) -> None:
        """Merge identity, add the timeline entry, move counters and latest scores."""
        profile = self.store.record_feedback(event)
        self.dispatch(
            "profile_updated",
            {
                "customer_id": profile["_id"],
                "cause": {"kind": "feedback", "key": feedback_key(event)},
                "updated_at": utcnow(),
                "feedback_count": profile.get("feedback_count", 0),
                "latest_scores": {k: v["value"] for k, v in profile.get("latest", {}).items()},
            },
        )

    @contract_event_handler("alerts", "alert_raised")
    @handled_once("alert_inbox")
    def handle_alert_raised(self, alert: dict) -> None:
        """Count the alert against the customer and add it to the timeline."""
        self.store.record_alert(alert)

    @contract_event_handler("cases", "case_opened")
    @handled_once("case_inbox")
    def handle_case_opened(self, case: dict) -> None:
        """List the case among the customer's open cases."""
        self.store.record_case_opened(case)

    @rpc(expected_exceptions=NotFound)
    def get_profile(self, customer_id: str, timeline_limit: int = 50) -> dict:
        profile = self.store.get_profile(customer_id, min(int(timeline_limit), 500))
        if profile is None:
            raise NotFound(f"no profile for customer {customer_id}")
        return jsonable(profile)

    @rpc
    def stats(self) -> dict:
        return self.store.stats()
