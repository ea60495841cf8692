"""The delivery pipeline: plan → hold (quiet hours) → schedule → claim → rate-limit
→ render → send → record → retry / fall back.

Every delivery is one document keyed by its idempotency key
(notification × channel × recipient). Nothing waits in memory or in the
broker: a transient failure sets ``next_attempt_at`` (epoch seconds) with
exponential backoff and full jitter, and a sweep (the service's @timer) claims
due deliveries atomically with a lease. A delivery that was sent successfully
is marked ``delivered`` under the lease and is never claimed again, so a restart
between attempts cannot send it twice. A batch of deliveries takes its send-rate
tokens with one store operation per destination and records its outcomes with one
``bulk_write`` (``Record``). (The one window left is a crash after
the vendor accepted a request and before the store recorded it; the lease then
expires and the message is resent. Email keeps its Message-ID and the generic
webhook its ``X-CX-Delivery-Id`` across resends so receivers can drop the copy;
IM robots offer no idempotency key.)
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import eventlet
from pymongo.errors import ConnectionFailure

from services.common.privacy import redact, register_secret
from services.notify.channels import CHANNELS
from services.notify.channels.base import Channel, Destination, NotConfigured, Note, Outcome
from services.notify.quiet import release_at
from services.notify.render import Rendered, Renderer, language_for
from services.notify.store import NotifyStore

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 0.5  # between attempts to record a sent message while the store is away


@dataclass(frozen=True)
class Policy:
    """Retry, fallback, lease and quiet-hours settings (configuration, not code)."""

    max_attempts: int = 5
    backoff_base: float = 5.0  # seconds; attempt n waits up to base * 2**(n-1)
    backoff_cap: float = 900.0
    lease: float = 60.0  # longer than one send can take (HTTP/SMTP timeouts are 10 s)
    fallback: dict | None = None  # channel -> fallback channel, e.g. {"wecom": "email"}
    urgent_levels: tuple[str, ...] = ("P1",)
    batch: int = 50  # deliveries one sweep handles at most
    concurrency: int = 10  # deliveries of one batch of requests attempted at once


def backoff(attempt: int, policy: Policy, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1)))."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * (2 ** max(attempt - 1, 0)))
    return rng() * ceiling


def delivery_key(notification_id: str, channel: str, recipient: dict) -> str:
    """One delivery = one notification × channel × recipient (the idempotency key)."""
    return f"{notification_id}|{channel}|{recipient['kind']}:{recipient['id']}"


class Pipeline:
    def __init__(
        self,
        store: NotifyStore,
        channels: dict[str, Channel],
        renderer: Renderer,
        announce: Callable[[dict, Outcome], None],
        policy: Policy | None = None,
        rng: Callable[[], float] = random.random,
    ):
        self.store = store
        self.channels = channels
        self.renderer = renderer
        self.announce = announce
        self.policy = policy or Policy()
        self.rng = rng

    # plan ---------------------------------------------------------------

    def targets(self, request: dict) -> list[tuple[dict, str]]:
        """(recipient ref, channel) pairs. A team with a group handle on an IM
        channel gets one message there (mentioning its members); otherwise each
        member is a target."""
        ref = request["recipient"]
        out: list[tuple[dict, str]] = []
        team = self.store.recipient("team", ref["id"]) if ref["kind"] == "team" else None
        for channel in request["channels"]:
            if team is not None and channel in (team.get("handles") or {}):
                out.append(({"kind": "team", "id": team["id"]}, channel))
                continue
            people = self.store.resolve(ref)
            if not people:
                out.append((ref, channel))  # fails as an unknown recipient, visibly
            out.extend(({"kind": "person", "id": p["id"]}, channel) for p in people)
        return out

    def request(self, request: dict, now: float, hold: bool = True) -> list[str]:
        """Create the deliveries a notification asks for; returns the new ids.
        ``hold=False`` ignores quiet hours (test messages an admin asked for)."""
        created = []
        for ref, channel in self.targets(request):
            delivery_id = delivery_key(request["notification_id"], channel, ref)
            doc = self._new(delivery_id, request, ref, channel, now)
            if not hold:
                doc.update(status="scheduled", next_attempt_at=now, held=False)
            if self.store.create_delivery(doc):
                created.append(delivery_id)
        return created

    def quiet_hold(self, level: str, recipient: dict, now: float) -> tuple[datetime | None, str | None]:
        """(when a message now in ``recipient``'s quiet hours is released, why it is not
        held): (release, None) when held, (None, reason) when an urgent level bypasses
        the quiet period, (None, None) outside quiet hours."""
        release = release_at(
            datetime.fromtimestamp(now, UTC),
            recipient.get("quiet_hours"),
            recipient.get("timezone") or "Asia/Shanghai",
        )
        if release is not None and level in self.policy.urgent_levels:
            return None, f"level {level} is urgent (NOTIFY_URGENT_LEVELS) and bypasses quiet hours"
        return release, None

    def _new(self, delivery_id: str, request: dict, ref: dict, channel: str, now: float, **extra) -> dict:
        status, due = "scheduled", now
        recipient = self.store.recipient(ref["kind"], ref["id"]) or {}
        release, _ = self.quiet_hold(request["level"], recipient, now)
        if release is not None:
            status, due = "held", release.timestamp()
        return {
            "_id": delivery_id,
            "notification_id": request["notification_id"],
            "kind": request["kind"],
            "level": request["level"],
            "case_id": request.get("case_id"),
            "channel": channel,
            "recipient": ref,
            "context": request["context"],
            "status": status,
            "next_attempt_at": due,
            "held": status == "held",
            **extra,
        }

    # run ----------------------------------------------------------------

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
        docs = []
        for request in requests:
            for ref, channel in self.targets(request):
                doc = self._new(
                    delivery_key(request["notification_id"], channel, ref), request, ref, channel, now
                )
                if not hold:
                    doc.update(status="scheduled", next_attempt_at=now, held=False)
                docs.append(doc)
        due = [d["status"] == "scheduled" and d["next_attempt_at"] <= now for d in docs]
        stored = self.store.create_many(
            [(doc, now + self.policy.lease if soon else 0) for doc, soon in zip(docs, due, strict=True)]
        )
        self.attempt_many([s for s, soon in zip(stored, due, strict=True) if s is not None and soon], now)
        return [s["_id"] for s in stored if s is not None]

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
        """Attempt leased deliveries: check each one's channel, recipient and address,
        take the rate tokens of all of them per destination, send up to
        ``policy.concurrency`` at once, and record the outcomes together (``Record``)."""
        record = Record(self, now)
        ready = [send for doc in docs if (send := self._prepare(doc, now, record)) is not None]
        ready = self._rate_limit(ready, now, record)
        if len(ready) > 1:
            outcomes = eventlet.GreenPool(max(1, self.policy.concurrency)).imap(
                lambda send: self._send(send, now), ready
            )
        else:
            outcomes = (self._send(send, now) for send in ready)
        for settle in outcomes:
            if settle is not None:
                record.add(settle)
                record.flush_if_due()
        record.flush()

    def _prepare(self, doc: dict, now: float, record: Record) -> Send | None:
        """``doc`` ready to send, or None when it cannot go (recorded as failed)."""
        channel = self.channels.get(doc["channel"])
        attempt = doc["attempts"] + 1
        if channel is None:
            failed = Outcome.failed(f"channel {doc['channel']} is not configured")
            record.add(self._settlement(doc, now, attempt, failed))
            return None
        try:
            recipient = self.store.recipient(doc["recipient"]["kind"], doc["recipient"]["id"])
            if recipient is None:
                raise NotConfigured(f"unknown recipient {doc['recipient']['kind']} {doc['recipient']['id']}")
            destination = self.destination(recipient, channel.name)
            channel.check(destination)
        except NotConfigured as exc:
            record.add(self._settlement(doc, now, attempt, Outcome.failed(str(exc))))
            return None
        # Channel.secrets; a stand-in channel without it has none to hide
        secrets = getattr(channel, "secrets", lambda destination: [])(destination)
        for secret in secrets:  # a traceback logged below must not show them either
            register_secret(secret)
        return Send(doc, attempt, channel, recipient, destination, secrets)

    def _rate_limit(self, ready: list[Send], now: float, record: Record) -> list[Send]:
        """The sends our own limits let go now. Tokens are taken per bucket (channel +
        destination, and its rate), one store operation for all of a bucket's sends;
        those over the limit come back after the wait: not a failure, no attempt counted."""
        buckets: dict[tuple[str, float, int], list[Send]] = {}
        for send in ready:
            rate = send.channel.rate_for(send.destination)
            if rate is not None:
                key = f"{send.channel.name}|{send.channel.destination_key(send.destination)}"
                buckets.setdefault((key, 60.0 / rate.per_minute, rate.burst), []).append(send)
        refused: set[int] = set()
        for (key, interval, burst), sends in buckets.items():
            granted, wait = self.store.take_tokens(key, len(sends), interval, burst, now)
            for send in sends[granted:]:  # the first ones in the batch's order go first
                refused.add(id(send))
                record.add(Settle(send.doc, {"status": "scheduled", "next_attempt_at": now + wait}))
        return [send for send in ready if id(send) not in refused]

    def _send(self, send: Send, now: float) -> Settle | None:
        """Render and send one delivery; what to record. None when it broke before
        reaching the channel (logged): its lease runs out and the sweep tries again."""
        doc, channel = send.doc, send.channel
        try:
            note = self.note(doc, send.recipient, channel)
        except Exception:
            log.exception("rendering %s failed; the sweep tries again when its lease expires", doc["_id"])
            return None
        started = time.monotonic()
        try:
            outcome = channel.deliver(note, send.destination, now)
        except Exception as exc:  # a bug in a channel: counted, bounded by max_attempts, then fallback
            log.exception("channel %s raised on %s", channel.name, doc["_id"])
            outcome = Outcome.retry(f"internal error: {type(exc).__name__}: {exc}")
        # vendors echo URLs and tokens in their answers; requests' errors quote the URL
        outcome = replace(
            outcome,
            error=redact(outcome.error, send.secrets),
            detail=redact(outcome.detail, send.secrets),
        )
        seconds = time.monotonic() - started
        return self._settlement(doc, now, send.attempt, outcome, seconds, send.destination, channel)

    def preview(self, kind: str, channel: Channel, language: str, context: dict, recipient: dict) -> dict:
        """Render ``context`` as ``recipient`` would get it on ``channel`` (nothing is sent)."""
        doc = {"_id": "preview", "kind": kind, "level": context.get("level", "P4"), "context": context}
        note = self.note(doc, {**recipient, "language": language}, channel, count=False)
        destination = self.destination({"kind": "person", **recipient}, channel.name)
        return {
            "title": note.title,
            "body": note.body,
            "text": note.text,
            "html": note.html,
            "payload": channel.preview(note, destination),
        }

    def note(self, doc: dict, recipient: dict, channel: Channel, count: bool = True) -> Note:
        """Render ``doc`` for ``recipient`` in their language and the channel's dialect."""
        return self.rendered_note(doc, recipient, channel, count)[0]

    def rendered_note(
        self, doc: dict, recipient: dict, channel: Channel, count: bool = True
    ) -> tuple[Note, Rendered]:
        """``note`` and the rendering it came from (template name, render error)."""
        language = language_for(recipient.get("language"))
        who = {"id": recipient["id"], "name": recipient.get("name"), "timezone": recipient.get("timezone")}
        rendered = self.renderer.render(
            doc["kind"], channel.name, language, doc["context"], who, channel.template_format
        )
        if rendered.fallback and count:
            self.store.count("template_fallbacks")
        note = Note(
            delivery_id=doc["_id"],
            kind=doc["kind"],
            level=doc["level"],
            language=language,
            title=rendered.subject,
            body=rendered.body,
            text=rendered.text,
            html=rendered.html,
            url=doc["context"].get("case_url"),
            case_id=doc.get("case_id"),
            facts=doc["context"],
        )
        return note, rendered

    def destination(self, recipient: dict, channel: str) -> Destination:
        """A recipient's address on ``channel``. A person without their own webhook
        uses the robot of the first team they belong to that has one."""
        handle = dict((recipient.get("handles") or {}).get(channel) or {})
        members = [recipient]
        if recipient["kind"] == "team":
            members = self.store.resolve({"kind": "team", "id": recipient["id"]})
        elif not handle.get("webhook") and channel != "email":
            for team in self.store.teams_of(recipient["id"]):
                team_handle = (team.get("handles") or {}).get(channel)
                if team_handle:
                    handle = {**team_handle, **handle}
                    break
        user_ids, mobiles = [], []
        mention_field = getattr(self.channels.get(channel), "mention_field", "user_id")
        for person in members:
            own = (person.get("handles") or {}).get(channel) or {}
            for key, bucket in ((mention_field, user_ids), ("mobile", mobiles)):
                if own.get(key):
                    bucket.append(own[key])
        email = recipient.get("email") if recipient["kind"] == "person" else None
        return Destination(handle, tuple(user_ids), tuple(mobiles), email)

    def _settlement(
        self,
        doc: dict,
        now: float,
        attempt: int,
        outcome: Outcome,
        seconds: float = 0.0,
        destination: Destination | None = None,
        channel: Channel | None = None,
    ) -> Settle:
        """What to record for attempt ``attempt`` of ``doc`` and what follows once it
        is recorded: delivered is announced; a retry is scheduled with backoff while
        attempts remain; anything else fails for good (counted, announced, fallen back)."""
        entry = {
            "delivery_id": doc["_id"],
            "attempt": attempt,
            "channel": doc["channel"],
            "recipient": doc["recipient"],
            "destination": mask(channel.destination_key(destination)) if channel and destination else None,
            "status": outcome.status,
            "error": outcome.error,
            "http_status": outcome.http_status,
            "retry_after": outcome.retry_after,
            "started_at": now,
            "seconds": round(seconds, 4),
        }
        base = {"attempts": attempt, "last_error": outcome.error}
        if outcome.status == "delivered":
            update = {**base, "status": "delivered", "message_id": outcome.detail}
            return Settle(doc, update, entry, announce=outcome, attempt=attempt)
        if outcome.status == "retry" and attempt < self.policy.max_attempts:
            delay = max(backoff(attempt, self.policy, self.rng), outcome.retry_after or 0.0)
            return Settle(doc, {**base, "status": "scheduled", "next_attempt_at": now + delay}, entry)
        error = (
            outcome.error
            if outcome.status == "failed"
            else f"gave up after {attempt} attempts: {outcome.error}"
        )
        return Settle(
            doc,
            {**base, "status": "failed", "last_error": error},
            entry,
            announce=Outcome.failed(error, outcome.http_status),
            attempt=attempt,
            counter="permanent_failures" if outcome.status == "failed" else "retries_exhausted",
        )

    def _fall_back(self, failed: list[dict], now: float) -> None:
        """Create the fallback deliveries of deliveries that failed for good (policy
        ``fallback``), due now and not held again, with three store commands for the lot:
        the failed ones as stored now (an erasure may have scrubbed their context since
        their attempt began) and the notification's own deliveries on the fallback
        channel are read in one ``find``, the new ones inserted with one ``insert_many``."""
        wanted = []
        for doc in failed:
            target = (self.policy.fallback or {}).get(doc["channel"])
            if not target or doc.get("fallback_of") or target == doc["channel"]:
                continue
            # Fall back to the people: a team's group robot failing means mailing its members.
            refs = [doc["recipient"]]
            if doc["recipient"]["kind"] == "team" and target == "email":
                refs = [{"kind": "person", "id": p["id"]} for p in self.store.resolve(doc["recipient"])]
            wanted += [(doc, target, ref) for ref in refs]
        if not wanted:
            return
        known = self.store.get_deliveries(
            [doc["_id"] for doc, _, _ in wanted]
            + [delivery_key(doc["notification_id"], target, ref) for doc, target, ref in wanted]
        )
        fresh = []
        for doc, target, ref in wanted:
            if delivery_key(doc["notification_id"], target, ref) in known:
                continue  # the notification already goes to them on that channel
            stored = known.get(doc["_id"], doc)
            request = {k: stored[k] for k in ("notification_id", "kind", "level", "case_id", "context")}
            delivery_id = f"{doc['_id']}|fallback:{target}:{ref['kind']}:{ref['id']}"
            one = self._new(delivery_id, request, ref, target, now, fallback_of=doc["_id"])
            one.update(status="scheduled", next_attempt_at=now, held=False)  # already due; do not hold again
            fresh.append((one, 0))
        created = sum(1 for one in self.store.create_many(fresh) if one is not None)
        if created:
            self.store.count("fallbacks", created)


