"""The customer-message runner: accept requests, decide, send, retry, answer.

Every message is one document (``CustomerStore``). A new one is created already leased
to the worker that received it and processed at once; a deferred one (quiet hours), a
retry (exponential backoff with full jitter, as for notifications) and one whose worker
died (expired lease) are claimed by the sweep when due. Processing a message always
decides afresh (``decision.decide``), so an opt-out or an erasure recorded while it
waited applies.

A send first takes one of the customer's contacts in the fatigue window
(``CustomerStore.reserve``, atomic across replicas); a message that reaches nobody gives
it back. A channel that fails for good (a permanent vendor error, retries exhausted, not
configured) hands the message to the customer's next channel of the request's
preference; with none left the message fails with the last error.

The outcome is recorded before it is announced (``customer_message_outcome``) and
marked announced once published; the sweep announces any left unannounced by a worker
that died in between, so consumers (cases, profiles) may see one twice, never none.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import eventlet

from services.common.errors import BadRequest
from services.common.privacy import mask as mask_personal
from services.common.privacy import redact, register_secret
from services.notify.channels.base import CustomerChannel, CustomerNote, Outcome
from services.notify.customers import decision as d
from services.notify.customers.contacts import Lookup, contact_from
from services.notify.customers.receipts import address_key
from services.notify.customers.render import (
    SAMPLE_ADDRESS,
    SAMPLE_CONTEXT,
    RenderFailed,
    render,
    sample_request,
)
from services.notify.customers.store import BUSY, FATIGUED, CustomerStore
from services.notify.policy import Policy
from services.notify.render import Renderer
from services.notify.stages.retry import backoff

log = logging.getLogger(__name__)

LOOKUP_RETRY = 30.0  # seconds before deciding again when the profiles service did not answer
LOCK_RETRY = 1.0  # another worker is deciding for the same customer
LOCK_LEASE = 10.0


def message_doc(request: dict, now: float) -> dict:
    """The stored form of a ``customer_message_requested`` payload."""
    return {
        "_id": request["message_id"],
        "request": request,
        "purpose": request["purpose"],
        "customer_id": request["customer_id"],
        "case_id": request.get("case_id"),
        "next_attempt_at": now,
        "tried": [],
    }


def outcome_payload(doc: dict) -> dict:
    """The ``customer_message_outcome`` of a finished message (again after a delivery receipt)."""
    receipt = doc.get("receipt") or {}
    reason = doc.get("reason")
    if doc["status"] == "undelivered":
        reason = " ".join(str(part) for part in (receipt.get("code"), receipt.get("description")) if part)
    return {
        "message_id": doc["_id"],
        "purpose": doc["purpose"],
        "customer_id": doc["customer_id"],
        "case_id": doc.get("case_id"),
        "status": doc["status"],
        "channel": doc.get("channel"),
        "reason": (reason or "")[:2000] or None,
        "error_code": (receipt.get("code") or "")[:64] or None,
        # from the epoch: a datetime set with $set is stored as text by the embedded server
        "finished_at": datetime.fromtimestamp(doc["finished_epoch"], UTC),
    }


class Outreach:
    """Composes the parts over the store, the customer channels, the templates, the
    profiles look-up and ``announce(payload)`` (+ ``flush()``, the dispatcher's)."""

    def __init__(
        self,
        store: CustomerStore,
        channels: dict[str, CustomerChannel],
        renderer: Renderer,
        lookup: Lookup,
        rules: d.Rules,
        policy: Policy,
        announce: Callable[[dict], None],
        flush: Callable[[], None] = lambda: None,
        rng: Callable[[], float] = random.random,
    ):
        self.store = store
        self.channels = channels
        self.renderer = renderer
        self.lookup = lookup
        self.rules = rules
        self.policy = policy
        self.announce = announce
        self.flush = flush
        self.rng = rng

    # entry points -----------------------------------------------------------------------

    def accept(self, requests: list[dict], now: float) -> int:
        """Store a batch of requests (a redelivered one is left to its first copy) and
        process the new ones now; returns how many were new."""
        stored = self.store.create_many([message_doc(r, now) for r in requests], now + self.policy.lease)
        fresh = [doc for doc in stored if doc is not None]
        # customers at once (up to policy.concurrency), each customer's messages in order
        by_customer: dict[str, list[dict]] = {}
        for doc in fresh:
            by_customer.setdefault(doc["customer_id"], []).append(doc)
        pool = eventlet.GreenPool(max(1, self.policy.concurrency))
        deadline = time.monotonic() + self.policy.lease / 4
        for finished in pool.imap(lambda docs: self._in_order(docs, now, deadline), by_customer.values()):
            self.publish(finished)
        return len(fresh)

    def _in_order(self, docs: list[dict], now: float, deadline: float) -> list[dict | None]:
        """One customer's new messages, one after another; those the batch's time (a quarter
        of the lease they were created with) does not reach go to the sweep at once."""
        out: list[dict | None] = []
        for doc in docs:
            if time.monotonic() < deadline:
                out.append(self.process(doc, now))
            else:
                self._wait(Run(doc, []), now)
        return out

    def run(self, now: float | None = None) -> int:
        """The sweep: announce outcomes left unannounced, then process what is due
        (up to ``policy.batch``); returns how many were processed."""
        moment = time.time() if now is None else now
        self.publish(self.store.unannounced(moment - self.policy.lease))
        done = 0
        finished = []
        while done < self.policy.batch:
            moment = time.time() if now is None else now
            doc = self.store.claim_due(moment, self.policy.lease)
            if doc is None:
                break
            finished.append(self.process(doc, moment))
            done += 1
        self.publish(finished)
        return done

    def publish(self, finished: Sequence[dict | None]) -> None:
        docs = [doc for doc in finished if doc is not None]
        if not docs:
            return
        for doc in docs:
            self.announce(outcome_payload(doc))
        self.flush()
        self.store.mark_announced([doc["_id"] for doc in docs])

    # one message --------------------------------------------------------------------------

    def process(self, doc: dict, now: float) -> dict | None:
        """Decide and act on one leased message; the message as finished (to announce)
        or None when it waits (deferred, retried) or lost its lease."""
        started = time.monotonic()
        request = doc["request"]
        run = Run(
            doc,
            list(doc.get("tried") or []),
            errors=list(doc.get("errors") or []),
            tries=dict(doc.get("tries") or {}),
        )
        try:
            answer = self.lookup(request["customer_id"], self.rules.fatigue_days)
        except Exception as exc:  # the profiles service is away: decide again later
            log.warning("customer look-up for %s failed (%s); deciding again later", doc["_id"], exc)
            run.note(now, "lookup_failed", error=f"{type(exc).__name__}: {exc}"[:500])
            self._wait(run, now + LOOKUP_RETRY)
            return None
        contact = contact_from(answer, self.channels)
        consent = self.store.consent([request["customer_id"], contact.customer_id])
        since = now - self.rules.fatigue_days * 86400
        while True:
            sent = self.store.sent_since(contact.customer_id, since, but=doc["_id"])
            choice = d.decide(request, contact, consent, sent, self.rules, now, tuple(run.tried))
            if choice.action == d.REFUSE:
                return self._finish(run, now, "refused", reason=choice.reason, detail=choice.detail)
            if choice.action == d.FAIL:
                return self._finish(run, now, "failed", reason="; ".join(run.errors) or choice.reason)
            if choice.action == d.DEFER:
                run.note(now, "deferred", until=choice.until, detail=choice.detail)
                self._wait(run, choice.until or now, status="deferred")
                return None
            assert choice.channel is not None
            attempt = self._send(doc, contact, choice.channel, now, since)
            if attempt.kind == BUSY:
                run.note(now, "customer_busy")
                self._wait(run, now + LOCK_RETRY)
                return None
            if attempt.kind == FATIGUED:
                return self._finish(run, now, "refused", reason="fatigued", detail=attempt.outcome.error)
            finished = self._after_attempt(run, attempt, choice.channel, now)
            if finished is not CONTINUE:
                return finished
            if time.monotonic() - started > self.policy.lease / 4:
                # slow vendors: the next channel is tried by the sweep, under a new lease
                self._wait(run, now)
                return None

    def _after_attempt(self, run: Run, attempt: Attempt, channel: str, now: float):
        """Record an attempt: sent (finish), retried later (wait), or failed for good on
        ``channel`` (``CONTINUE``: the loop tries the customer's next channel)."""
        outcome = attempt.outcome
        run.attempts += 1
        run.note(
            now,
            "attempt",
            attempt=run.doc.get("attempts", 0) + run.attempts,
            channel=channel,
            status=outcome.status,
            error=outcome.error,
            http_status=outcome.http_status,
            vendor_id=outcome.detail,
        )
        if outcome.status == "delivered":
            note = attempt.note
            assert note is not None
            finished = self._finish(
                run,
                now,
                "sent",
                channel=channel,
                vendor_id=outcome.detail,
                address=attempt.address,
                address_key=address_key(channel, attempt.raw_address or ""),
                subject=note.subject,
                text=note.text,
            )
            # a delivery receipt faster than this record waited for it: applied now
            early = finished and outcome.detail and self.store.apply_receipt(channel, outcome.detail, now)
            return early or finished
        tries = run.tries[channel] = run.tries.get(channel, 0) + 1  # NOTIFY_MAX_ATTEMPTS per channel
        if outcome.status == "retry" and tries < self.policy.max_attempts:
            delay = max(backoff(tries, self.policy, self.rng), outcome.retry_after or 0.0)
            self._wait(run, now + delay, last_error=outcome.error)
            return None
        self.store.release(run.doc["_id"])
        run.tried.append(channel)
        run.errors.append(f"{channel}: {outcome.error}")
        return CONTINUE

    def _send(self, doc: dict, contact: d.Contact, name: str, now: float, since: float) -> Attempt:
        """Reserve the customer's contact, render and send on channel ``name``."""
        channel = self.channels[name]
        address = contact.addresses[name]
        missing = channel.missing()
        if missing is not None:
            return Attempt("attempted", Outcome.failed(f"{name} {missing}"), address=mask(address))
        limit = self.rules.fatigue_limit
        allowed = max(0, limit - contact.recent_feedback) if limit else UNLIMITED
        held = self.store.reserve(contact.customer_id, doc["_id"], name, allowed, since, now, LOCK_LEASE)
        if held == BUSY:
            return Attempt(BUSY, Outcome.retry("another worker holds the customer"))
        if held == FATIGUED:
            reached = f"contact limit {limit} in {self.rules.fatigue_days} days reached"
            return Attempt(FATIGUED, Outcome.failed(reached))
        zone = contact.timezone or self.rules.default_timezone
        try:
            note = render(self.renderer, doc["request"], channel.template_format, contact.name, zone)
        except RenderFailed as exc:
            return Attempt("attempted", Outcome.failed(str(exc)), address=mask(address))
        secrets = channel.secrets()
        for secret in secrets:
            register_secret(secret)
        try:
            outcome = channel.deliver(note, address, now)
        except Exception as exc:  # a bug in a channel is taken as transient, bounded by max_attempts
            log.exception("customer channel %s raised on %s", name, doc["_id"])
            outcome = Outcome.retry(f"internal error: {type(exc).__name__}: {exc}")
        # vendors quote the number or address they refused: kept and announced masked
        outcome = replace(outcome, error=outcome.error and mask_personal(redact(outcome.error, secrets)))
        return Attempt("attempted", outcome, note, mask(address), address)

    def _wait(self, run: Run, until: float, status: str = "scheduled", **fields) -> None:
        update = {**fields, "status": status, "next_attempt_at": until, **run.progress()}
        self.store.settle(run.doc, update, run.entries, run.attempts)

    def _finish(self, run: Run, now: float, status: str, **fields) -> dict | None:
        """Record the message's end; the stored message to announce, or None when the
        lease was lost (the worker that holds it now finishes it)."""
        if status != "sent":
            self.store.release(run.doc["_id"])
        update = {
            **fields,
            "status": status,
            **run.progress(),
            "finished": 1,  # 0/1, not a boolean: bare booleans in $set are not portable (docs/store.md)
            "finished_epoch": now,
            "next_attempt_at": None,
        }
        run.note(now, status, reason=fields.get("reason"), detail=fields.get("detail"))
        if not self.store.settle(run.doc, update, run.entries, run.attempts):
            return None
        return {**run.doc, **update}


CONTINUE = object()
UNLIMITED = 10**9


@dataclass
class Run:
    """One processing of a message: what it adds to the log, its attempts, the channels
    that failed for good with their errors, and the attempts per channel so far."""

    doc: dict
    tried: list[str]
    entries: list[dict] = field(default_factory=list)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)  # each channel that failed for good, and why
    tries: dict[str, int] = field(default_factory=dict)  # attempts per channel

    def progress(self) -> dict:
        """What carries over to the message's next processing."""
        return {"tried": self.tried, "errors": self.errors, "tries": self.tries}

    def note(self, now: float, event: str, **details) -> None:
        self.entries.append(
            {"at": now, "event": event, **{k: v for k, v in details.items() if v is not None}}
        )


