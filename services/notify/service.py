"""Notify service: thin entrypoints over the delivery pipeline (delivery.py)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from nameko.rpc import ServiceRpc
from nameko.timer import timer

from contracts.messages import NOTIFICATION_KINDS
from services.common import settings
from services.common.batching import contract_batch_handler
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, handled_once_each, jsonable
from services.common.privacy import MaskedLogs, register_secret
from services.common.rpc import Id, Moment, page, rpc
from services.notify.channels.base import Channel, Destination, Outcome
from services.notify.delivery import Pipeline, Policy
from services.notify.dependencies import Channels, DeliveryPolicy, Templates
from services.notify.digest import DigestRunner, schedule_all
from services.notify.digest_cron import digest_cron
from services.notify.directory import load_directory
from services.notify.render import LANGUAGES, TEMPLATE_NAME, Renderer
from services.notify.samples import SAMPLE_RECIPIENT, sample
from services.notify.simulate import load_now, load_request, simulate
from services.notify.store import NotifyStore, anonymise_customer

# How often due deliveries (retries, released quiet-hours holds) are swept.
SWEEP_INTERVAL = 1.0


class NotifyService:
    name = "notify"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: NotifyStore = MongoStore(NotifyStore)
    config_signal = ConfigSignal()  # tells the other replicas of config changes
    templates: Renderer = Templates()
    channels: dict[str, Channel] = Channels()
    policy: Policy = DeliveryPolicy()
    dispatch = ContractDispatcher()
    cases_rpc = ServiceRpc("cases")

    def _pipeline(self) -> Pipeline:
        # Admin-edited templates may have been saved through another replica.
        self.templates.sync(self.store.template_overrides())
        return Pipeline(self.store, self.channels, self.templates, self._announce, self.policy)

    @contract_batch_handler("cases", "notification_requested")
    @handled_once_each("inbox")
    def handle_notification_requested(self, requests: list[dict]) -> None:
        """Create one durable delivery per recipient × channel for a batch of requests
        and try the due ones now, several at once."""
        self._pipeline().deliver_many(requests, time.time())

    @timer(interval=SWEEP_INTERVAL)
    def sweep(self) -> None:
        """Send what is due: retries whose backoff elapsed, holds whose quiet hours ended,
        deliveries whose sender died (expired lease)."""
        self._pipeline().run()

    @digest_cron
    def run_digest(self, person_id: str | None) -> list[dict]:
        """APScheduler fired ``person_id``'s digest cron: run it if this replica wins the
        claim. ``None`` (the periodic sync): run any digest left due while no replica was
        up, and return every schedule for the scheduler's jobs."""
        pipeline = self._pipeline()
        runner = DigestRunner(self.store, self.cases_rpc.list_cases, pipeline, settings.get("CONSOLE_URL"))
        created = runner.run(time.time(), person_id)
        if created:
            pipeline.run()
        return self.store.digest_schedules() if person_id is None else []

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
                "message_id": (outcome.detail or "")[:300] or None,
                "error": (outcome.error or "")[:2000] or None,
            },
        )

    @rpc(expected_exceptions=BadRequest)
    def apply_recipients(self, document: dict) -> dict:
        """Validate and store the recipients directory (people and teams) and their digest schedules."""
        directory = load_directory(document)
        for entry in (*directory["people"], *directory["teams"]):  # before any log could show them
            for channel, handle in (entry.get("handles") or {}).items():
                if channel in self.channels:
                    for secret in self.channels[channel].secrets(Destination(handle)):
                        register_secret(secret)
        summary = self.store.apply_directory(directory)
        schedule_all(self.store, directory["people"], datetime.now(UTC))
        return summary

    @rpc
    def list_recipients(self) -> list[dict]:
        return jsonable(self.store.list_recipients())

    @rpc(expected_exceptions=BadRequest)
    def list_deliveries(
        self,
        limit: int = 50,
        skip: int = 0,
        status: Id | None = None,
        channel: Id | None = None,
        recipient: Id | None = None,
        case_id: Id | None = None,
    ) -> list[dict]:
        """The delivery log, newest first, with optional filters."""
        limit, skip = page(limit, skip)
        rows = self.store.list_deliveries(
            limit=limit,
            skip=skip,
            status=status,
            channel=channel,
            recipient=recipient,
            case_id=case_id,
        )
        return jsonable([_without_context(row) for row in rows])

    @rpc(expected_exceptions=NotFound)
    def get_delivery(self, delivery_id: Id) -> dict:
        """One delivery with every attempt."""
        doc = self.store.get_delivery(delivery_id)
        if doc is None:
            raise NotFound(f"no delivery {delivery_id}")
        return jsonable({**doc, "attempt_log": self.store.attempts(delivery_id)})

    # templates ------------------------------------------------------------

    @rpc(expected_exceptions=BadRequest)
    def preview(self, kind: Id, channel: Id, language: Id = "zh-CN", payload: dict | None = None) -> dict:
        """Render a notification as ``channel`` would send it, from ``payload`` or the
        built-in sample of ``kind``; nothing is sent."""
        errors = []
        if kind not in NOTIFICATION_KINDS:
            errors.append(f"kind: one of {', '.join(NOTIFICATION_KINDS)}")
        if channel not in self.channels:
            errors.append(f"channel: one of {', '.join(self.channels)}")
        if language not in LANGUAGES:
            errors.append(f"language: one of {', '.join(LANGUAGES)}")
        if payload is not None and not isinstance(payload, dict):
            errors.append("payload: a JSON object (the notification context)")
        if errors:
            raise BadRequest(errors)
        context = payload if payload is not None else sample(kind)
        preview = self._pipeline().preview(kind, self.channels[channel], language, context, SAMPLE_RECIPIENT)
        return jsonable(preview)

    @rpc(expected_exceptions=BadRequest)
    def simulate(self, request: dict, now: Moment | None = None) -> list[dict]:
        """What the pipeline would do with a ``notification_requested`` payload, with no
        side effect (no delivery, no send, no counter): one entry per recipient ×
        channel ``{recipient, channel, language, subject, body, html, truncated,
        held_for_quiet_hours, release_at, bypass_reason, fallback_channel,
        fallback_of, template, render_error, error}``. ``now`` (ISO-8601 with offset)
        decides quiet hours; it defaults to the service's clock."""
        request = load_request(request)
        when = load_now(now)
        when = time.time() if when is None else when
        return jsonable(simulate(self._pipeline(), request, when))

    @rpc
    def list_templates(self) -> list[dict]:
        """Every template name, and whether an admin override replaces the file."""
        overrides = self.store.template_overrides()
        self.templates.sync(overrides)
        return [{"name": n, "overridden": n in overrides} for n in self.templates.names()]

    @rpc(expected_exceptions=NotFound)
    def get_template(self, name: Id) -> dict:
        self.templates.sync(self.store.template_overrides())
        try:
            return {"name": name, "source": self.templates.source(name)}
        except Exception:
            raise NotFound(f"no template {name}") from None

    @rpc(expected_exceptions=BadRequest)
    def save_template(self, name: Id, source: str, by: Id = "admin") -> dict:
        """Store an admin-edited template after checking its syntax (errors name the
        line), refusing private-attribute access, and rendering the sample payload."""
        if not isinstance(source, str) or len(source) > 100_000:
            raise BadRequest("source: a template text of at most 100,000 characters")
        match = TEMPLATE_NAME.match(name if isinstance(name, str) else "")
        kind = match["kind"] if match and match["kind"] in NOTIFICATION_KINDS else "case_assigned"
        self.templates.sync(self.store.template_overrides())
        problems = self.templates.check(name, source, sample(kind), SAMPLE_RECIPIENT)
        if problems:
            raise BadRequest([f"{name}: {p}" for p in problems])
        self.store.save_template(name, source, by)
        self.templates.sync(self.store.template_overrides())
        return {"name": name, "saved": True}

    @rpc(expected_exceptions=NotFound)
    def delete_template(self, name: Id) -> dict:
        """Drop an override; the file template applies again."""
        if not self.store.delete_template(name):
            raise NotFound(f"no override for {name}")
        self.templates.sync(self.store.template_overrides())
        return {"name": name, "deleted": True}

    # test messages -----------------------------------------------------------

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def send_test(self, channel: Id, to: Id, kind: Id = "alert_raised") -> dict:
        """Send the sample ``kind`` to ``to`` (``person:ID``, ``team:ID`` or an id) on
        ``channel`` now, ignoring quiet hours; returns the delivery with its attempts."""
        if channel not in self.channels:
            raise BadRequest(f"channel: one of {', '.join(self.channels)}")
        if kind not in NOTIFICATION_KINDS:
            raise BadRequest(f"kind: one of {', '.join(NOTIFICATION_KINDS)}")
        ref_kind, _, ref_id = to.rpartition(":")
        ref = {"kind": ref_kind or "person", "id": ref_id}
        if ref["kind"] not in ("person", "team") or self.store.recipient(ref["kind"], ref["id"]) is None:
            raise NotFound(f"no recipient {to} in the directory")
        context = sample(kind)
        request = {
            "notification_id": f"test-{uuid.uuid4().hex[:12]}",
            "kind": kind,
            "recipient": ref,
            "channels": [channel],
            "level": context.get("level", "P4"),
            "case_id": context.get("case_id"),
            "context": context,
        }
        ids = self._pipeline().deliver(request, time.time(), hold=False)
        return jsonable([{**self.store.get_delivery(i), "attempt_log": self.store.attempts(i)} for i in ids])

    @rpc
    def stats(self) -> dict:
        return self.store.stats()

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """Anonymise the erased customer (and the ids merged into them) in the delivery
        log, waiting deliveries and digests; idempotent."""
        anonymise_customer(self.store.db, erased["customer_ids"])


def _without_context(doc: dict) -> dict:
    """A delivery for the log: the notification context is large and shown by preview."""
    return {k: v for k, v in doc.items() if k != "context"}
