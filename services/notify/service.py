"""Notify service: thin entrypoints over the delivery pipeline (delivery.py, stages/),
the dry runs (simulate.py), the template overrides (overrides.py) and the store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial

import eventlet
from nameko.rpc import ServiceRpc
from nameko.timer import timer

from services.common import settings
from services.common.batching import contract_batch_handler, handled_once_each
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.messaging import ContractDispatcher, InvalidMessage, contract_event_handler
from services.common.mongo import MongoStore, jsonable
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, Moment, page, rpc

# the RPC mixins by module (``nameko run`` runs every class with entrypoints it finds by name)
from services.notify import consent_rpc, receipt_entrypoints, template_endpoints
from services.notify.channels.base import Channel, Outcome
from services.notify.customers.outreach import Outreach, preview_message
from services.notify.customers.render import request_problem
from services.notify.customers.store import TokenCache
from services.notify.delivery import Pipeline
from services.notify.dependencies import (
    Channels,
    CustomerContact,
    DeliveryPolicy,
    Templates,
    customer_channels,
)
from services.notify.digest import DigestRunner, schedule_all
from services.notify.digest_cron import digest_cron
from services.notify.directory import load_directory, register_secrets
from services.notify.people import recipients
from services.notify.people_store import PeopleProjection
from services.notify.policy import Policy
from services.notify.priority import by_urgency, priority_batch_handler
from services.notify.render import Renderer
from services.notify.samples import SAMPLE_RECIPIENT, sample_request
from services.notify.simulate import load_now, load_preview, load_request, preview, simulate
from services.notify.stages.record import announcement
from services.notify.store import NotifyStore, anonymise_customer

# How often due deliveries (retries, released quiet-hours holds) are swept.
SWEEP_INTERVAL = 1.0
# How long a customer message waits for the profiles service's answer before deciding later.
LOOKUP_TIMEOUT = 10.0


class NotifyService(
    template_endpoints.TemplateEndpoints, consent_rpc.ConsentRpc, receipt_entrypoints.ReceiptEntrypoints
):
    """Delivery of staff notifications and customer messages; the template editor's RPCs
    are in ``template_endpoints.py``, the customers' opt-outs in ``consent_rpc.py``, the
    vendors' receipts in ``receipt_entrypoints.py``."""

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
    alerts_rpc = ServiceRpc("alerts")
    profiles_rpc = ServiceRpc("profiles")
    customer_setup: dict = CustomerContact()

    def _pipeline(self) -> Pipeline:
        # Admin-edited templates may have been saved through another replica.
        self.templates.sync(self.store.template_overrides())
        return Pipeline(self.store, self.channels, self.templates, self._announce, self.policy)

    def _announce(self, doc: dict, outcome: Outcome, attempts: int) -> None:
        self.dispatch("notification_delivered", announcement(doc, outcome, attempts))

    def _outreach(self) -> Outreach:
        self.templates.sync(self.store.template_overrides())
        channels = customer_channels(self.customer_setup["channels"], TokenCache(self.store.db))
        announce = partial(self._dispatch, "customer_message_outcome")
        flush = getattr(self.dispatch, "flush", lambda: None)
        rules = self.customer_setup["rules"]
        return Outreach(
            self.store.customers, channels, self.templates, self._lookup, rules, self.policy, announce, flush
        )

    def _dispatch(self, event_type: str, payload: dict) -> None:
        self.dispatch(event_type, payload)

    def _lookup(self, customer_id: str, fatigue_days: int) -> dict:
        with eventlet.Timeout(LOOKUP_TIMEOUT):
            return self.profiles_rpc.customer_contact(customer_id, fatigue_days=fatigue_days)

    @contract_batch_handler("cases", "customer_message_requested")
    @handled_once_each("customer_inbox")
    def handle_customer_message_requested(self, requests: list[dict]) -> None:
        """Store each message to a customer once (by ``message_id``) and decide it now:
        send, defer past the customer's quiet hours, or refuse with a reason; the
        outcomes go out as ``customer_message_outcome``. One that cannot be sent (its
        purpose's context lacks the survey link or the reply) is dead-lettered with the
        reason naming the field, before anything of its batch is done."""
        problems = [problem for r in requests if (problem := request_problem(r))]
        if problems:  # the batch splits until the bad one is alone, then it is dead-lettered
            raise InvalidMessage("; ".join(problems))
        self._outreach().accept(requests, time.time())

    @timer(interval=SWEEP_INTERVAL)
    def sweep_customer_messages(self) -> None:
        """Customer messages due now (quiet hours over, retries) and outcomes left unannounced."""
        self._outreach().run()

    @rpc(expected_exceptions=BadRequest)
    def preview_customer_message(
        self, purpose: Id, channel: Id, language: Id = "zh-CN", context: dict | None = None
    ) -> dict:
        """A customer message as ``channel`` would send it (subject, text, HTML, the SMS
        template variables, the vendor payload without credentials), from ``context`` or
        the purpose's sample; nothing is sent."""
        outreach = self._outreach()
        return jsonable(preview_message(outreach, purpose, channel, language, context))

    @rpc(expected_exceptions=BadRequest)
    def list_customer_messages(
        self,
        limit: int = 50,
        skip: int = 0,
        status: Id | None = None,
        customer_id: Id | None = None,
        case_id: Id | None = None,
    ) -> list[dict]:
        """Messages to customers, newest first: status, channel, reason, attempts."""
        limit, skip = page(limit, skip)
        rows = self.store.customers.list_messages(
            limit=limit, skip=skip, status=status, customer_id=customer_id, case_id=case_id
        )
        return jsonable(rows)

    @rpc(expected_exceptions=NotFound)
    def get_customer_message(self, message_id: Id) -> dict:
        """One customer message with its log (decisions and attempts)."""
        doc = self.store.customers.with_log(message_id)
        if doc is None:
            raise NotFound(f"no customer message {message_id}")
        return jsonable(doc)

    @priority_batch_handler("cases", "notification_requested")
    @handled_once_each("inbox")
    def handle_notification_requested(self, requests: list[dict]) -> None:
        """Create one durable delivery per recipient × channel for a batch of requests
        and try the due ones now, several at once, P1 first (priority.py)."""
        self._pipeline().deliver_many(by_urgency(requests), time.time())

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
        runner = DigestRunner(
            self.store,
            self.cases_rpc.list_cases,
            pipeline,
            settings.get("CONSOLE_URL"),
            suppressed=self.alerts_rpc.suppressed_on_alerts,
        )
        if runner.run(time.time(), person_id):
            pipeline.run()
        return self.store.digest_schedules() if person_id is None else []

    @contract_event_handler("cases", "directory_changed")
    def handle_directory_changed(self, changed: dict) -> None:
        """Replace the recipients with those the people directory implies, unless a later
        revision is held already (people_store.py); a handle a channel refuses
        dead-letters the message with the field named."""
        try:
            directory = recipients(changed["directory"])
        except BadRequest as exc:
            raise InvalidMessage(f"directory revision {changed['revision']}: {exc}") from None
        register_secrets(directory, self.channels)  # before any log could show them
        if PeopleProjection(self.store).receive(changed["revision"], directory):
            schedule_all(self.store, directory["people"], datetime.now(UTC))

    @rpc
    def people_revision(self) -> int | None:
        """The people directory revision notify's recipients show (None: none received)."""
        return (PeopleProjection(self.store).held() or {}).get("projected")

    @rpc(expected_exceptions=BadRequest)
    def apply_recipients(self, document: dict) -> dict:
        """Deprecated (the people directory replaces it): validate and store the recipients
        directory and its digest schedules; refused once a people directory is received."""
        held = PeopleProjection(self.store).held()
        if held is not None:
            raise BadRequest(
                f"_schema: the people directory (revision {held['revision']}) sets the recipients;"
                " change them with cxctl people apply or PUT /api/v1/people"
            )
        directory = load_directory(document)
        register_secrets(directory, self.channels)  # before any log could show them
        summary = self.store.apply_directory(directory)
        if PeopleProjection(self.store).settle():  # a directory came in meanwhile: it wins
            raise BadRequest("_schema: the people directory arrived meanwhile and sets the recipients")
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
        filters = {"status": status, "channel": channel, "recipient": recipient, "case_id": case_id}
        rows = self.store.list_deliveries(limit=limit, skip=skip, **filters)
        return jsonable([_without_context(row) for row in rows])

    @rpc(expected_exceptions=NotFound)
    def get_delivery(self, delivery_id: Id) -> dict:
        """One delivery with every attempt."""
        doc = self.store.delivery_log(delivery_id)
        if doc is None:
            raise NotFound(f"no delivery {delivery_id}")
        return jsonable(doc)

    # templates ------------------------------------------------------------

    @rpc(expected_exceptions=BadRequest)
    def preview(self, kind: Id, channel: Id, language: Id = "zh-CN", payload: dict | None = None) -> dict:
        """Render a notification as ``channel`` would send it, from ``payload`` or the
        built-in sample of ``kind``; nothing is sent."""
        context = load_preview(kind, channel, language, payload, self.channels)
        pipeline = self._pipeline()
        return jsonable(preview(pipeline, kind, self.channels[channel], language, context, SAMPLE_RECIPIENT))

    @rpc(expected_exceptions=BadRequest)
    def simulate(self, request: dict, now: Moment | None = None) -> list[dict]:
        """What the pipeline would do with a ``notification_requested`` payload, with no
        side effect (no delivery, no send, no counter): one entry per recipient ×
        channel ``{recipient, channel, language, subject, body, html, truncated,
        held_for_quiet_hours, release_at, bypass_reason, fallback_channel,
        fallback_of, template, render_error, error}``. ``now`` (ISO-8601 with offset)
        decides quiet hours; it defaults to the service's clock."""
        request, when = load_request(request), load_now(now)
        return jsonable(simulate(self._pipeline(), request, time.time() if when is None else when))

    # test messages -----------------------------------------------------------

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def send_test(self, channel: Id, to: Id, kind: Id = "alert_raised") -> dict:
        """Send the sample ``kind`` to ``to`` (``person:ID``, ``team:ID`` or an id) on
        ``channel`` now, ignoring quiet hours; returns the delivery with its attempts."""
        request = sample_request(channel, to, kind, self.channels, self.store)
        ids = self._pipeline().deliver(request, time.time(), hold=False)
        return jsonable([self.store.delivery_log(i) for i in ids])

    @rpc
    def stats(self) -> dict:
        return self.store.stats()

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """Anonymise the erased customer (and the ids merged into them) in the delivery
        log, waiting deliveries and digests, and never contact them again (their
        messages' contents dropped); idempotent."""
        anonymise_customer(self.store.db, erased["customer_ids"])
        self.store.customers.mark_erased(erased["customer_ids"])


def _without_context(doc: dict) -> dict:
    """A delivery for the log: the notification context is large and shown by preview."""
    return {k: v for k, v in doc.items() if k != "context"}