@dataclass(frozen=True)
class Attempt:
    """What ``_send`` came to: ``kind`` attempted (the outcome says how it went), busy or fatigued."""

    kind: str
    outcome: Outcome
    note: CustomerNote | None = None
    address: str | None = None  # masked, for the log
    raw_address: str | None = None  # for the keyed hash only (receipts.address_key); never stored


def preview_message(
    outreach: Outreach, purpose: str, channel: str, language: str, context: dict | None
) -> dict:
    """What ``channel`` would send for ``purpose``; BadRequest naming a bad argument."""
    if purpose not in SAMPLE_CONTEXT:
        raise BadRequest(f"purpose: one of {', '.join(SAMPLE_CONTEXT)}")
    if channel not in outreach.channels:
        raise BadRequest(f"channel: one of {', '.join(outreach.channels)}")
    if language not in ("zh-CN", "en"):
        raise BadRequest("language: zh-CN or en")
    if context is not None and not isinstance(context, dict):
        raise BadRequest("context: an object")
    sender = outreach.channels[channel]
    request = sample_request(purpose, language, context)
    try:
        note = render(
            outreach.renderer, request, sender.template_format, None, outreach.rules.default_timezone
        )
    except RenderFailed as exc:
        raise BadRequest(f"template: {exc}") from None
    return {
        "subject": note.subject,
        "text": note.text,
        "html": note.html,
        "sms_params": note.params,
        "vendor": sender.preview(note, SAMPLE_ADDRESS[sender.address_field]),
        "missing": sender.missing(),
    }


def mask(address: str) -> str:
    """An address for the log: enough to tell which one, not enough to use it."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:2]}***@{domain}"
    return f"{address[:3]}****{address[-2:]}" if len(address) > 6 else "****"
