"""Notify service: thin entrypoints over the delivery pipeline (delivery.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from nameko.rpc import rpc
from nameko.timer import timer

from services.common.errors import BadRequest, NotFound
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, handled_once, jsonable
from services.notify.channels.base import Channel, Outcome
from services.notify.delivery import Pipeline, Policy
from services.notify.dependencies import Channels, DeliveryPolicy, Templates
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.store import NotifyStore

# How often due deliveries (retries, released quiet-hours holds) are swept.
SWEEP_INTERVAL = 1.0


class NotifyService:
    name = "notify"

    store: NotifyStore = MongoStore(NotifyStore)
    templates: Renderer = Templates()
    channels: dict[str, Channel] = Channels()
    policy: Policy = DeliveryPolicy()
    dispatch = ContractDispatcher()

    def _pipeline(self) -> Pipeline:
        return Pipeline(self.store, self.channels, self.templates, self._announce, self.policy)

    @contract_event_handler("cases", "notification_requested")
    @handled_once("inbox")
    def handle_notification_requested(self, request: dict) -> None:
        """Create one durable delivery per recipient × channel and try the due ones now."""
        pipeline = self._pipeline()
        created = pipeline.request(request, time.time())
        if created:
            pipeline.run(ids=created)

    @timer(interval=SWEEP_INTERVAL)
    def sweep(self) -> None:
        """Send what is due: retries whose backoff elapsed, holds whose quiet hours ended,
        and deliveries whose sender died (expired lease)."""
        self._pipeline().run()

    def _announce(self, doc: dict, outcome: Outcome, attempts: int) -> None:
        self.dispatch(
            "notification_delivered",
            {
                "notification_id": doc["notification_id"],
                "channel": doc["channel"],
                "recipient": doc["recipient"],
                "status": outcome.status,
                "attempts": attempts,
                "finished_at": datetime.now(UTC),
                "message_id": outcome.detail,
                "error": outcome.error,
            },
        )

    @rpc(expected_exceptions=BadRequest)
    def apply_recipients(self, document) -> dict:
        """Validate and store the recipients directory (people and teams)."""
        return self.store.apply_directory(load_directory(document))

    @rpc
    def list_recipients(self) -> list[dict]:
        return jsonable(self.store.list_recipients())

    @rpc
    def list_deliveries(
        self,
        limit: int = 50,
        skip: int = 0,
        status: str | None = None,
        channel: str | None = None,
        recipient: str | None = None,
        case_id: str | None = None,
    ) -> list[dict]:
        """The delivery log, newest first, with optional filters."""
        rows = self.store.list_deliveries(
            limit=min(int(limit), 500),
            skip=int(skip),
            status=status,
            channel=channel,
            recipient=recipient,
            case_id=case_id,
        )
        return jsonable([{k: v for k, v in row.items() if k != "context"} for row in rows])

    @rpc(expected_exceptions=NotFound)
    def get_delivery(self, delivery_id: str) -> dict:
        """One delivery with every attempt."""
        doc = self.store.get_delivery(delivery_id)
        if doc is None:
            raise NotFound(f"no delivery {delivery_id}")
        return jsonable({**doc, "attempt_log": self.store.attempts(delivery_id)})

    @rpc
    def stats(self) -> dict:
        return self.store.stats()