@dataclass
class Send:
    """A leased delivery cleared to go: where, how, and the secrets its errors must not show."""

    doc: dict
    attempt: int
    channel: Channel
    recipient: dict
    destination: Destination
    secrets: list[str]


@dataclass
class Settle:
    """One update of a leased delivery, applied only while the lease holds, and what
    follows when it applied: an announcement, and for a delivery that failed for good
    a counter and its fallback."""

    doc: dict
    update: dict
    entry: dict | None = None  # the attempt log entry (none when our own rate limit deferred it)
    announce: Outcome | None = None
    attempt: int = 0
    counter: str | None = None
    queued: float = field(default_factory=time.monotonic)


class Record:
    """The record stage of one batch: its settles go to the store together, in one
    ``bulk_write`` conditional on each lease (``NotifyStore.settle_many``), then the
    ones that applied are announced, counted (one update per counter) and fallen back.

    A settle waits at most a quarter lease for company: in a long batch (slow
    vendors) the sends done so far are recorded before their leases could run out and
    the sweep send them again. A store outage while recording is waited out (up to
    half the lease) rather than given up: a message the vendor accepted and we failed
    to record is sent again when its lease expires.
    """

    def __init__(self, pipeline: Pipeline, now: float):
        self.pipeline = pipeline
        self.now = now
        self.pending: list[Settle] = []

    def add(self, settle: Settle) -> None:
        self.pending.append(settle)

    def flush_if_due(self) -> None:
        if self.pending and time.monotonic() - self.pending[0].queued >= self.pipeline.policy.lease / 4:
            self.flush()

    def flush(self) -> None:
        settles, self.pending = self.pending, []
        if not settles:
            return
        pipeline, counts, failed = self.pipeline, Counter(), []
        for settle, held in zip(settles, self._settle(settles), strict=True):
            if not held:  # another worker took it over (our lease ran out): theirs to report
                continue
            if settle.announce is not None:
                pipeline.announce(settle.doc, settle.announce, settle.attempt)
            if settle.counter is not None:
                counts[settle.counter] += 1
                failed.append(settle.doc)
        for name, n in counts.items():
            pipeline.store.count(name, n)
        pipeline._fall_back(failed, self.now)

    def _settle(self, settles: list[Settle]) -> list[bool]:
        items = [(s.doc, s.update, s.entry) for s in settles]
        deadline = time.monotonic() + self.pipeline.policy.lease / 2
        while True:
            try:
                return self.pipeline.store.settle_many(items)
            except ConnectionFailure as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning("store unavailable while recording %d deliveries (%s); retrying", len(items), exc)
                time.sleep(STORE_RETRY_SECONDS)


def mask(value: str) -> str:
    """A destination for the log without its secret parts: an address's domain, a
    webhook URL's scheme and host (Slack, Feishu and Teams put the token in the path)."""
    if "@" in value and "/" not in value:
        name, _, domain = value.partition("@")
        return f"{name[:2]}***@{domain}"
    try:
        parts = urlsplit(value)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}{port}/…"
    return value[:8] + "…"


def default_channels(settings: dict) -> dict[str, Channel]:
    return {name: cls(settings) for name, cls in CHANNELS.items()}
