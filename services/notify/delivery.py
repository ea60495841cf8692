"""The delivery pipeline: plan → hold (quiet hours) → schedule → claim → resolve →
rate-limit → render → send → retry → record → fall back.

Each stage is one small type in ``stages/`` with one method that returns its decision
(``stages/__init__.py`` lists them); ``Pipeline`` composes them and owns the
schedule: what is created, claimed, sent at once, and recorded together.

Every delivery is one document keyed by its idempotency key
(notification × channel × recipient). Nothing waits in memory or in the
broker: a transient failure sets ``next_attempt_at`` (epoch seconds) with
exponential backoff and full jitter, and a sweep (the service's @timer) claims
due deliveries atomically with a lease. A delivery that was sent successfully
is marked ``delivered`` under the lease and is never claimed again, so a restart
between attempts cannot send it twice. A batch of deliveries takes its send-rate
tokens with one store operation per destination and records its outcomes with one
``bulk_write`` (``stages.record.Record``), every ``concurrency`` sends at most. (The one
window left is a crash after the vendor accepted a request and before the store recorded
it; the lease then expires and the message is resent: at most about ``concurrency`` of
them per dying worker. Email keeps its Message-ID and the generic
webhook its ``X-CX-Delivery-Id`` across resends so receivers can drop the copy;
IM robots offer no idempotency key.)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable

import eventlet

from services.common.privacy import register_secret
from services.notify.channels import CHANNELS
from services.notify.channels.base import Channel, Outcome
from services.notify.policy import Policy
from services.notify.render import Renderer
from services.notify.stages.fall_back import FallBack
from services.notify.stages.hold import QuietHours
from services.notify.stages.plan import Plan
from services.notify.stages.rate_limit import RateLimiter
from services.notify.stages.record import Record, Settle
from services.notify.stages.render import NoteRenderer
from services.notify.stages.resolve import Resolver
from services.notify.stages.retry import Retry
from services.notify.stages.send import Ready, Sender
from services.notify.store import NotifyStore

log = logging.getLogger(__name__)


class Pipeline:
    """The stages composed over one store, the channels, the templates and an
    ``announce(doc, outcome, attempts)`` callback (``notification_delivered``)."""

    def __init__(
        self,
        store: NotifyStore,
        channels: dict[str, Channel],
        renderer: Renderer,
        announce: Callable[[dict, Outcome, int], None],
        policy: Policy | None = None,
        rng: Callable[[], float] = random.random,
    ):
        self.store = store
        self.channels = channels
        self.renderer = renderer
        self.announce = announce
        self.policy = policy or Policy()
        self.quiet_hours = QuietHours(self.policy.urgent_levels)
        self.plan = Plan(store, self.quiet_hours)
        self.resolver = Resolver(store, channels)
        self.rate_limiter = RateLimiter(store)
        self.note_renderer = NoteRenderer(renderer, store)
        self.sender = Sender()
        self.retry = Retry(self.policy, rng)
        self.fall_back = FallBack(self.policy.fallback, store, self.plan)

    # create -------------------------------------------------------------

    def request(self, request: dict, now: float, hold: bool = True) -> list[str]:
        """Create the deliveries a notification asks for, one at a time, for the sweep
        to send; returns the new ids. ``hold=False`` ignores quiet hours."""
        docs = self.plan.deliveries(request, now, hold)
        return [doc["_id"] for doc in docs if self.store.create_delivery(doc)]

    def deliver(self, request: dict, now: float, hold: bool = True) -> list[str]:
        """``deliver_many`` for one request."""
        return self.deliver_many([request], now, hold)

    def deliver_many(self, requests: list[dict], now: float, hold: bool = True) -> list[str]:
        """Create the deliveries the requests ask for (one ``insert_many``) and attempt
        the due ones at once, up to ``policy.concurrency`` at a time; returns the ids
        created. ``hold=False`` ignores quiet hours (test messages).

        A due delivery is created already leased to this worker (no claim round trip,
        and the sweep cannot take it in between); if the worker dies before settling
        it, the lease runs out and the sweep sends it. Held ones (quiet hours) wait for
        the sweep. One that exists already (a redelivered request) is left to its owner.
        """
        docs = [doc for request in requests for doc in self.plan.deliveries(request, now, hold)]
        due = [d["status"] == "scheduled" and d["next_attempt_at"] <= now for d in docs]
        stored = self.store.create_many(
            [(doc, now + self.policy.lease if soon else 0) for doc, soon in zip(docs, due, strict=True)]
        )
        self.attempt_many([s for s, soon in zip(stored, due, strict=True) if s is not None and soon], now)
        return [s["_id"] for s in stored if s is not None]

    # attempt ------------------------------------------------------------

    def run(self, now: float | None = None, ids: list[str] | None = None) -> int:
        """Attempt every due delivery (or just ``ids``); returns how many were tried."""
        tried = 0
        while tried < self.policy.batch and (ids is None or tried < len(ids)):
            moment = time.time() if now is None else now
            doc = self.store.claim_due(moment, self.policy.lease, ids)
            if doc is None:
                break
            self.attempt_many([doc], moment)
            tried += 1
        return tried

    def attempt_many(self, docs: list[dict], now: float) -> None:
        """Attempt leased deliveries: resolve each one's channel, recipient and address,
        take the rate tokens of all of them per destination, send up to
        ``policy.concurrency`` at once, and record the outcomes together."""
        record = Record(self.store, self.policy.lease, self.announce, every=max(1, self.policy.concurrency))
        ready = [one for doc in docs if (one := self._resolve(doc, now, record)) is not None]
        admission = self.rate_limiter.admit(ready, now)
        for waiting, until in admission.later:  # not a failure: no attempt counted
            record.add(Settle(waiting.doc, {"status": "scheduled", "next_attempt_at": until}))
        for settle in self._attempts(admission.go, now):
            if settle is not None:
                record.add(settle)
                self.fall_back.create(record.flush_if_due(), now)
        self.fall_back.create(record.flush(), now)

    def _resolve(self, doc: dict, now: float, record: Record) -> Ready | None:
        """``doc`` ready to send, or None when it cannot go (recorded as failed)."""
        attempt = doc["attempts"] + 1
        to = self.resolver.resolve(doc["recipient"], doc["channel"])
        if to.error is not None:
            record.add(self.retry.decide(doc, attempt, Outcome.failed(to.error), now))
            return None
        for secret in to.secrets:  # a traceback logged below must not show them either
            register_secret(secret)
        assert to.channel is not None and to.recipient is not None and to.destination is not None
        return Ready(doc, attempt, to.channel, to.recipient, to.destination, to.secrets)

    def _attempts(self, ready: list[Ready], now: float) -> Iterable[Settle | None]:
        """The settles of ``ready``'s attempts as they finish, several at once."""
        if len(ready) > 1:
            return eventlet.GreenPool(max(1, self.policy.concurrency)).imap(
                lambda one: self._attempt(one, now), ready
            )
        return (self._attempt(one, now) for one in ready)

    def _attempt(self, ready: Ready, now: float) -> Settle | None:
        """Render and send one delivery; what to record. None when it broke before
        reaching the channel (logged): its lease runs out and the sweep tries again."""
        try:
            note = self.note_renderer.render(ready.doc, ready.recipient, ready.channel).note
        except Exception:
            log.exception("rendering %s failed; the sweep retries when its lease expires", ready.doc["_id"])
            return None
        sent = self.sender.send(ready, note, now)
        return self.retry.decide(ready.doc, ready.attempt, sent.outcome, now, sent.seconds, sent.destination)


def default_channels(settings: dict) -> dict[str, Channel]:
    return {name: cls(settings) for name, cls in CHANNELS.items()}
